"""Pair-labelled tokens: what an evaluator returns instead of raw points.

``τ = Trunc16(SHA-512(DST_tok ‖ consortium ‖ pair(A, B) ‖ epoch ‖ kind ‖ D))``
with every field length-prefixed. The pair label is the two certificate
names, sorted and length-prefixed, so it is the same from either side and
no two different pairs share it. A token cannot be un-blinded, and tokens
of pair (A, B) never compare with tokens of pair (B, C): this is what
defeats the relay attack of protocol.md 2.4.
"""
from __future__ import annotations

import hashlib

from .encoding import lp

__all__ = ["TOKEN_BYTES", "pair_label", "TokenLabel"]

TOKEN_BYTES = 16
TOKEN_DST = b"LABMATCH-V1-CS01-TOKEN"


def pair_label(lab_a: str, lab_b: str) -> bytes:
    """Order-independent, unambiguous label of a pair of distinct labs."""
    if lab_a == lab_b:
        raise ValueError("a pair needs two different labs")
    first, second = sorted((lab_a, lab_b))

    return lp(first.encode()) + lp(second.encode())


class TokenLabel:
    """Finalises double-blinded elements of one (pair, epoch, kind)."""

    __slots__ = ("_prefix", "kind")

    def __init__(self, *, consortium_id: str, lab_a: str, lab_b: str,
                 epoch: str, kind: str) -> None:
        self.kind = kind
        self._prefix = (lp(TOKEN_DST) + lp(consortium_id.encode())
                        + pair_label(lab_a, lab_b) + lp(epoch.encode())
                        + lp(kind.encode()))

    def token(self, element: bytes) -> bytes:
        digest = hashlib.sha512(self._prefix + element).digest()

        return digest[:TOKEN_BYTES]

    def __repr__(self) -> str:
        return f"TokenLabel(kind={self.kind!r})"
