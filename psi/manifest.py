"""Digests that bind bulk transfers to what they claim to be.

An upload digest covers the consortium, epoch, kind, owner, count and
every element in order; an evaluation digest covers the sealed chunks.
Both are computed incrementally, chunk by chunk, by sender and receiver
alike. (Signed manifests with Merkle roots come with the trust work.)
"""
from __future__ import annotations

import hashlib

from .encoding import lp, u64
from .group import ELEMENT_BYTES

__all__ = [
    "ELEMENTS_PER_CHUNK",
    "MAX_UPLOAD_ELEMENTS",
    "UploadDigest",
    "EvaluationDigest",
    "split_elements",
]

ELEMENTS_PER_CHUNK = 32768          # 1 MiB of elements per chunk
MAX_UPLOAD_ELEMENTS = 1 << 24       # 16,777,216 items per (epoch, kind)
UPLOAD_LABEL = b"LABMATCH-V1-CS01-UPLOAD"
EVALUATION_LABEL = b"LABMATCH-V1-CS01-EVALUATION"


class UploadDigest:
    def __init__(self, *, consortium_id: str, epoch: str, kind: str,
                 owner: str, count: int) -> None:
        self._h = hashlib.sha256(lp(UPLOAD_LABEL))
        for field in (consortium_id, epoch, kind, owner):
            self._h.update(lp(field.encode()))
        self._h.update(u64(count))

    def update(self, chunk: bytes) -> None:
        self._h.update(chunk)

    def digest(self) -> bytes:
        return self._h.digest()


class EvaluationDigest:
    def __init__(self, context: bytes, sealed_key: bytes,
                 header: bytes) -> None:
        self._h = hashlib.sha256(lp(EVALUATION_LABEL) + lp(context)
                                 + lp(sealed_key) + lp(header))

    def update(self, ciphertext: bytes) -> None:
        self._h.update(u64(len(ciphertext)) + ciphertext)

    def digest(self) -> bytes:
        return self._h.digest()


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
