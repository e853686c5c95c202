"""The embedded store: one SQLite file in WAL mode.

One connection serves both interfaces. Its blocking calls run in a worker
thread through ``asyncio.to_thread``, one at a time under a lock, and each
call is one transaction committed before it returns (synchronous=FULL),
so an acknowledged write survives a crash. Expiry is an absolute wall
clock time per row: reads ignore expired rows, and writes purge them at
most once per ``PURGE_INTERVAL`` seconds.

The file is created 0600 and any directories created for it 0700. It
records the consortium it belongs to and refuses to serve another.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

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

__all__ = ["open_sqlite", "SqliteMetaStore", "SqliteBlobStore",
           "PURGE_INTERVAL"]

PURGE_INTERVAL = 60.0
BUSY_TIMEOUT_MS = 5000
MEMORY = ":memory:"
# Keys are printable ASCII, so every key with a prefix sorts before this.
_PAST_PREFIX = "\x7f"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    expires_at REAL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (
    blob_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    expires_at REAL,
    PRIMARY KEY (blob_id, idx)
);
CREATE INDEX IF NOT EXISTS meta_expiry ON meta (expires_at)
    WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS chunks_expiry ON chunks (expires_at)
    WHERE expires_at IS NOT NULL;
"""

T = TypeVar("T")
Clock = Callable[[], float]


class _Database:
    """One SQLite connection, used by one thread at a time."""

    def __init__(self, conn: sqlite3.Connection, clock: Clock) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._clock = clock
        self._next_purge = 0.0

    async def run(self, operation: str,
                  work: Callable[[sqlite3.Connection, float], T]) -> T:
        """Run ``work(conn, now)`` in one transaction in a worker thread."""
        return await asyncio.to_thread(self._run, operation, work)

    def _run(self, operation: str,
             work: Callable[[sqlite3.Connection, float], T]) -> T:
        with self._lock, _translate(operation):
            now = self._clock()
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                result = work(self._conn, now)
                self._maybe_purge(now)

            return result

    def _maybe_purge(self, now: float) -> None:
        if now < self._next_purge:
            return

        self._next_purge = now + PURGE_INTERVAL
        for table in ("meta", "chunks"):
            self._conn.execute(
                f"DELETE FROM {table} WHERE expires_at <= ?", (now,))

    async def aclose(self) -> None:
        """Close the connection once pending calls have finished."""
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock, _translate("close"):
            self._conn.close()


