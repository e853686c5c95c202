"""``labmatch demo`` end to end, as a user runs it."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

LABMATCH = Path(sys.executable).parent / "labmatch"
LABS = ("a", "b", "c")


def _demo(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.run([str(LABMATCH), "demo", *args],
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout, env=env)


def _table(stdout: str) -> dict[str, dict[str, int]]:
    """The per-lab table: lab -> {column: number}."""
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        cols = line.split()
        if cols[:1] == ["lab"] and "false+" in cols and "false-" in cols:
            break
    else:
        pytest.fail(f"no table with false+/false- columns:\n{stdout}")
    table = {}
    for row in lines[i + 1:]:
        cells = row.split()
        if len(cells) != len(cols) or cells[0] not in LABS:
            continue
        table[cells[0]] = {c: int(v) for c, v in zip(cols[1:], cells[1:])}
    assert sorted(table) == list(LABS), stdout
    return table


def _assert_exact(table: dict[str, dict[str, int]]) -> None:
    for lab, cols in table.items():
        assert cols["false+"] == 0, (lab, cols)
        assert cols["false-"] == 0, (lab, cols)
        assert cols["planted"] > 0, (lab, cols)
        assert cols["found"] == cols["planted"], (lab, cols)


def test_demo_generated(tmp_path, expected_outputs, check_output):
    """``demo --size 200`` exits 0 with 0 false positives and negatives
    for a, b and c, and its kept outputs equal the plaintext truth."""
    keep = tmp_path / "demo"
    p = _demo("--size", "200", "--keep", str(keep))

    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    _assert_exact(_table(p.stdout))

    # Independently of the demo's own check: generated values are already
    # canonical, so the truth is plain equality of (kind, value) (and of
    # the /24 for IPv4 cells).
    holdings = {}
    for lab in LABS:
        with open(keep / f"{lab}.csv", newline="", encoding="utf-8") as f:
            holdings[lab] = [(r["kind"], r["value"], r["ref"])
                             for r in csv.DictReader(f)]
    expected = expected_outputs(holdings)
    for lab in LABS:
        check_output(keep / f"{lab}.matches.csv", expected[lab])


def test_demo_public_data(public_data):
    """``demo --data`` on the real public lists exits 0 with 0 false
    positives and negatives."""
    p = _demo("--data", str(public_data))

    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    _assert_exact(_table(p.stdout))
