"""Coordinator state: small metadata and chunked blobs.

``open_store(url, consortium_id)`` picks the backend from the URL:

- ``sqlite:PATH``: one embedded SQLite file (the default for a single
  coordinator); ``sqlite::memory:`` keeps everything in memory;
- ``redis://HOST:PORT/DB`` (or ``rediss://`` for TLS): Redis 7, the
  production backend.

Both pass one conformance suite (tests/server/test_store_conformance.py).
Backends are imported only when chosen, so importing this package never
imports redis.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from labmatch.psi.consortium import CONSORTIUM_ID

from .base import (
    MAX_CHUNK_BYTES,
    MAX_META_BYTES,
    BlobStore,
    MetaStore,
    Store,
    StoreError,
)

__all__ = [
    "open_store",
    "Store",
    "MetaStore",
    "BlobStore",
    "StoreError",
    "MAX_CHUNK_BYTES",
    "MAX_META_BYTES",
]

SQLITE_SCHEME = "sqlite:"
REDIS_SCHEMES = ("redis", "rediss")
ACCEPTED_FORMS = "sqlite:PATH or redis://HOST:PORT/DB"
_DATABASE = re.compile(r"[0-9]{0,5}")


def open_store(url: str, consortium_id: str) -> Store:
    """Open the store ``url`` names, holding ``consortium_id``'s state.

    Raises ValueError for a malformed URL or consortium id; the message
    never repeats the URL, which may carry a password.
    """
    if not isinstance(consortium_id, str) or not CONSORTIUM_ID.fullmatch(
            consortium_id):
        raise ValueError("consortium id must be 16 lowercase hex characters")
    if not isinstance(url, str):
        raise TypeError("store url must be a str")

    if url.startswith(SQLITE_SCHEME):
        return _open_sqlite(url[len(SQLITE_SCHEME):], consortium_id)
    if urlsplit(url).scheme in REDIS_SCHEMES:
        return _open_redis(url, consortium_id)

    raise ValueError(f"store url must be {ACCEPTED_FORMS}")


def _open_sqlite(path: str, consortium_id: str) -> Store:
    if not path or "\x00" in path:
        raise ValueError(f"sqlite store needs a path: {ACCEPTED_FORMS}")

    from .sqlite import open_sqlite

    return open_sqlite(path, consortium_id)


def _open_redis(url: str, consortium_id: str) -> Store:
    parts = urlsplit(url)
    try:
        parts.port
    except ValueError:
        raise ValueError(
            f"redis store url has a bad port: {ACCEPTED_FORMS}") from None
    database = parts.path.lstrip("/")
    if not parts.hostname or not _DATABASE.fullmatch(database):
        raise ValueError(f"redis store url must be {ACCEPTED_FORMS}")

    from .redis import open_redis

    return open_redis(url, consortium_id)
