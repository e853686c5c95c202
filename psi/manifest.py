"""How a blinded set is cut into chunks for transfer, and its limits.

A chunk holds at most ELEMENTS_PER_CHUNK 32-byte elements (1 MiB), well
under gRPC's 4 MiB message limit; each chunk's SHA-256 goes into the
owner's signed manifest (:mod:`labmatch.wire`).
"""
from __future__ import annotations

import hashlib

from .encoding import lp, u64
from .group import ELEMENT_BYTES

__all__ = [
    "ELEMENTS_PER_CHUNK",
    "MAX_UPLOAD_ELEMENTS",
    "chunk_elements",
    "split_elements",
]

ELEMENTS_PER_CHUNK = 32768          # 1 MiB of elements per chunk
MAX_UPLOAD_ELEMENTS = 1 << 24       # 16,777,216 items per (epoch, kind)


def split_elements(elements: list[bytes]) -> list[bytes]:
    """Concatenated chunks of at most ELEMENTS_PER_CHUNK elements."""
    return [b"".join(elements[i:i + ELEMENTS_PER_CHUNK])
            for i in range(0, len(elements), ELEMENTS_PER_CHUNK)]


def chunk_elements(chunk: bytes) -> list[bytes]:
    """Split a chunk into elements; a ragged chunk is a ValueError."""
    if len(chunk) % ELEMENT_BYTES:
        raise ValueError("chunk length is not a multiple of 32")

    return [chunk[i:i + ELEMENT_BYTES]
            for i in range(0, len(chunk), ELEMENT_BYTES)]
