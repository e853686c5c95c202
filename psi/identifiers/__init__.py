"""Canonicalisation of identifiers, one module per input kind.

A lab writes values under an *input kind* (``ip``, ``cidr``, ``domain``,
...). Each value becomes one or more :class:`MatchItem`: a *match kind*
code (``ip4.addr.c1``: family, shape, canonicalisation version), the
typed, length-prefixed message that is hashed to the group, and the
*level* a match on it means (``exact``, or an IP cell such as
``ip4/24``). Two labs match on an item only when both its kind and its
message are equal, so values of different kinds never collide, and a
rule change (a new ``cN``) never silently matches old tokens.

Refusals raise :class:`~labmatch.psi.errors.IdentifierRefused` with a
stable reason code. Neither the code nor the message carries the value.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import IdentifierRefused
from . import card, cidr, domain, email, ip, org, wallet
from ._common import (
    LEVEL_EXACT,
    LEVEL_IP4_24,
    LEVEL_IP6_48,
    LEVEL_IP6_64,
    LEVELS,
    NOTE_HOST_BITS_MASKED,
    Canonical,
    MatchItem,
)

__all__ = [
    "MatchItem",
    "Canonical",
    "INPUT_KINDS",
    "REDACTED_INPUT_KINDS",
    "MAX_VALUE_CHARS",
    "LEVEL_EXACT",
    "LEVEL_IP4_24",
    "LEVEL_IP6_64",
    "LEVEL_IP6_48",
    "LEVELS",
    "NOTE_HOST_BITS_MASKED",
    "match_kinds",
    "canonicalise",
    "canonical_form",
    "canonical_text",
    "cidr_host_bits_set",
]

MAX_VALUE_CHARS = 1024


@dataclass(frozen=True)
class _Rule:
    kinds: tuple[str, ...]
    canonical: Callable[[str], Canonical]


_RULES: dict[str, _Rule] = {
    "ip": _Rule(ip.KINDS, ip.canonical),
    "cidr": _Rule(cidr.KINDS, cidr.canonical),
    "domain": _Rule(domain.KINDS, domain.canonical),
    "email": _Rule(email.KINDS, email.canonical),
    "org": _Rule(org.KINDS, org.canonical),
    "card": _Rule(card.FP_KINDS, card.fingerprint_canonical),
    "card-pan": _Rule(card.PAN_KINDS, card.pan_canonical),
    "wallet": _Rule(wallet.KINDS, wallet.canonical),
}
INPUT_KINDS: tuple[str, ...] = tuple(_RULES)

# Input kinds whose values must never be written out, not even in the
# lab's own output: the value is a card number.
REDACTED_INPUT_KINDS = frozenset({"card-pan"})


def match_kinds(input_kinds: Iterable[str]) -> tuple[str, ...]:
    """The match kind codes the given input kinds emit, sorted."""
    kinds: set[str] = set()
    for input_kind in input_kinds:
        kinds.update(_rule(input_kind).kinds)

    return tuple(sorted(kinds))


def canonical_form(input_kind: str, value: str) -> Canonical:
    """Canonical text, match items and notes of ``value`` read as
    ``input_kind`` (any case).

    Raises :class:`IdentifierRefused` when the value has no canonical
    form.
    """
    rule = _rule(input_kind)

    return rule.canonical(_prepared(value))


def canonicalise(input_kind: str, value: str) -> tuple[MatchItem, ...]:
    """The match items of ``value`` read as ``input_kind`` (any case)."""
    return canonical_form(input_kind, value).items


def canonical_text(input_kind: str, value: str) -> str:
    """The canonical text of ``value``: canonicalising it again gives the
    same items."""
    return canonical_form(input_kind, value).text


def cidr_host_bits_set(value: str) -> bool:
    """Whether a ``cidr`` value has host bits set, which canonicalisation
    masks (and counts) rather than refuses."""
    return cidr.host_bits_set(_prepared(value))


def _rule(input_kind: str) -> _Rule:
    rule = _RULES.get(input_kind.strip().lower())
    if rule is None:
        raise IdentifierRefused("kind-not-supported", "kind not supported yet")

    return rule


def _prepared(value: str) -> str:
    if len(value) > MAX_VALUE_CHARS:
        raise IdentifierRefused(
            "value-too-long",
            f"value longer than {MAX_VALUE_CHARS} characters")
    if any("\ud800" <= c <= "\udfff" for c in value):
        raise IdentifierRefused(
            "invalid-text", "value holds a lone surrogate, not Unicode text")

    stripped = value.strip()
    if not stripped:
        raise IdentifierRefused("empty-value", "empty value")

    return stripped
