"""The production store: Redis 7 through ``redis.asyncio``.

Only this module imports redis, and ``open_store`` imports this module
only for a redis URL, so the rest of labmatch runs without it.

Key layout, all under ``labmatch:<consortium_id>:`` so consortia can share
a server:

- ``...:meta:<key>`` holds one metadata value;
- ``...:blob:{<blob_id>}:<index>`` holds one chunk;
- ``...:blob:{<blob_id>}:chunks`` is the set of that blob's chunk indexes,
  so a blob is deleted without SCAN.

The braces are a Redis Cluster hash tag: every key of one blob lands in
one slot, so the multi-key script and transaction below stay legal on a
cluster. Each metadata value is a single key.

Every Redis failure leaves this module as StoreError with the original
exception as its cause.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import urlsplit

import redis.asyncio
import redis.exceptions

from .base import (
    BlobStore,
    MetaStore,
    Store,
    StoreError,
    check_blob_id,
    check_chunk,
    check_index,
    check_key,
    check_prefix,
    check_ttl,
    check_value,
)

__all__ = ["open_redis", "RedisMetaStore", "RedisBlobStore"]

CONNECT_TIMEOUT = 5.0
SOCKET_TIMEOUT = 30.0
SCAN_COUNT = 1000
DELETE_ATTEMPTS = 16
_GLOB_SPECIAL = "\\*?[]"

# KEYS: chunk key, index set. ARGV: data, index, ttl (0 = none).
# The index set must outlive every chunk it lists: a new set takes the
# chunk's ttl, an expiring set only ever grows its ttl, and a chunk with
# no ttl makes the set persistent.
_PUT_CHUNK = """
local existed = redis.call('EXISTS', KEYS[2])
local ttl = tonumber(ARGV[3])
if ttl > 0 then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
else
    redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('SADD', KEYS[2], ARGV[2])
if ttl <= 0 then
    redis.call('PERSIST', KEYS[2])
elseif existed == 0 then
    redis.call('EXPIRE', KEYS[2], ttl)
else
    redis.call('EXPIRE', KEYS[2], ttl, 'GT')
end
return 1
"""


@contextlib.contextmanager
def _translate(operation: str) -> Iterator[None]:
    """Turn Redis and socket errors into StoreError, chaining the cause."""
    try:
        yield
    except (redis.exceptions.RedisError, OSError) as exc:
        raise StoreError(f"redis {operation} failed "
                         f"({type(exc).__name__})") from exc


def _escape_glob(text: str) -> str:
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in text)


class RedisMetaStore(MetaStore):
    """``MetaStore`` with one Redis string per key."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix + "meta:"

    async def get(self, key: str) -> bytes | None:
        """Return the value under ``key``, or None."""
        name = self._prefix + check_key(key)

        with _translate("get"):
            return await self._client.get(name)

    async def put(self, key: str, value: bytes,
                  ttl: int | None = None) -> None:
        """Write ``value`` under ``key`` with an optional ttl."""
        name = self._prefix + check_key(key)
        check_value(value)
        check_ttl(ttl)

        with _translate("put"):
            await self._client.set(name, value, ex=ttl)

    async def put_if_absent(self, key: str, value: bytes,
                            ttl: int | None = None) -> bytes | None:
        """Write unless ``key`` exists; return the existing value if so.

        One ``SET NX GET`` (Redis 7.0+): atomic without a script.
        """
        name = self._prefix + check_key(key)
        check_value(value)
        check_ttl(ttl)

        with _translate("put_if_absent"):
            return await self._client.set(name, value, ex=ttl, nx=True,
                                          get=True)

    async def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        name = self._prefix + check_key(key)

        with _translate("delete"):
            await self._client.delete(name)

    async def keys(self, prefix: str) -> list[str]:
        """Return the sorted keys starting with ``prefix`` (SCAN)."""
        pattern = self._prefix + _escape_glob(check_prefix(prefix)) + "*"
        skip = len(self._prefix)

        found = set()
        with _translate("keys"):
            async for name in self._client.scan_iter(match=pattern,
                                                     count=SCAN_COUNT):
                found.add(name[skip:].decode("ascii"))

        return sorted(found)


class RedisBlobStore(BlobStore):
    """``BlobStore`` with one Redis string per chunk plus an index set."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix + "blob:"
        self._put_script = client.register_script(_PUT_CHUNK)

    def _blob_prefix(self, blob_id: str) -> str:
        return f"{self._prefix}{{{check_blob_id(blob_id)}}}:"

    async def put_chunk(self, blob_id: str, index: int, data: bytes,
                        ttl: int | None = None) -> None:
        """Write chunk ``index`` of ``blob_id`` and list it in the index."""
        blob = self._blob_prefix(blob_id)
        check_index(index)
        check_chunk(data)
        check_ttl(ttl)

        keys = [f"{blob}{index}", f"{blob}chunks"]
        with _translate("put_chunk"):
            await self._put_script(keys=keys, args=[data, index, ttl or 0])

    async def get_chunk(self, blob_id: str, index: int) -> bytes:
        """Return chunk ``index`` of ``blob_id``; KeyError if absent."""
        name = f"{self._blob_prefix(blob_id)}{check_index(index)}"

        with _translate("get_chunk"):
            data = await self._client.get(name)
        if data is None:
            raise KeyError(f"blob chunk {index} missing")

        return data

    async def delete_blob(self, blob_id: str) -> None:
        """Remove every chunk listed in the blob's index, then the index.

        WATCH on the index set makes this atomic against a concurrent
        ``put_chunk`` of the same blob: on a race the transaction retries.
        """
        blob = self._blob_prefix(blob_id)
        index_key = f"{blob}chunks"

        with _translate("delete_blob"):
            for _ in range(DELETE_ATTEMPTS):
                if await self._try_delete(blob, index_key):
                    return

        raise StoreError("redis delete_blob kept racing with writers")

    async def _try_delete(self, blob: str, index_key: str) -> bool:
        async with self._client.pipeline(transaction=True) as pipe:
            await pipe.watch(index_key)
            members = await pipe.smembers(index_key)
            pipe.multi()
            names = [f"{blob}{m.decode('ascii')}" for m in members]
            pipe.delete(index_key, *names)
            try:
                await pipe.execute()
            except redis.exceptions.WatchError:
                return False

        return True


def open_redis(url: str, consortium_id: str) -> Store:
    """Connect lazily to the Redis at ``url`` (``redis://HOST:PORT/DB``).

    No command is sent until the store is first used.
    """
    client = redis.asyncio.Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT)
    prefix = f"labmatch:{consortium_id}:"
    meta = RedisMetaStore(client, prefix)
    blobs = RedisBlobStore(client, prefix)

    async def close() -> None:
        with _translate("close"):
            await client.aclose()

    return Store(meta, blobs, url_for_humans(url), close)


def url_for_humans(url: str) -> str:
    """Return ``url`` without user, password or query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""

    return f"{parts.scheme}://{host}{port}{parts.path}"
