"""The lab's local state: seed, lock and caches."""
from __future__ import annotations

import os
import stat

import pytest

from labmatch.client.state import CachedUpload, LabState, StateError


class TestSeed:
    def test_seed_created_on_first_use_with_mode_0600(self, tmp_path):
        """The first sync makes a 32-byte seed readable by the owner only."""
        with LabState(tmp_path) as state:
            seed = state.seed()
        mode = stat.S_IMODE(os.stat(tmp_path / "seed.key").st_mode)
        assert len(seed) == 32 and mode == 0o600

    def test_seed_reused_across_opens(self, tmp_path):
        """Later syncs read the same seed rather than making a new one."""
        with LabState(tmp_path) as state:
            first = state.seed()
        with LabState(tmp_path) as state:
            assert state.seed() == first

    def test_seed_creation_leaves_no_temporary_file(self, tmp_path):
        """Only seed.key remains of writing a new seed."""
        with LabState(tmp_path) as state:
            state.seed()
        assert not list(tmp_path.glob(".seed.*"))

    def test_damaged_seed_refused_naming_file(self, tmp_path):
        """A seed of the wrong length is an error naming the file."""
        (tmp_path / "seed.key").write_bytes(b"short")
        with LabState(tmp_path) as state, pytest.raises(StateError) as err:
            state.seed()
        assert "seed.key" in str(err.value)


class TestLock:
    def test_second_open_of_same_lab_refused(self, tmp_path):
        """Two syncs of one lab cannot overlap."""
        with LabState(tmp_path):
            with pytest.raises(StateError, match="another sync"):
                LabState(tmp_path).__enter__()

    def test_lock_released_after_close(self, tmp_path):
        """Once a sync ends, the next one can start."""
        with LabState(tmp_path):
            pass
        with LabState(tmp_path) as state:
            assert state.db is not None


class TestCaches:
    def test_upload_round_trip(self, tmp_path):
        """A cached upload comes back with the same elements and order."""
        up = CachedUpload(b"i" * 32, b"u" * 32,
                          [bytes([n]) * 32 for n in range(5)],
                          [4, 2, 0, 1, 3])
        with LabState(tmp_path) as state:
            state.save_upload("2026-12-04", "ip4.addr.c1", up)
            assert state.upload("2026-12-04", "ip4.addr.c1") == up
            assert state.upload("2026-12-05", "ip4.addr.c1") is None

    def test_table_keyed_by_peer_upload_root(self, tmp_path):
        """Tokens over one peer upload are not reused for another."""
        tokens = [bytes([n]) * 16 for n in range(3)]
        with LabState(tmp_path) as state:
            state.save_table("e", "k", "b", b"d1", tokens)
            assert state.table("e", "k", "b", b"d1") == tokens
            assert state.table("e", "k", "b", b"d2") is None

    def test_state_database_mode_0600(self, tmp_path):
        """The state database is readable by the owner only."""
        with LabState(tmp_path):
            pass
        mode = stat.S_IMODE(os.stat(tmp_path / "state.sqlite3").st_mode)
        assert mode == 0o600
