"""Domain names (input kind ``domain``).

Canonical form: the ASCII (A-label) form under IDNA 2008 with the UTS-46
mapping (non-transitional), lower case, without the trailing root dot.
So ``Example.COM.`` and ``example.com`` are one item, and ``bücher.example``
is ``xn--bcher-kva.example``.

A name needs at least two labels, and its last label may not be all
digits (that is an IPv4 address, not a name). Matching on a registrable
parent domain is a separate kind; here only the exact name matches.
"""
from __future__ import annotations

import idna

from ..encoding import text_message
from ..errors import IdentifierRefused
from ._common import LEVEL_EXACT, Canonical, MatchItem

__all__ = ["KIND", "KINDS", "canonical", "canonical_text"]

KIND = "domain.name.c1"
KINDS = (KIND,)


def canonical_text(value: str) -> str:
    """The canonical name for ``value`` (already stripped), or raise
    :class:`IdentifierRefused`."""
    name = value[:-1] if value.endswith(".") else value
    labels = _a_labels(name)
    if len(labels) < 2:
        raise IdentifierRefused(
            "invalid-domain", "a domain needs at least two labels")
    if labels[-1].isdigit():
        raise IdentifierRefused(
            "invalid-domain", "the last label of a domain is all digits")

    return ".".join(labels)


def canonical(value: str) -> Canonical:
    """Canonical text and item of ``value`` (already stripped)."""
    text = canonical_text(value)

    return Canonical(text, (MatchItem(KIND, text_message(text),
                                      LEVEL_EXACT),))


def _a_labels(name: str) -> list[str]:
    try:
        encoded = idna.encode(name, uts46=True)
    except (idna.IDNAError, UnicodeError, ValueError):
        raise IdentifierRefused(
            "invalid-domain", "not a valid domain name") from None

    labels = encoded.decode("ascii").lower().split(".")
    if not all(labels):
        raise IdentifierRefused(
            "invalid-domain", "a domain label is empty")

    return labels
