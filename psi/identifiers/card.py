"""Payment cards (input kinds ``card`` and ``card-pan``).

``card`` is a processor's card fingerprint: an opaque token the
processor derives from the card number, the same for one card across
that processor's merchants. Canonical form: the token with whitespace
and the separators ``-``, ``_``, ``:`` and ``.`` removed, **case
preserved**: processors write fingerprints in base62 or base64, where
``a`` and ``A`` are different digits, so folding case would merge
different cards. (A processor writes its own hex fingerprints in one
case, and fingerprints only ever match within one processor.) Removing
separators lets grouped or pasted tokens match; the price, accepted, is
that tokens differing only in separators are one item. After removal
the token must be 8 to 128 printable ASCII characters, else
``invalid-card``. A token that is all digits and passes the Luhn check
looks like a card number put in the wrong column: it is refused as
``looks-like-pan`` rather than matched, and later written out, in the
clear.

``card-pan`` is a primary account number, matched under ``card.pan.c1``
(protocol.md 8: the lab hashes the full PAN inside its PCI scope; only
the blinded point leaves). Canonical form: ASCII digits only, after
removing spaces and dashes; 12 to 19 digits with a valid Luhn check
digit, else ``invalid-pan``. Refusal messages never hold a digit. The
canonical text is the PAN itself: it belongs in no log and no output,
which :data:`~labmatch.psi.identifiers.REDACTED_INPUT_KINDS` records.
"""
from __future__ import annotations

from typing import NoReturn

from ..encoding import text_message
from ..errors import IdentifierRefused
from ._common import LEVEL_EXACT, Canonical, MatchItem

__all__ = ["KIND_FP", "KIND_PAN", "FP_KINDS", "PAN_KINDS",
           "fingerprint_canonical", "pan_canonical", "luhn_valid"]

KIND_FP = "card.fp.c1"
KIND_PAN = "card.pan.c1"
FP_KINDS = (KIND_FP,)
PAN_KINDS = (KIND_PAN,)

FP_MIN_CHARS = 8
FP_MAX_CHARS = 128
PAN_MIN_DIGITS = 12
PAN_MAX_DIGITS = 19

_FP_SEPARATORS = frozenset("-_:.")
_PAN_SEPARATORS = frozenset(" -")
_ASCII_DIGITS = frozenset("0123456789")


def fingerprint_canonical(value: str) -> Canonical:
    """Canonical text and item of a fingerprint (already stripped)."""
    token = "".join(c for c in value
                    if not c.isspace() and c not in _FP_SEPARATORS)
    if not FP_MIN_CHARS <= len(token) <= FP_MAX_CHARS:
        raise IdentifierRefused(
            "invalid-card", "a card fingerprint needs 8 to 128 characters")
    if not all("!" <= c <= "~" for c in token):
        raise IdentifierRefused(
            "invalid-card", "a card fingerprint is printable ASCII")
    if _looks_like_pan(token):
        raise IdentifierRefused(
            "looks-like-pan",
            "looks like a card number: use the card-pan kind")

    return Canonical(token, (_item(KIND_FP, token),))


def pan_canonical(value: str) -> Canonical:
    """Canonical text and item of a PAN (already stripped)."""
    digits = "".join(c for c in value if c not in _PAN_SEPARATORS)
    if not _ASCII_DIGITS.issuperset(digits):
        _refuse_pan("a card number holds only digits, spaces and dashes")
    if not PAN_MIN_DIGITS <= len(digits) <= PAN_MAX_DIGITS:
        _refuse_pan("a card number has twelve to nineteen digits")
    if not luhn_valid(digits):
        _refuse_pan("card number fails its check digit")

    return Canonical(digits, (_item(KIND_PAN, digits),))


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check over a string of ASCII digits."""
    total = 0
    for position, c in enumerate(reversed(digits)):
        n = int(c) * (2 if position % 2 else 1)
        total += n - 9 if n > 9 else n

    return total % 10 == 0


def _looks_like_pan(token: str) -> bool:
    if not _ASCII_DIGITS.issuperset(token):
        return False

    return (PAN_MIN_DIGITS <= len(token) <= PAN_MAX_DIGITS
            and luhn_valid(token))


def _refuse_pan(message: str) -> NoReturn:
    raise IdentifierRefused("invalid-pan", message)


def _item(kind: str, text: str) -> MatchItem:
    return MatchItem(kind, text_message(text), LEVEL_EXACT)
