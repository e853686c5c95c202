"""Exceptions of the cryptographic core.

One root, a few families. Messages name the object that failed (a file,
a line, a peer, a chunk) and never carry an identifier, a hash of one, a
blinded point, a token or a key. Cryptographic checks fail opaquely: the
caller learns that verification failed, not which check.
"""
from __future__ import annotations

__all__ = [
    "LabmatchError",
    "InvalidElement",
    "SealError",
    "BadSignature",
    "IdentifierRefused",
    "ConsortiumError",
]


class LabmatchError(Exception):
    """Root of every error labmatch raises on purpose."""


class InvalidElement(LabmatchError, ValueError):
    """A received group element failed validation (length, encoding,
    identity, duplicate or order). Deliberately says no more."""


class SealError(LabmatchError):
    """A sealed token list did not open: wrong key, tampering, truncation
    or a header that does not match. Deliberately says no more."""


class BadSignature(LabmatchError):
    """A signature or signed header did not verify. Says no more."""


class IdentifierRefused(LabmatchError, ValueError):
    """An input value has no canonical form under the current rules.

    ``reason`` is a short stable code (``reserved-range``, ``invalid-ip``,
    ...) suitable for counting in a summary; the message explains it in
    words. Neither contains the value.
    """

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason)
        self.reason = reason


class ConsortiumError(LabmatchError, ValueError):
    """The consortium definition is malformed or inconsistent."""
