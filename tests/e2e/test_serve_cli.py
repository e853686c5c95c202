"""`labmatch serve` and `sync` refuse what they cannot do, at once, saying
why: a busy port, an unreachable store, a missing output directory."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

LABMATCH = Path(sys.executable).parent / "labmatch"


def serve(consortium_file: Path, listen: str, store: str):
    return subprocess.run(
        [str(LABMATCH), "serve", "--consortium", str(consortium_file),
         "--listen", listen, "--store", store],
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=30)


@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_second_coordinator_on_busy_port_refused(harness):
    """A second coordinator on the first one's port exits 1, naming it."""
    h = harness
    listen = f"127.0.0.1:{h.port}"
    result = serve(h.consortium_file, listen, f"sqlite:{h.tmp / 'x.db'}")
    assert result.returncode == 1
    assert f"cannot listen on {listen}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_unreachable_store_refused_at_start(harness, unused_port):
    """A Redis nobody listens on is refused before `listening on`."""
    h = harness
    result = serve(h.consortium_file, f"127.0.0.1:{unused_port}",
                   f"redis://127.0.0.1:{unused_port}/9")
    assert result.returncode == 1
    assert "cannot use the store" in result.stderr
    assert "listening on" not in result.stderr


@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_missing_output_directory_refused_first(harness):
    """Sync names a missing output directory and does no work (exit 2)."""
    h = harness
    path = h.write_input("a.csv", [("domain", "x-first.example.com", "r")])
    code, _, err = h.sync("a", path, h.tmp / "nowhere" / "out.csv")
    assert code == 2
    assert "does not exist" in err
    assert not (h.lab_dir("a") / "state.sqlite3").exists()


@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_lab_with_outdated_consortium_file_warns_not_crashes(harness):
    """A lab whose consortium.toml predates a new member still syncs with
    the peers it knows and says which file to install."""
    h = harness
    own = h.lab_dir("a") / "consortium.toml"
    text = own.read_text()
    head, _, rest = text.partition('[labs."c"]')
    tail = rest.split("\n\n", 1)[1] if "\n\n" in rest else ""
    own.write_text(head.rstrip() + "\n\n" + tail)
    rows = [("domain", "known-peer.example.com", "r")]
    inputs = {lab: h.write_input(f"{lab}.csv", rows) for lab in "abc"}
    outputs = {lab: h.output_path(f"{lab}.out.csv") for lab in "abc"}

    results = h.run_passes(inputs, outputs)

    code, _, err = results[-1]["a"]
    assert code == 75, err[-2000:]
    assert "Traceback" not in err
    assert "does not pin (c)" in err
    assert "known-peer" not in err
    assert (outputs["a"].read_text().splitlines()[1:]
            == ["domain,known-peer.example.com,r,exact,b"])
