"""A lab's secret blinding scalars: one per (lab, epoch, kind).

Each scalar is derived from the lab's 32-byte seed with HMAC-SHA512 over a
labelled, length-prefixed encoding of (consortium, lab, epoch, kind) and
reduced mod the group order. The seed never leaves the lab; neither does
any scalar. This version derives from one long-lived seed: deleting past
epochs' keys by ratcheting the seed comes with the key-commitment work
(see README, Limits).
"""
from __future__ import annotations

import hashlib
import hmac
import os

from . import group
from .encoding import lp

__all__ = ["SEED_BYTES", "new_seed", "EpochKey"]

SEED_BYTES = 32
KEY_LABEL = b"LABMATCH-V1-CS01-EPOCH-KEY"


def new_seed() -> bytes:
    """32 bytes from the operating system's CSPRNG."""
    return os.urandom(SEED_BYTES)


class EpochKey:
    """The secret scalar of one lab for one (epoch, kind).

    Its repr names the key but never shows it.
    """

    __slots__ = ("_scalar", "lab", "epoch", "kind")

    def __init__(self, scalar: bytes, *, lab: str, epoch: str, kind: str):
        if len(scalar) != group.SCALAR_BYTES:
            raise ValueError("a scalar is 32 bytes")
        self._scalar = scalar
        self.lab, self.epoch, self.kind = lab, epoch, kind

    @classmethod
    def derive(cls, seed: bytes, *, consortium_id: str, lab: str,
               epoch: str, kind: str) -> EpochKey:
        if len(seed) != SEED_BYTES:
            raise ValueError(f"a seed is {SEED_BYTES} bytes")
        info = b"".join(lp(part.encode()) for part in
                        (consortium_id, lab, epoch, kind))
        wide = hmac.new(seed, lp(KEY_LABEL) + info, hashlib.sha512).digest()

        return cls(group.scalar_from_wide(wide), lab=lab, epoch=epoch,
                   kind=kind)

    def multiply(self, element: bytes) -> bytes:
        """``k · element`` for an element that has been validated."""
        return group.scalarmult(self._scalar, element)

    def public_key(self) -> bytes:
        """``k · G``, safe to publish."""
        return group.scalarmult_base(self._scalar)

    def __repr__(self) -> str:
        return (f"EpochKey(lab={self.lab!r}, epoch={self.epoch!r}, "
                f"kind={self.kind!r})")
