"""One conformance suite for every store backend.

The ``store`` fixture runs each test against SQLite and against Redis; a
few tests at the end check what only one backend can show (file modes,
Redis key names, connection failures).
"""
from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from labmatch.server.store import open_store
from labmatch.server.store.base import (
    MAX_CHUNK_BYTES,
    MAX_META_BYTES,
    StoreError,
)

CID = "0123456789abcdef"
OTHER_CID = "fedcba9876543210"
BLOB = "00ff"
OTHER_BLOB = "00fe"


@pytest.fixture(params=[
    "sqlite",
    pytest.param("redis", marks=pytest.mark.redis),
])
def store_url(request, tmp_path) -> str:
    """A URL of an empty store of each backend."""
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'state' / 'store.db'}"

    return request.getfixturevalue("redis_url")


@pytest.fixture
async def store(store_url) -> AsyncIterator:
    """An open, empty store of each backend, closed afterwards."""
    async with open_store(store_url, CID) as opened:
        yield opened


class TestMeta:
    async def test_get_missing_returns_none(self, store):
        """get of a key never written returns None."""
        assert await store.meta.get("up/none") is None

    async def test_put_then_get_round_trips(self, store):
        """put stores bytes exactly and a second put replaces them."""
        value = bytes(range(256))

        await store.meta.put("lab/a", value)
        assert await store.meta.get("lab/a") == value

        await store.meta.put("lab/a", b"")
        assert await store.meta.get("lab/a") == b""

    async def test_delete_removes_only_that_key(self, store):
        """delete removes the key, leaves others, and ignores absence."""
        await store.meta.put("k/1", b"one")
        await store.meta.put("k/2", b"two")

        await store.meta.delete("k/1")
        await store.meta.delete("k/never")

        assert await store.meta.get("k/1") is None
        assert await store.meta.get("k/2") == b"two"

    async def test_put_if_absent_first_writer_wins(self, store):
        """put_if_absent writes once, then returns the first value."""
        first = await store.meta.put_if_absent("nonce/x", b"first")
        second = await store.meta.put_if_absent("nonce/x", b"second")

        assert first is None
        assert second == b"first"
        assert await store.meta.get("nonce/x") == b"first"

    async def test_put_if_absent_concurrent_has_one_winner(self, store):
        """Of 20 concurrent put_if_absent calls exactly one writes."""
        results = await asyncio.gather(*(
            store.meta.put_if_absent("idem/k", bytes([i]))
            for i in range(20)))

        winners = [i for i, r in enumerate(results) if r is None]
        assert len(winners) == 1
        winner = bytes(winners)
        assert all(r == winner for r in results if r is not None)
        assert await store.meta.get("idem/k") == winner

    async def test_keys_is_sorted_plain_prefix(self, store):
        """keys returns sorted keys with a plain string prefix."""
        for key in ["up/b", "up/ab", "up/a/x", "up/a", "upx", "u"]:
            await store.meta.put(key, b"v")

        assert await store.meta.keys("up/a") == ["up/a", "up/a/x", "up/ab"]
        assert await store.meta.keys("up/") == [
            "up/a", "up/a/x", "up/ab", "up/b"]
        assert await store.meta.keys("zz") == []
        assert await store.meta.keys("") == [
            "u", "up/a", "up/a/x", "up/ab", "up/b", "upx"]

    async def test_keys_treats_glob_characters_literally(self, store):
        """keys matches *, ?, [, ] and backslash as ordinary characters."""
        for key in ["g/*", "g/?", "g/[a]", "g/a", "g/\\x", "g/]"]:
            await store.meta.put(key, b"v")

        assert await store.meta.keys("g/*") == ["g/*"]
        assert await store.meta.keys("g/?") == ["g/?"]
        assert await store.meta.keys("g/[") == ["g/[a]"]
        assert await store.meta.keys("g/[a") == ["g/[a]"]
        assert await store.meta.keys("g/]") == ["g/]"]
        assert await store.meta.keys("g/\\") == ["g/\\x"]

    async def test_value_size_limit(self, store):
        """A value of MAX_META_BYTES is kept; one byte more is refused."""
        await store.meta.put("big", b"\x01" * MAX_META_BYTES)
        assert len(await store.meta.get("big")) == MAX_META_BYTES

        too_big = b"\x02" * (MAX_META_BYTES + 1)
        with pytest.raises(ValueError):
            await store.meta.put("big", too_big)
        with pytest.raises(ValueError):
            await store.meta.put_if_absent("other", too_big)
        assert await store.meta.get("other") is None

    @pytest.mark.parametrize("key", ["", "a b", "é", "a\nb", "x" * 513])
    async def test_bad_key_refused(self, store, key):
        """Empty, spaced, non-ASCII, control or overlong keys are refused."""
        with pytest.raises(ValueError):
            await store.meta.put(key, b"v")

    @pytest.mark.parametrize("ttl", [0, -1])
    async def test_nonpositive_ttl_refused(self, store, ttl):
        """A ttl of zero or less is refused rather than ignored."""
        with pytest.raises(ValueError):
            await store.meta.put("k", b"v", ttl=ttl)
        assert await store.meta.get("k") is None


