"""The lab's local state: its seed, a lock, and a cache of crypto work.

Lives in the lab directory: ``seed.key`` (the blinding seed, made here on
first use, mode 0600, never sent anywhere), ``state.lock`` (held for the
whole of a sync, so two syncs of one lab cannot overlap) and
``state.sqlite3``. The database caches work only: blinded uploads, the
tokens computed over each peer's upload, and matched positions. What has
been uploaded or evaluated is always asked of the coordinator.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import tempfile
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from labmatch.psi.errors import LabmatchError
from labmatch.psi.keys import SEED_BYTES, new_seed

__all__ = ["StateError", "LabState", "CachedUpload"]

SEED_FILE = "seed.key"
LOCK_FILE = "state.lock"
DB_FILE = "state.sqlite3"

# The database is a cache: when its layout changes it is emptied and
# rebuilt, never migrated.
SCHEMA_VERSION = 3
_CACHE_TABLES = ("uploads", "tables", "results")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    epoch TEXT, kind TEXT, items_digest BLOB, merkle_root BLOB,
    elements BLOB, item_order BLOB, signed_manifest BLOB,
    PRIMARY KEY (epoch, kind));
CREATE TABLE IF NOT EXISTS tables (
    epoch TEXT, kind TEXT, peer TEXT, merkle_root BLOB, tokens BLOB,
    PRIMARY KEY (epoch, kind, peer, merkle_root));
CREATE TABLE IF NOT EXISTS results (
    epoch TEXT, kind TEXT, peer TEXT, own_root BLOB, peer_root BLOB,
    positions BLOB, PRIMARY KEY (epoch, kind, peer, own_root, peer_root));
"""


class StateError(LabmatchError):
    """The lab directory's state cannot be used (locked, unreadable)."""


PADDING = -1


@dataclass(frozen=True)
class CachedUpload:
    # Digests and blinded points stay out of the repr (and so of logs).
    items_digest: bytes = field(repr=False)
    merkle_root: bytes = field(repr=False)
    elements: list[bytes] = field(repr=False)  # sorted, padding included
    order: list[int] = field(repr=False)  # item index, or PADDING
    signed_manifest: bytes = field(default=b"", repr=False)


def _pack_indexes(values: list[int]) -> bytes:
    return array("i", values).tobytes()


def _unpack_indexes(data: bytes) -> list[int]:
    out = array("i")
    out.frombytes(data)
    return out.tolist()


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


class LabState:
    """Open with ``with LabState(directory) as state:``; holds the lock."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock_fd: int | None = None
        self._db: sqlite3.Connection | None = None

    def __enter__(self) -> LabState:
        self._lock()
        try:
            path = self.directory / DB_FILE
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            self._db = sqlite3.connect(path)
            self._migrate(self._db)
        except (OSError, sqlite3.Error) as exc:
            self._unlock()
            raise StateError(f"{self.directory / DB_FILE}: cannot open "
                             f"the lab state ({exc})") from None
        return self

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            with db:
                for table in _CACHE_TABLES:
                    db.execute(f"DROP TABLE IF EXISTS {table}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.executescript(_SCHEMA)

    def __exit__(self, *exc_info) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._unlock()

    def _lock(self) -> None:
        path = self.directory / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateError(f"{path}: another sync of this lab is "
                             f"running") from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StateError("lab state is not open")
        return self._db

    def seed(self) -> bytes:
        """The lab's blinding seed, created (0600) on first use.

        A new seed is written whole to a temporary file and then linked
        into place, so a crash never leaves a short seed behind and two
        first runs cannot make two seeds.
        """
        path = self.directory / SEED_FILE
        if not path.exists():
            self._create_seed(path)
        seed = path.read_bytes()
        if len(seed) != SEED_BYTES:
            raise StateError(f"{path}: the blinding seed is damaged "
                             f"(wrong length)")
        return seed

    @staticmethod
    def _create_seed(path: Path) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".seed.", dir=path.parent)
        try:
            os.write(fd, new_seed())
            os.fsync(fd)
            os.close(fd)
            fd = -1
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            if fd >= 0:
                os.close(fd)
            os.unlink(tmp)

    # -- cached uploads -------------------------------------------------

    def upload(self, epoch: str, kind: str) -> CachedUpload | None:
        row = self.db.execute(
            "SELECT items_digest, merkle_root, elements, item_order, "
            "signed_manifest FROM uploads WHERE epoch = ? AND kind = ?",
            (epoch, kind)).fetchone()
        if row is None:
            return None
        return CachedUpload(row[0], row[1], _split(row[2], 32),
                            _unpack_indexes(row[3]), row[4] or b"")

    def save_upload(self, epoch: str, kind: str, up: CachedUpload) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?)",
                (epoch, kind, up.items_digest, up.merkle_root,
                 b"".join(up.elements), _pack_indexes(up.order),
                 up.signed_manifest))

    def save_signed_manifest(self, epoch: str, kind: str,
                             signed: bytes) -> None:
        """Keep the manifest so an interrupted upload can resume."""
        with self.db:
            self.db.execute(
                "UPDATE uploads SET signed_manifest = ? WHERE epoch = ? "
                "AND kind = ?", (signed, epoch, kind))

    # -- token tables over peers' uploads -------------------------------

    def table(self, epoch: str, kind: str, peer: str,
              merkle_root: bytes) -> list[bytes] | None:
        row = self.db.execute(
            "SELECT tokens FROM tables WHERE epoch = ? AND kind = ? "
            "AND peer = ? AND merkle_root = ?",
            (epoch, kind, peer, merkle_root)).fetchone()
        return None if row is None else _split(row[0], 16)

    def table_roots(self, epoch: str, kind: str, peer: str) -> list[bytes]:
        """Merkle roots of every upload of ``peer`` this lab evaluated."""
        rows = self.db.execute(
            "SELECT merkle_root FROM tables WHERE epoch = ? AND kind = ? "
            "AND peer = ?", (epoch, kind, peer)).fetchall()
        return [row[0] for row in rows]

    def save_table(self, epoch: str, kind: str, peer: str,
                   merkle_root: bytes, tokens: list[bytes]) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO tables VALUES (?, ?, ?, ?, ?)",
                (epoch, kind, peer, merkle_root, b"".join(tokens)))

    # -- matched positions ----------------------------------------------

    def result(self, epoch: str, kind: str, peer: str, own_root: bytes,
               peer_root: bytes) -> list[int] | None:
        row = self.db.execute(
            "SELECT positions FROM results WHERE epoch = ? AND kind = ? "
            "AND peer = ? AND own_root = ? AND peer_root = ?",
            (epoch, kind, peer, own_root, peer_root)).fetchone()
        return None if row is None else _unpack_indexes(row[0])

    def save_result(self, epoch: str, kind: str, peer: str,
                    own_root: bytes, peer_root: bytes,
                    positions: list[int]) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?)",
                (epoch, kind, peer, own_root, peer_root,
                 _pack_indexes(positions)))
