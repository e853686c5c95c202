"""The distribution's shape: import names, entry point, generated code."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import labmatch

REPO = Path(__file__).resolve().parent.parent


class TestImportNames:
    @pytest.mark.parametrize("name", ["psi", "server", "client"])
    def test_bare_top_level_name_not_importable(self, name):
        """Only labmatch.psi/server/client exist; bare names never leak."""
        assert importlib.util.find_spec(name) is None

    @pytest.mark.parametrize("name", ["labmatch.psi", "labmatch.server",
                                      "labmatch.client"])
    def test_namespaced_subpackage_importable(self, name):
        """Each part of the design is importable under labmatch."""
        assert importlib.util.find_spec(name) is not None

    def test_lab_side_import_does_not_load_redis_or_server(self):
        """A billing system embedding the lab side never loads redis."""
        code = ("import sys, labmatch.client.run, labmatch.client.sync; "
                "bad = [m for m in sys.modules if m == 'redis' "
                "or m.startswith('labmatch.server')]; print(bad)")
        out = subprocess.run([sys.executable, "-c", code], check=True,
                             capture_output=True, text=True).stdout
        assert out.strip() == "[]"


class TestCommand:
    def test_version_matches_package(self):
        """`labmatch --version` prints the package version."""
        exe = Path(sys.executable).parent / "labmatch"
        out = subprocess.run([str(exe), "--version"], check=True,
                             capture_output=True, text=True).stdout
        assert out.strip() == f"labmatch {labmatch.__version__}"

    def test_help_shows_examples(self):
        """`labmatch --help` lists every command with examples."""
        exe = Path(sys.executable).parent / "labmatch"
        out = subprocess.run([str(exe), "--help"], check=True,
                             capture_output=True, text=True).stdout
        for word in ("examples:", "demo", "consortium", "serve", "sync"):
            assert word in out


class TestGeneratedCode:
    def test_generated_protobuf_matches_proto_sources(self):
        """labmatch/_proto is exactly what scripts/gen_proto.py makes."""
        pytest.importorskip("grpc_tools")
        result = subprocess.run(
            [sys.executable, str(REPO / "scripts" / "gen_proto.py"),
             "--check"], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


class TestUsageErrors:
    @pytest.mark.parametrize("workers", ["0", "-2", "many"])
    def test_sync_bad_workers_usage_error(self, workers):
        """`--workers` below one or not a number is a usage error (2)."""
        exe = Path(sys.executable).parent / "labmatch"
        result = subprocess.run(
            [str(exe), "sync", "--lab", "x", "--input", "x", "--output",
             "x", "--workers", workers], capture_output=True, text=True)
        assert result.returncode == 2
        assert "--workers" in result.stderr