class TestBlobs:
    async def test_chunks_round_trip(self, store):
        """Chunks of several indexes come back exactly as written."""
        chunks = {i: os.urandom(100 + i) for i in (0, 1, 2, 7, 1000)}
        for index, data in chunks.items():
            await store.blobs.put_chunk(BLOB, index, data, ttl=3600)

        for index, data in chunks.items():
            assert await store.blobs.get_chunk(BLOB, index) == data

    async def test_get_missing_chunk_raises_keyerror(self, store):
        """get_chunk of an unwritten chunk raises KeyError naming it."""
        await store.blobs.put_chunk(BLOB, 0, b"zero")

        with pytest.raises(KeyError, match="blob chunk 1 missing"):
            await store.blobs.get_chunk(BLOB, 1)
        with pytest.raises(KeyError):
            await store.blobs.get_chunk(OTHER_BLOB, 0)

    async def test_delete_blob_removes_all_its_chunks_only(self, store):
        """delete_blob removes every chunk of one blob and nothing else."""
        for index in range(5):
            await store.blobs.put_chunk(BLOB, index, b"a", ttl=60)
            await store.blobs.put_chunk(OTHER_BLOB, index, b"b")
        await store.meta.put("keep", b"meta")

        await store.blobs.delete_blob(BLOB)
        await store.blobs.delete_blob("abcdef")

        for index in range(5):
            with pytest.raises(KeyError):
                await store.blobs.get_chunk(BLOB, index)
            assert await store.blobs.get_chunk(OTHER_BLOB, index) == b"b"
        assert await store.meta.get("keep") == b"meta"

    async def test_chunk_size_limit(self, store):
        """A chunk of MAX_CHUNK_BYTES is kept; one byte more is refused."""
        await store.blobs.put_chunk(BLOB, 0, b"\x03" * MAX_CHUNK_BYTES)
        assert len(await store.blobs.get_chunk(BLOB, 0)) == MAX_CHUNK_BYTES

        with pytest.raises(ValueError):
            await store.blobs.put_chunk(BLOB, 1,
                                        b"\x04" * (MAX_CHUNK_BYTES + 1))
        with pytest.raises(KeyError):
            await store.blobs.get_chunk(BLOB, 1)

    @pytest.mark.parametrize("blob_id,index", [
        ("", 0), ("xyz", 0), ("ab}", 0), ("a" * 129, 0), (BLOB, -1)])
    async def test_bad_blob_id_or_index_refused(self, store, blob_id,
                                                index):
        """Non-hex or overlong blob ids and negative indexes are refused."""
        with pytest.raises(ValueError):
            await store.blobs.put_chunk(blob_id, index, b"d")


async def test_ttl_expiry(store):
    """Entries with ttl=1 vanish after it; entries without ttl stay."""
    await store.meta.put("t/gone", b"1", ttl=1)
    await store.meta.put_if_absent("t/nx", b"1", ttl=1)
    await store.meta.put("t/kept", b"1", ttl=1)
    await store.meta.put("t/kept", b"2")
    await store.blobs.put_chunk(BLOB, 0, b"c", ttl=1)
    await store.blobs.put_chunk(OTHER_BLOB, 0, b"d")
    assert await store.meta.get("t/gone") == b"1"

    await asyncio.sleep(1.2)

    assert await store.meta.get("t/gone") is None
    assert await store.meta.keys("t/") == ["t/kept"]
    assert await store.meta.get("t/kept") == b"2"
    assert await store.meta.put_if_absent("t/nx", b"again") is None
    with pytest.raises(KeyError):
        await store.blobs.get_chunk(BLOB, 0)
    assert await store.blobs.get_chunk(OTHER_BLOB, 0) == b"d"


async def test_open_store_rejects_unknown_scheme():
    """open_store refuses other URL schemes, naming the accepted forms."""
    with pytest.raises(ValueError) as caught:
        open_store("postgres://x", CID)

    assert "sqlite:PATH" in str(caught.value)
    assert "redis://HOST:PORT/DB" in str(caught.value)


@pytest.mark.parametrize("url", [
    "sqlite:", "redis://", "redis://h:notaport/0", "redis://h:1/db"])
async def test_open_store_rejects_malformed_url(url):
    """open_store refuses a sqlite URL without path or a bad redis URL."""
    with pytest.raises(ValueError):
        open_store(url, CID)