@contextlib.contextmanager
def _translate(operation: str) -> Iterator[None]:
    """Turn sqlite3 errors into StoreError, chaining the cause."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"sqlite {operation} failed "
                         f"({type(exc).__name__})") from exc


def _expiry(now: float, ttl: int | None) -> float | None:
    return None if ttl is None else now + ttl


class SqliteMetaStore(MetaStore):
    """``MetaStore`` on the ``meta`` table."""

    def __init__(self, db: _Database) -> None:
        self._db = db

    async def get(self, key: str) -> bytes | None:
        """Return the live value under ``key``, or None."""
        check_key(key)

        def work(conn: sqlite3.Connection, now: float) -> bytes | None:
            return _live_value(conn, key, now)

        return await self._db.run("get", work)

    async def put(self, key: str, value: bytes,
                  ttl: int | None = None) -> None:
        """Write ``value`` under ``key`` with an optional ttl."""
        check_key(key)
        check_value(value)
        check_ttl(ttl)

        def work(conn: sqlite3.Connection, now: float) -> None:
            _write(conn, key, value, _expiry(now, ttl))

        await self._db.run("put", work)

    async def put_if_absent(self, key: str, value: bytes,
                            ttl: int | None = None) -> bytes | None:
        """Write unless a live value exists; return that value if so."""
        check_key(key)
        check_value(value)
        check_ttl(ttl)

        def work(conn: sqlite3.Connection, now: float) -> bytes | None:
            existing = _live_value(conn, key, now)
            if existing is not None:
                return existing

            _write(conn, key, value, _expiry(now, ttl))
            return None

        return await self._db.run("put_if_absent", work)

    async def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        check_key(key)

        def work(conn: sqlite3.Connection, now: float) -> None:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))

        await self._db.run("delete", work)

    async def keys(self, prefix: str) -> list[str]:
        """Return the sorted live keys starting with ``prefix``."""
        check_prefix(prefix)

        def work(conn: sqlite3.Connection, now: float) -> list[str]:
            rows = conn.execute(
                "SELECT key FROM meta WHERE key >= ? AND key < ?"
                " AND (expires_at IS NULL OR expires_at > ?)"
                " ORDER BY key",
                (prefix, prefix + _PAST_PREFIX, now))
            return [key for (key,) in rows]

        return await self._db.run("keys", work)


def _live_value(conn: sqlite3.Connection, key: str,
                now: float) -> bytes | None:
    row = conn.execute(
        "SELECT value FROM meta WHERE key = ?"
        " AND (expires_at IS NULL OR expires_at > ?)",
        (key, now)).fetchone()

    return None if row is None else bytes(row[0])


def _write(conn: sqlite3.Connection, key: str, value: bytes,
           expires_at: float | None) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value, expires_at)"
        " VALUES (?, ?, ?)",
        (key, value, expires_at))


class SqliteBlobStore(BlobStore):
    """``BlobStore`` on the ``chunks`` table."""

    def __init__(self, db: _Database) -> None:
        self._db = db

    async def put_chunk(self, blob_id: str, index: int, data: bytes,
                        ttl: int | None = None) -> None:
        """Write chunk ``index`` of ``blob_id``."""
        check_blob_id(blob_id)
        check_index(index)
        check_chunk(data)
        check_ttl(ttl)

        def work(conn: sqlite3.Connection, now: float) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO chunks"
                " (blob_id, idx, data, expires_at) VALUES (?, ?, ?, ?)",
                (blob_id, index, data, _expiry(now, ttl)))

        await self._db.run("put_chunk", work)

    async def get_chunk(self, blob_id: str, index: int) -> bytes:
        """Return chunk ``index`` of ``blob_id``; KeyError if absent."""
        check_blob_id(blob_id)
        check_index(index)

        def work(conn: sqlite3.Connection, now: float) -> bytes | None:
            row = conn.execute(
                "SELECT data FROM chunks WHERE blob_id = ? AND idx = ?"
                " AND (expires_at IS NULL OR expires_at > ?)",
                (blob_id, index, now)).fetchone()
            return None if row is None else bytes(row[0])

        data = await self._db.run("get_chunk", work)
        if data is None:
            raise KeyError(f"blob chunk {index} missing")

        return data

    async def delete_blob(self, blob_id: str) -> None:
        """Remove every chunk of ``blob_id``."""
        check_blob_id(blob_id)

        def work(conn: sqlite3.Connection, now: float) -> None:
            conn.execute("DELETE FROM chunks WHERE blob_id = ?", (blob_id,))

        await self._db.run("delete_blob", work)


def open_sqlite(path: str, consortium_id: str,
                clock: Clock = time.time) -> Store:
    """Open (creating if needed) the SQLite store at ``path``.

    ``clock`` returns the wall-clock time in seconds; tests may pass their
    own. Raises StoreError if the file belongs to another consortium.
    """
    if path == MEMORY:
        target, shown = MEMORY, f"sqlite:{MEMORY}"
    else:
        resolved = Path(path).expanduser().absolute()
        _make_private_dirs(resolved.parent)
        _make_private_file(resolved)
        target, shown = str(resolved), f"sqlite:{resolved}"

    conn = _connect(target, consortium_id)
    db = _Database(conn, clock)

    return Store(SqliteMetaStore(db), SqliteBlobStore(db), shown, db.aclose)


def _make_private_dirs(directory: Path) -> None:
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent

    for new in reversed(missing):
        new.mkdir(mode=0o700)
        os.chmod(new, 0o700)


def _make_private_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return

    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _connect(target: str, consortium_id: str) -> sqlite3.Connection:
    with _translate("open"):
        conn = sqlite3.connect(target, check_same_thread=False,
                               isolation_level=None)
        try:
            _prepare(conn, consortium_id)
        except BaseException:
            conn.close()
            raise

    return conn


def _prepare(conn: sqlite3.Connection, consortium_id: str) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(
            "INSERT OR IGNORE INTO info (name, value)"
            " VALUES ('consortium_id', ?)", (consortium_id,))
        (owner,) = conn.execute(
            "SELECT value FROM info WHERE name = 'consortium_id'").fetchone()

    if owner != consortium_id:
        raise StoreError("sqlite store belongs to another consortium")
