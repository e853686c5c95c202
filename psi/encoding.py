"""Unambiguous byte encodings shared by hashing, tokens and digests.

Every variable-length field is prefixed with its length, so no two
different field sequences can encode to the same bytes.
"""
from __future__ import annotations

import struct

__all__ = ["lp", "u64", "TAG_IP", "TAG_TEXT", "ip_message", "text_message"]

# Type tags of the message fed to hash-to-group (protocol.md 3.6).
TAG_IP = 0x01
TAG_TEXT = 0x02

MAX_FIELD = 0xFFFF


def lp(data: bytes) -> bytes:
    """A field prefixed with its 2-byte big-endian length."""
    if len(data) > MAX_FIELD:
        raise ValueError("field longer than 65535 bytes")

    return struct.pack(">H", len(data)) + data


def u64(n: int) -> bytes:
    return struct.pack(">Q", n)


def ip_message(version: int, prefixlen: int, packed: bytes) -> bytes:
    """Type tag, family byte, prefix-length byte, masked network bytes."""
    if version not in (4, 6) or len(packed) != (4 if version == 4 else 16):
        raise ValueError("bad address family or length")
    if not 0 <= prefixlen <= len(packed) * 8:
        raise ValueError("bad prefix length")

    return bytes([TAG_IP, version, prefixlen]) + packed


def text_message(text: str) -> bytes:
    """Type tag, then the UTF-8 text with its length."""
    return bytes([TAG_TEXT]) + lp(text.encode("utf-8"))