async def test_open_store_rejects_bad_consortium_id(tmp_path):
    """open_store refuses a consortium id that is not 16 hex characters."""
    with pytest.raises(ValueError):
        open_store(f"sqlite:{tmp_path / 's.db'}", "0123")


async def test_sqlite_file_and_dirs_are_private(tmp_path):
    """The db file (and its WAL) is 0600; created parents are 0700."""
    path = tmp_path / "a" / "b" / "store.db"

    async with open_store(f"sqlite:{path}", CID) as store:
        await store.meta.put("k", b"v")
        wal = path.with_name("store.db-wal")
        modes = {p: stat.S_IMODE(p.stat().st_mode)
                 for p in (path, wal, path.parent, path.parent.parent)}

    assert modes[path] == 0o600
    assert modes[wal] == 0o600
    assert modes[path.parent] == 0o700
    assert modes[path.parent.parent] == 0o700


async def test_sqlite_relative_path_and_durability(tmp_path, monkeypatch):
    """A relative path works and writes survive reopening the file."""
    monkeypatch.chdir(tmp_path)

    async with open_store("sqlite:rel/store.db", CID) as store:
        await store.meta.put("k", b"kept")
        await store.blobs.put_chunk(BLOB, 3, b"chunk")
        shown = store.url_for_humans
    async with open_store("sqlite:rel/store.db", CID) as store:
        assert await store.meta.get("k") == b"kept"
        assert await store.blobs.get_chunk(BLOB, 3) == b"chunk"

    assert shown == f"sqlite:{tmp_path / 'rel' / 'store.db'}"


async def test_sqlite_refuses_other_consortium(tmp_path):
    """A SQLite file opened for one consortium refuses another."""
    url = f"sqlite:{tmp_path / 's.db'}"
    async with open_store(url, CID):
        pass

    with pytest.raises(StoreError):
        open_store(url, OTHER_CID)


async def test_sqlite_closed_store_raises_store_error(tmp_path):
    """Using a closed SQLite store raises StoreError, not sqlite3.Error."""
    store = open_store(f"sqlite:{tmp_path / 's.db'}", CID)
    await store.aclose()

    with pytest.raises(StoreError) as caught:
        await store.meta.get("k")

    assert caught.value.__cause__ is not None


@pytest.mark.redis
async def test_redis_keys_are_prefixed_and_slotted(redis_url):
    """Redis keys start with labmatch:<cid>:, a blob's keys share a slot,
    and keys written with a ttl (index sets included) all expire."""
    import redis
    from redis.crc import key_slot

    async with open_store(redis_url, CID) as store:
        await store.meta.put("up/a", b"v", ttl=60)
        await store.meta.put_if_absent("nonce/n", b"v", ttl=60)
        for index in range(3):
            await store.blobs.put_chunk(BLOB, index, b"c", ttl=60)
            await store.blobs.put_chunk(OTHER_BLOB, index, b"c", ttl=60)

    plain = redis.Redis.from_url(redis_url)
    try:
        names = plain.keys("*")
        ttls = {name: plain.ttl(name) for name in names}
    finally:
        plain.close()

    assert len(names) == 2 + 2 * 4
    assert all(n.startswith(f"labmatch:{CID}:".encode()) for n in names)
    slots = {key_slot(n) for n in names if BLOB.encode() in n}
    assert len(slots) == 1
    assert all(0 < ttl <= 60 for ttl in ttls.values())


@pytest.mark.redis
async def test_redis_delete_blob_leaves_no_keys(redis_url):
    """delete_blob on Redis removes the chunks and the blob's index."""
    import redis

    async with open_store(redis_url, CID) as store:
        for index in range(4):
            await store.blobs.put_chunk(BLOB, index, b"c")
        await store.blobs.delete_blob(BLOB)

    plain = redis.Redis.from_url(redis_url)
    try:
        assert plain.keys("*") == []
    finally:
        plain.close()


async def test_redis_unreachable_raises_store_error():
    """A redis URL to a closed loopback port raises StoreError."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"redis://:secret@127.0.0.1:{port}/0"

    async with open_store(url, CID) as store:
        assert "secret" not in store.url_for_humans
        with pytest.raises(StoreError) as caught:
            await store.meta.get("k")

    assert caught.value.__cause__ is not None
    assert "secret" not in str(caught.value)


def test_import_does_not_load_redis(tmp_path):
    """Importing the package and using SQLite never imports redis."""
    code = (
        "import asyncio, sys\n"
        "from labmatch.server.store import open_store\n"
        f"s = open_store('sqlite:{tmp_path / 's.db'}', '{CID}')\n"
        "asyncio.run(s.aclose())\n"
        "assert 'redis' not in sys.modules, 'redis imported'\n")

    subprocess.run([sys.executable, "-c", code], check=True)
