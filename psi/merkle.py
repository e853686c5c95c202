"""SHA-256 Merkle trees over chunk digests, RFC 6962 style.

Leaves are hashed with a 0x00 prefix and inner nodes with 0x01, so a leaf
can never pass for a node. An odd node at the end of a level is promoted
unchanged, as in RFC 6962's split at the largest power of two.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["EMPTY_ROOT", "leaf_hash", "merkle_root"]

MERKLE_LABEL = b"LABMATCH-V1-MERKLE"
EMPTY_ROOT = hashlib.sha256(MERKLE_LABEL).digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The root over ``leaves`` (each hashed as a leaf first)."""
    if not leaves:
        return EMPTY_ROOT

    return _subtree([leaf_hash(leaf) for leaf in leaves])


def _subtree(hashes: list[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    split = 1 << (len(hashes) - 1).bit_length() - 1

    return _node(_subtree(hashes[:split]), _subtree(hashes[split:]))
