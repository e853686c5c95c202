"""`labmatch sync --wait` rides out a coordinator that is briefly down."""
from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_wait_retries_until_coordinator_is_back(harness, read_output):
    """Syncs started while the coordinator is down finish once it is up."""
    h = harness
    rows = [("domain", "shared-one.example.com", "r1")]
    inputs = {lab: h.write_input(f"{lab}.csv", rows) for lab in ("a", "b")}
    inputs["c"] = h.write_input("c.csv", [])
    outputs = {lab: h.output_path(f"{lab}.out.csv") for lab in inputs}
    h.stop_server()

    procs = {lab: h.popen_sync(lab, inputs[lab], outputs[lab],
                               "--wait", "90")
             for lab in inputs}
    time.sleep(4)
    h.start_server()
    results = {lab: h.collect(["sync", lab], proc)
               for lab, proc in procs.items()}

    for lab, (code, _, err) in results.items():
        assert code == 0, (lab, err[-2000:])
    assert [r[2:] for r in read_output(outputs["a"])] == [
        ("r1", "exact", "b")]
