"""Padding uploads to size classes, so exact set sizes stay hidden.

A set of ``n`` items is padded to the smallest size class at least
``max(n, MIN_PADDED)``; the classes are ``m · 2^j`` for m in {4, 5, 6, 7}
(that is 2^j · {1, 1.25, 1.5, 1.75}), so padding costs at most 25 %.

Padding elements are derived from the lab's seed, deterministically per
(consortium, lab, epoch, kind, index), through the RFC 9496 element
derivation: nobody knows their discrete logarithm, they look like any
blinded item, and recomputing an upload gives the same bytes. Their
evaluations never match anything a peer holds (that would need a
collision in the group).
"""
from __future__ import annotations

import hashlib
import hmac

from . import group
from .encoding import lp, u64

__all__ = ["MIN_PADDED", "padded_size", "padding_elements"]

MIN_PADDED = 16
PAD_LABEL = b"LABMATCH-V1-CS01-PADDING"


def padded_size(n: int) -> int:
    """The size class for ``n`` items."""
    if n < 0:
        raise ValueError("a set size is not negative")
    target = max(n, MIN_PADDED)
    j = max(0, target.bit_length() - 3)
    while True:
        for m in (4, 5, 6, 7):
            if m << j >= target:
                return m << j
        j += 1


def padding_elements(seed: bytes, *, consortium_id: str, lab: str,
                     epoch: str, kind: str, count: int) -> list[bytes]:
    """``count`` padding elements for one (lab, epoch, kind)."""
    prefix = lp(PAD_LABEL) + b"".join(
        lp(part.encode()) for part in (consortium_id, lab, epoch, kind))

    return [
        group.element_from_uniform(
            hmac.new(seed, prefix + u64(i), hashlib.sha512).digest())
        for i in range(count)
    ]
