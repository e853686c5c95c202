"""Hashing to ristretto255 with domain separation (RFC 9380, App. B).

``hash_to_group(msg, dst)`` is expand_message_xmd with SHA-512 to 64 bytes
followed by the RFC 9496 element derivation. One DST per (protocol
version, suite, consortium id, kind code); the kind code carries the
canonicalisation version, so a rule change never matches old tokens.
"""
from __future__ import annotations

import hashlib
import re

from . import group

__all__ = [
    "PROTOCOL_VERSION",
    "SUITE",
    "expand_message_xmd",
    "hash_to_group",
    "kind_dst",
    "HashToGroup",
]

PROTOCOL_VERSION = 1
SUITE = "CS01"
SUITE_H2G = "ristretto255_XMD:SHA-512_R255MAP_RO_"
DST_PREFIX = f"LABMATCH-V{PROTOCOL_VERSION}-{SUITE}-{SUITE_H2G}"
MAX_DST_BYTES = 255

_CONSORTIUM_ID = re.compile(r"[0-9a-f]{16}")
_B_IN_BYTES = 64    # SHA-512 output size
_R_IN_BYTES = 128   # SHA-512 block size


def expand_message_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 section 5.3.1 with SHA-512."""
    if len(dst) > MAX_DST_BYTES:
        raise ValueError("DST longer than 255 bytes")
    ell = -(-length // _B_IN_BYTES)
    if ell > 255 or length > 65535:
        raise ValueError("requested length too large")
    dst_prime = dst + bytes([len(dst)])
    msg_prime = (bytes(_R_IN_BYTES) + msg + length.to_bytes(2, "big")
                 + b"\x00" + dst_prime)
    b0 = hashlib.sha512(msg_prime).digest()
    blocks = [hashlib.sha512(b0 + b"\x01" + dst_prime).digest()]
    for i in range(2, ell + 1):
        mixed = bytes(x ^ y for x, y in zip(b0, blocks[-1]))
        blocks.append(
            hashlib.sha512(mixed + bytes([i]) + dst_prime).digest())

    return b"".join(blocks)[:length]


def hash_to_group(msg: bytes, dst: bytes) -> bytes:
    """hash_to_ristretto255: a group element no one knows the log of."""
    uniform = expand_message_xmd(msg, dst, group.UNIFORM_BYTES)

    return group.element_from_uniform(uniform)


def kind_dst(consortium_id: str, kind: str) -> bytes:
    """The DST for one match kind inside one consortium."""
    if not _CONSORTIUM_ID.fullmatch(consortium_id) or not kind:
        raise ValueError("consortium id must be 16 lowercase hex "
                         "characters and the kind code non-empty")
    dst = f"{DST_PREFIX}-{consortium_id}-{kind}".encode("ascii")
    if len(dst) > MAX_DST_BYTES:
        raise ValueError("DST longer than 255 bytes")

    return dst


class HashToGroup:
    """H_K for one (consortium, kind): maps canonical messages to elements."""

    __slots__ = ("kind", "dst")

    def __init__(self, consortium_id: str, kind: str) -> None:
        self.kind = kind
        self.dst = kind_dst(consortium_id, kind)

    def __call__(self, msg: bytes) -> bytes:
        return hash_to_group(msg, self.dst)

    def __repr__(self) -> str:
        return f"HashToGroup(kind={self.kind!r})"
