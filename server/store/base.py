"""The store interfaces, their limits and the checks every backend runs.

Two interfaces: ``MetaStore`` for small values under slash-separated ASCII
keys, and ``BlobStore`` for bulk data kept as numbered chunks of a blob.
Both are asynchronous and take an optional time-to-live in seconds; an
expired entry is indistinguishable from one never written. ``Store``
bundles one of each with the means to close them.

Backends call the ``check_*`` helpers before touching storage, so every
backend refuses the same inputs with the same exception. Messages never
contain a key, a value or a chunk: keys may name labs and kinds, and
values are the coordinator's state.
"""
from __future__ import annotations

import abc
import re
from collections.abc import Awaitable, Callable

from labmatch.psi.errors import LabmatchError

__all__ = [
    "MAX_CHUNK_BYTES",
    "MAX_META_BYTES",
    "MAX_KEY_CHARS",
    "MAX_BLOB_ID_CHARS",
    "MAX_CHUNK_INDEX",
    "StoreError",
    "MetaStore",
    "BlobStore",
    "Store",
    "check_key",
    "check_prefix",
    "check_value",
    "check_ttl",
    "check_blob_id",
    "check_index",
    "check_chunk",
]

MAX_CHUNK_BYTES = 2 * 1024 * 1024
MAX_META_BYTES = 64 * 1024
MAX_KEY_CHARS = 512
MAX_BLOB_ID_CHARS = 128
MAX_CHUNK_INDEX = 2**32 - 1

# Printable ASCII without space: keeps keys safe in logs, SQL ranges and
# Redis key names alike, and makes byte order equal string order.
_KEY = re.compile(r"[\x21-\x7e]*")
_BLOB_ID = re.compile(r"[0-9a-fA-F]+")


class StoreError(LabmatchError):
    """A storage backend failed; the backend's exception is the cause.

    The message names the backend and the operation, never a key or a
    value.
    """


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid metadata key, else raise.

    Valid: 1 to ``MAX_KEY_CHARS`` printable ASCII characters, no space.
    """
    check_prefix(key)
    if not key:
        raise ValueError("store key must not be empty")

    return key


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it could start a valid key (may be empty)."""
    if not isinstance(prefix, str):
        raise TypeError("store key must be a str")
    if len(prefix) > MAX_KEY_CHARS:
        raise ValueError(f"store key longer than {MAX_KEY_CHARS} characters")
    if not _KEY.fullmatch(prefix):
        raise ValueError("store key must be printable ASCII without spaces")

    return prefix


def check_value(value: bytes) -> bytes:
    """Return ``value`` if it is bytes within ``MAX_META_BYTES``."""
    if not isinstance(value, bytes):
        raise TypeError("store value must be bytes")
    if len(value) > MAX_META_BYTES:
        raise ValueError(f"store value over {MAX_META_BYTES} bytes")

    return value


def check_ttl(ttl: int | None) -> int | None:
    """Return ``ttl`` if it is None or a positive number of seconds."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        raise TypeError("ttl must be an int number of seconds or None")
    if ttl <= 0:
        raise ValueError("ttl must be positive")

    return ttl


def check_blob_id(blob_id: str) -> str:
    """Return ``blob_id`` if it is a hex string of sane length."""
    if not isinstance(blob_id, str):
        raise TypeError("blob id must be a str")
    if len(blob_id) > MAX_BLOB_ID_CHARS:
        raise ValueError(
            f"blob id longer than {MAX_BLOB_ID_CHARS} characters")
    if not _BLOB_ID.fullmatch(blob_id):
        raise ValueError("blob id must be a non-empty hex string")

    return blob_id


def check_index(index: int) -> int:
    """Return ``index`` if it is an int in 0..``MAX_CHUNK_INDEX``."""
    if isinstance(index, bool) or not isinstance(index, int):
        raise TypeError("chunk index must be an int")
    if not 0 <= index <= MAX_CHUNK_INDEX:
        raise ValueError(f"chunk index must be in 0..{MAX_CHUNK_INDEX}")

    return index


def check_chunk(data: bytes) -> bytes:
    """Return ``data`` if it is bytes within ``MAX_CHUNK_BYTES``."""
    if not isinstance(data, bytes):
        raise TypeError("chunk data must be bytes")
    if len(data) > MAX_CHUNK_BYTES:
        raise ValueError(f"chunk over {MAX_CHUNK_BYTES} bytes")

    return data


class MetaStore(abc.ABC):
    """Small values under ASCII keys, each with an optional time-to-live."""

    @abc.abstractmethod
    async def get(self, key: str) -> bytes | None:
        """Return the value under ``key``, or None if absent or expired."""

    @abc.abstractmethod
    async def put(self, key: str, value: bytes,
                  ttl: int | None = None) -> None:
        """Write ``value`` under ``key``, replacing any value and ttl.

        With ``ttl`` None the entry never expires.
        """

    @abc.abstractmethod
    async def put_if_absent(self, key: str, value: bytes,
                            ttl: int | None = None) -> bytes | None:
        """Atomically write ``value`` unless ``key`` holds a live value.

        Returns None if this call wrote, else the value already there
        (which is left untouched, ttl included).
        """

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key``; removing an absent key is not an error."""

    @abc.abstractmethod
    async def keys(self, prefix: str) -> list[str]:
        """Return the live keys starting with ``prefix``, sorted.

        ``prefix`` is a plain string prefix: no character is special.
        """


class BlobStore(abc.ABC):
    """Bulk data as numbered chunks of blobs named by hex ids."""

    @abc.abstractmethod
    async def put_chunk(self, blob_id: str, index: int, data: bytes,
                        ttl: int | None = None) -> None:
        """Write chunk ``index`` of ``blob_id``, replacing any earlier one.

        ``data`` is at most ``MAX_CHUNK_BYTES``; ``ttl`` applies to this
        chunk.
        """

    @abc.abstractmethod
    async def get_chunk(self, blob_id: str, index: int) -> bytes:
        """Return chunk ``index`` of ``blob_id``.

        Raises KeyError if it is absent or expired.
        """

    @abc.abstractmethod
    async def delete_blob(self, blob_id: str) -> None:
        """Remove every chunk of ``blob_id``; an absent blob is fine."""


class Store:
    """A ``MetaStore`` and a ``BlobStore`` sharing one backend.

    Use as ``async with open_store(...) as store:`` or call ``aclose``.
    ``url_for_humans`` identifies the backend without any password.
    """

    def __init__(self, meta: MetaStore, blobs: BlobStore,
                 url_for_humans: str,
                 close: Callable[[], Awaitable[None]] | None = None,
                 ) -> None:
        self.meta = meta
        self.blobs = blobs
        self.url_for_humans = url_for_humans
        self._close = close
        self._closed = False

    def __repr__(self) -> str:
        return f"<Store {self.url_for_humans}>"

    async def aclose(self) -> None:
        """Release the backend's connections; calling twice is harmless."""
        if self._closed:
            return

        self._closed = True
        if self._close is not None:
            await self._close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
