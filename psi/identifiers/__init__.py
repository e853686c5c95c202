"""Canonicalisation of identifiers, one module per input kind.

A lab writes values under an *input kind* (``ip``, ``domain``, ...).
Each value becomes zero or more :class:`MatchItem`: a *match kind* code
(``ip4.addr.c1``: family, shape, canonicalisation version) and the typed,
length-prefixed message that is hashed to the group. Two labs match on an
item only when both its kind and its message are equal, so values of
different kinds can never collide.

Refusals raise :class:`~labmatch.psi.errors.IdentifierRefused` with a
stable reason code. Neither the code nor the message carries the value.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType

from ..errors import IdentifierRefused
from . import domain, ip, wallet

__all__ = [
    "MatchItem",
    "INPUT_KINDS",
    "MAX_VALUE_CHARS",
    "LEVEL_EXACT",
    "match_kinds",
    "canonicalise",
    "canonical_text",
]

MAX_VALUE_CHARS = 1024
LEVEL_EXACT = "exact"

_MODULES: dict[str, ModuleType] = {
    "ip": ip,
    "domain": domain,
    "wallet": wallet,
}
INPUT_KINDS: tuple[str, ...] = tuple(_MODULES)


@dataclass(frozen=True)
class MatchItem:
    """One thing to match on. ``message`` is identifying: never log it."""

    kind: str
    message: bytes
    level: str

    def __repr__(self) -> str:
        return f"MatchItem(kind={self.kind!r}, level={self.level!r})"


def match_kinds(input_kinds: Iterable[str]) -> tuple[str, ...]:
    """The match kind codes the given input kinds emit, sorted."""
    kinds: set[str] = set()
    for input_kind in input_kinds:
        kinds.update(_module(input_kind).KINDS)

    return tuple(sorted(kinds))


def canonicalise(input_kind: str, value: str) -> tuple[MatchItem, ...]:
    """The match items of ``value`` read as ``input_kind`` (any case).

    Raises :class:`IdentifierRefused` when the value has no canonical
    form.
    """
    module = _module(input_kind)
    parts = module.match_parts(_prepared(value))

    return tuple(MatchItem(kind, message, LEVEL_EXACT)
                 for kind, message in parts)


def canonical_text(input_kind: str, value: str) -> str:
    """The canonical text of ``value``: canonicalising it again gives the
    same items."""
    module = _module(input_kind)

    return module.canonical_text(_prepared(value))


def _module(input_kind: str) -> ModuleType:
    module = _MODULES.get(input_kind.strip().lower())
    if module is None:
        raise IdentifierRefused("kind-not-supported", "kind not supported yet")

    return module


def _prepared(value: str) -> str:
    if len(value) > MAX_VALUE_CHARS:
        raise IdentifierRefused(
            "value-too-long",
            f"value longer than {MAX_VALUE_CHARS} characters")

    stripped = value.strip()
    if not stripped:
        raise IdentifierRefused("empty-value", "empty value")

    return stripped
