"""Types shared by the per-kind canonicalisers."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "LEVEL_EXACT",
    "LEVEL_IP4_24",
    "LEVEL_IP6_64",
    "LEVEL_IP6_48",
    "LEVELS",
    "NOTE_HOST_BITS_MASKED",
    "MatchItem",
    "Canonical",
]

# What a match on an item means, finest first. Only IP cells are coarser
# than exact: "same /24" is not "same address" (protocol.md 7).
LEVEL_EXACT = "exact"
LEVEL_IP4_24 = "ip4/24"
LEVEL_IP6_64 = "ip6/64"
LEVEL_IP6_48 = "ip6/48"
LEVELS = (LEVEL_EXACT, LEVEL_IP4_24, LEVEL_IP6_64, LEVEL_IP6_48)

# Notes: things canonicalisation did that a summary should count.
NOTE_HOST_BITS_MASKED = "host-bits-masked"


@dataclass(frozen=True)
class MatchItem:
    """One thing to match on. ``message`` is identifying: never log it."""

    kind: str
    message: bytes
    level: str

    def __repr__(self) -> str:
        return f"MatchItem(kind={self.kind!r}, level={self.level!r})"


@dataclass(frozen=True)
class Canonical:
    """A value's canonical text, its match items and any notes.

    ``text`` is identifying: never log it. ``notes`` are stable codes
    such as :data:`NOTE_HOST_BITS_MASKED`.
    """

    text: str
    items: tuple[MatchItem, ...]
    notes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        kinds = tuple(item.kind for item in self.items)
        return f"Canonical(kinds={kinds!r}, notes={self.notes!r})"
