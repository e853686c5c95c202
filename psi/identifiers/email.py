"""E-mail addresses (input kind ``email``).

Canonical form: ``local@domain``, where

* the domain follows the ``domain`` kind exactly: IDNA 2008 with the
  UTS-46 mapping, lower-case A-labels, no trailing root dot;
* the local part is kept as given, case included: only the receiving
  host may say whether ``Bob`` and ``bob`` are one mailbox. It is put
  in Unicode NFC, which RFC 6532 asks of internationalised addresses and
  which changes no ASCII address. It must be 1 to 64 octets of UTF-8
  and hold no whitespace, control or invisible format character.

Exactly one ``@`` is allowed, so quoted local parts that contain one
(rare, and never seen in the lists labs hold) are refused. Provider
rules such as plus-tags or Gmail dots belong to a separate, normalised
kind; this one matches the address as written.

Refused as ``invalid-email`` (shape or local part) or
``invalid-email-domain`` (the part after the ``@``).
"""
from __future__ import annotations

import unicodedata

from ..encoding import text_message
from ..errors import IdentifierRefused
from . import domain
from ._common import LEVEL_EXACT, Canonical, MatchItem

__all__ = ["KIND", "KINDS", "MAX_LOCAL_OCTETS", "canonical",
           "canonical_text"]

KIND = "email.addr.c1"
KINDS = (KIND,)
MAX_LOCAL_OCTETS = 64

# Unicode categories refused in a local part: separators (spaces, line
# and paragraph separators), controls, invisible format characters,
# surrogates and private use. Unassigned code points are let through:
# refusing them would make the rule move with the Unicode version.
_REFUSED_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"})


def canonical(value: str) -> Canonical:
    """Canonical text and item of ``value`` (already stripped)."""
    text = canonical_text(value)

    return Canonical(text, (MatchItem(KIND, text_message(text),
                                      LEVEL_EXACT),))


def canonical_text(value: str) -> str:
    """The canonical address, or raise :class:`IdentifierRefused`."""
    if value.count("@") != 1:
        raise IdentifierRefused(
            "invalid-email", "an e-mail address needs exactly one '@'")

    local, _, host = value.partition("@")

    return f"{_local_part(local)}@{_domain(host)}"


def _local_part(local: str) -> str:
    local = unicodedata.normalize("NFC", local)
    if not local:
        raise IdentifierRefused("invalid-email", "empty local part")
    if len(local.encode("utf-8")) > MAX_LOCAL_OCTETS:
        raise IdentifierRefused(
            "invalid-email", "local part longer than 64 octets")
    if any(_refused_char(c) for c in local):
        raise IdentifierRefused(
            "invalid-email",
            "local part holds whitespace, a control or an invisible "
            "character")

    return local


def _refused_char(c: str) -> bool:
    return c.isspace() or unicodedata.category(c) in _REFUSED_CATEGORIES


def _domain(host: str) -> str:
    try:
        return domain.canonical_text(host)
    except IdentifierRefused:
        pass
    raise IdentifierRefused(
        "invalid-email-domain", "the part after '@' is not a valid domain")
