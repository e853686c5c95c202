"""``labmatch sync`` end to end: separate processes over loopback.

Expected outputs are computed from the plaintext sets (plain equality of
already-canonical values), never taken from labmatch itself.
"""
from __future__ import annotations

import importlib.metadata
import ipaddress
import random
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

LABS = ("a", "b", "c")


def _paths(h, holdings, prefix=""):
    inputs = {lab: h.write_input(f"{prefix}{lab}.csv", holdings[lab])
              for lab in LABS}
    outputs = {lab: h.output_path(f"{prefix}{lab}.out.csv") for lab in LABS}
    return inputs, outputs


def _codes(result):
    return {lab: code for lab, (code, _, _) in result.items()}


def _assert_pass_codes(results):
    first, second = results[0], results[-1]
    assert all(code in (0, 75) for code in _codes(first).values()), \
        {lab: (code, err[-2000:]) for lab, (code, _, err) in first.items()}
    assert _codes(second) == {lab: 0 for lab in LABS}, \
        {lab: (code, err[-2000:]) for lab, (code, _, err) in second.items()}


def _exact(rows):
    return [row for row in rows if row[3] == "exact"]


def _summary(stderr: str) -> dict[str, str]:
    out = {}
    for line in stderr.splitlines():
        m = re.fullmatch(r"([a-z_]+(?:\.[A-Za-z0-9_.-]+)?): (\S+)", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _public_ipv4(rng: random.Random) -> str:
    # 81.0.0.0/8 .. 95.0.0.0/8 hold no special-purpose range.
    ip = ipaddress.IPv4Address(
        (rng.randint(81, 95) << 24) | (rng.randrange(1 << 16) << 8)
        | rng.randint(1, 254))
    assert ip.is_global
    return str(ip)


# 1 ---------------------------------------------------------------------

def test_three_labs_real_lists_exact(harness, overlapping_holdings,
                                     expected_outputs, check_output):
    """Three labs on overlapping subsets of the real lists: after two
    passes every lab's output is exactly the plaintext truth, in input
    order, refs kept, header and line endings as documented."""
    h = harness
    holdings = overlapping_holdings(seed=20261204)
    expected = expected_outputs(holdings)
    # The data must exercise one-peer and two-peer rows for every lab.
    for lab in LABS:
        peers = {row[4] for row in expected[lab] if row[3] == "exact"}
        assert len(peers) == 3, (lab, peers)
    inputs, outputs = _paths(h, holdings)

    results = h.run_passes(inputs, outputs, passes=2)

    _assert_pass_codes(results)
    for lab in LABS:
        got = check_output(outputs[lab], expected[lab])
        data = outputs[lab].read_bytes()
        assert data.startswith(b"kind,value,ref,level,peers\n")
        summary = _summary(results[1][lab][2])
        assert summary.get("status") == "complete"
        assert summary.get("output_rows") == str(len(got))
        assert summary.get("rows_read") == str(len(holdings[lab]))


# 2 ---------------------------------------------------------------------

@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_three_labs_concurrent_wait(harness, overlapping_holdings,
                                    expected_outputs, check_output):
    """Three labs started at once with --wait 120 all exit 0 with exactly
    the expected outputs."""
    h = harness
    holdings = overlapping_holdings(seed=7, per_kind=120)
    expected = expected_outputs(holdings)
    inputs, outputs = _paths(h, holdings)

    procs = {lab: (h.sync_argv(lab, inputs[lab], outputs[lab],
                               "--wait", "120"),
                   h.popen_sync(lab, inputs[lab], outputs[lab],
                                "--wait", "120"))
             for lab in LABS}
    results = {lab: h.collect(argv, proc, timeout=150)
               for lab, (argv, proc) in procs.items()}

    assert _codes(results) == {lab: 0 for lab in LABS}, \
        {lab: err[-2000:] for lab, (_, _, err) in results.items()}
    for lab in LABS:
        check_output(outputs[lab], expected[lab])


# 3 ---------------------------------------------------------------------

def test_empty_inputs(harness):
    """Header-only inputs for every lab: pass 2 exits 0 and every output
    is exactly the header."""
    h = harness
    inputs, outputs = _paths(h, {lab: [] for lab in LABS})

    results = h.run_passes(inputs, outputs, passes=2)

    _assert_pass_codes(results)
    for lab in LABS:
        assert outputs[lab].read_bytes() == b"kind,value,ref,level,peers\n"


# 4 ---------------------------------------------------------------------

@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_disjoint_sets_match_nothing(harness, public_values,
                                     expected_outputs, check_output):
    """Three disjoint sets (no shared /24 either): every output has the
    header and no row."""
    h = harness
    rng = random.Random(41)
    one_per_cell = {}
    for ip in public_values["ip"]:
        one_per_cell.setdefault(ip.rsplit(".", 1)[0], ip)
    pools = dict(public_values, ip=sorted(one_per_cell.values()))
    holdings = {lab: [] for lab in LABS}
    for kind, values in pools.items():
        chosen = rng.sample(values, 90)
        for i, value in enumerate(chosen):
            lab = LABS[i % 3]
            holdings[lab].append((kind, value, f"{lab}{i}"))
    for rows in holdings.values():
        rng.shuffle(rows)
    assert all(rows == [] for rows in expected_outputs(holdings).values())
    inputs, outputs = _paths(h, holdings)

    _assert_pass_codes(h.run_passes(inputs, outputs))

    for lab in LABS:
        assert check_output(outputs[lab], []) == []


@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_one_shared_item(harness, public_values, expected_outputs,
                         check_output):
    """Otherwise disjoint sets sharing one domain between a and c: exactly
    that row for a and c, nothing for b."""
    h = harness
    rng = random.Random(42)
    pool = rng.sample(public_values["domain"], 61)
    shared = pool.pop()
    holdings = {lab: [("domain", v, f"{lab}-{i}")
                      for i, v in enumerate(pool[k::3])]
                for k, lab in enumerate(LABS)}
    holdings["a"].insert(7, ("domain", shared, "a-shared"))
    holdings["c"].insert(3, ("domain", shared, "c-shared"))
    expected = expected_outputs(holdings)
    assert expected == {
        "a": [("domain", shared, "a-shared", "exact", "c")],
        "b": [],
        "c": [("domain", shared, "c-shared", "exact", "a")]}
    inputs, outputs = _paths(h, holdings)

    _assert_pass_codes(h.run_passes(inputs, outputs))

    for lab in LABS:
        check_output(outputs[lab], expected[lab])


@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_set_against_its_copy(harness, public_values, expected_outputs,
                              check_output):
    """Labs a and b hold the same values (different refs): every row of
    both matches the other; c (disjoint) matches nothing."""
    h = harness
    rng = random.Random(43)
    rows = []
    for kind, values in public_values.items():
        rows += [(kind, v) for v in rng.sample(values, 50)]
    rng.shuffle(rows)
    holdings = {
        "a": [(k, v, f"A{i}") for i, (k, v) in enumerate(rows)],
        "b": [(k, v, f"B{i}") for i, (k, v) in enumerate(rows)],
        "c": [("ip", _public_ipv4(rng), "C0")],
    }
    holdings["c"] = [r for r in holdings["c"]
                     if (r[0], r[1]) not in set(rows)]
    expected = expected_outputs(holdings)
    assert len(_exact(expected["a"])) == len(_exact(expected["b"])) \
        == len(rows)
    inputs, outputs = _paths(h, holdings)

    _assert_pass_codes(h.run_passes(inputs, outputs))

    for lab in LABS:
        check_output(outputs[lab], expected[lab])


@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_odd_sizes_generated_ipv4(harness, expected_outputs, check_output):
    """6,789 against 7,890 generated public IPv4 addresses with a seeded
    overlap (c empty): exactly the overlap matches, in input order."""
    h = harness
    rng = random.Random(44)
    overlap_size = rng.randint(1500, 3500)
    pool: set[str] = set()
    while len(pool) < 6789 + 7890 - overlap_size:
        pool.add(_public_ipv4(rng))
    pool_list = sorted(pool)
    rng.shuffle(pool_list)
    shared = pool_list[:overlap_size]
    only_a = pool_list[overlap_size:6789]
    only_b = pool_list[6789:]
    a_values, b_values = shared + only_a, shared + only_b
    rng.shuffle(a_values)
    rng.shuffle(b_values)
    assert (len(a_values), len(b_values)) == (6789, 7890)
    holdings = {
        "a": [("ip", v, f"a{i}") for i, v in enumerate(a_values)],
        "b": [("ip", v, f"b{i}") for i, v in enumerate(b_values)],
        "c": [],
    }
    expected = expected_outputs(holdings)
    assert len(_exact(expected["a"])) == len(_exact(expected["b"])) \
        == overlap_size
    inputs, outputs = _paths(h, holdings)

    _assert_pass_codes(h.run_passes(inputs, outputs))

    for lab in LABS:
        check_output(outputs[lab], expected[lab])


@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_same_item_twice_keeps_both_refs(harness, public_values,
                                         expected_outputs, check_output):
    """A value listed twice with different refs is one item whose match
    gives both rows, each with its own ref, in input order."""
    h = harness
    rng = random.Random(45)
    ip, domain, wallet = (rng.choice(public_values[k])
                          for k in ("ip", "domain", "wallet"))
    holdings = {
        "a": [("ip", ip, "first"), ("wallet", wallet, "w1"),
              ("domain", domain, "d-only-a"), ("ip", ip, "second"),
              ("wallet", wallet, "w2")],
        "b": [("wallet", wallet, "bw"), ("ip", ip, "b-ip")],
        "c": [("ip", ip, "c-ip"), ("ip", ip, "c-ip-again")],
    }
    expected = expected_outputs(holdings)
    assert [r[2] for r in _exact(expected["a"])] == \
        ["first", "w1", "second", "w2"]
    inputs, outputs = _paths(h, holdings)

    _assert_pass_codes(h.run_passes(inputs, outputs))

    for lab in LABS:
        check_output(outputs[lab], expected[lab])


# 5 ---------------------------------------------------------------------

def test_repeat_run_and_changed_input(harness, overlapping_holdings,
                                      expected_outputs, check_output):
    """Pass 3 with the same input rewrites byte-identical output and exits
    0; a different input in the same epoch exits 1 saying it differs and
    leaves the earlier output untouched."""
    h = harness
    holdings = overlapping_holdings(seed=5, per_kind=60)
    expected = expected_outputs(holdings)
    inputs, outputs = _paths(h, holdings)
    _assert_pass_codes(h.run_passes(inputs, outputs))
    before = {lab: outputs[lab].read_bytes() for lab in LABS}
    for lab in LABS:
        check_output(outputs[lab], expected[lab])

    third = h.run_passes(inputs, outputs, passes=1)[0]

    assert _codes(third) == {lab: 0 for lab in LABS}
    for lab in LABS:
        assert outputs[lab].read_bytes() == before[lab]

    changed = h.write_input("a-changed.csv", holdings["a"][:-1])
    code, _, err = h.sync("a", changed, outputs["a"])
    assert code == 1, err[-2000:]
    assert re.search(r"\bdiffer(ent|s)?\b", err), err[-2000:]
    assert outputs["a"].read_bytes() == before["a"]
    # Still the earlier input is accepted afterwards.
    code, _, err = h.sync("a", inputs["a"], outputs["a"])
    assert code == 0, err[-2000:]
    assert outputs["a"].read_bytes() == before["a"]


# 6 ---------------------------------------------------------------------

@pytest.mark.kinds("ip,domain,wallet")
@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_bad_rows_reported_skipped_counted(harness, public_values,
                                           expected_outputs, check_output):
    """Bad rows (private and documentation IPs, kinds this consortium does
    not match, invalid UTF-8) are reported by file and line without their
    values, skipped and counted with the blank line; good rows still
    match; --strict exits 2."""
    h = harness
    rng = random.Random(46)
    good_ip = rng.choice(public_values["ip"])
    good_domain = rng.choice(public_values["domain"])
    bad_values = ["10.1.2.3", "192.0.2.5", "zq-person@mailbox-x7.test",
                  "+44 20 7946 0958", "qx7-not"]
    path = h.tmp / "a-bad.csv"
    path.write_bytes(
        b"kind,value,ref\n"                                   # 1
        + f"ip,{good_ip},g1\n".encode()                       # 2
        + b"ip,10.1.2.3,r3\n"                                 # 3
        + b"ip,192.0.2.5,r4\n"                                # 4
        + b"email,zq-person@mailbox-x7.test,r5\n"             # 5
        + b"domain,qx7-not\xff\xfeutf8.com,r6\n"              # 6
        + b"\n"                                               # 7
        + b"phone,+44 20 7946 0958,r8\n"                      # 8
        + f"domain,{good_domain},g9\n".encode())              # 9
    bad_lines = (3, 4, 5, 6, 8)
    holdings = {"a": [("ip", good_ip, "g1"), ("domain", good_domain, "g9")],
                "b": [("ip", good_ip, "b1"), ("domain", good_domain, "b2")],
                "c": []}
    expected = expected_outputs(holdings)
    inputs = {"a": path,
              "b": h.write_input("b.csv", holdings["b"]),
              "c": h.write_input("c.csv", [])}
    outputs = {lab: h.output_path(f"{lab}.out.csv") for lab in LABS}

    results = h.run_passes(inputs, outputs)

    _assert_pass_codes(results)
    for run in results:
        code, out, err = run["a"]
        assert code in (0, 75)
        lines = err.splitlines()
        for number in bad_lines:
            hits = [ln for ln in lines if str(path) in ln and re.search(
                rf"\b{number}\b", ln.replace(str(path), ""))]
            assert hits, f"no stderr line names {path} line {number}:\n{err}"
        assert any("kind not supported yet" in ln and str(path) in ln
                   for ln in lines), err
        for value in bad_values:
            assert value not in err and value not in out, value
        assert "mailbox-x7" not in err and "7946" not in err
        summary = _summary(err)
        assert summary.get("rows_read") == "7", err
        assert summary.get("rows_skipped") == "5", err
        assert summary.get("rows_blank") == "1", err
        skipped = sum(int(v) for k, v in summary.items()
                      if k.startswith("skipped."))
        assert skipped == 5, err
    check_output(outputs["a"], expected["a"])

    strict_out = h.output_path("a-strict.out.csv")
    code, _, err = h.sync("a", path, strict_out, "--strict")
    assert code == 2, err[-2000:]
    assert not strict_out.exists()
    for value in bad_values:
        assert value not in err


# 7 ---------------------------------------------------------------------

def test_usage_version_help(tmp_path):
    """Missing --output is a usage error (2); --version prints the
    version; --help shows examples."""
    import subprocess
    import sys

    exe = str(Path(sys.executable).parent / "labmatch")
    inp = tmp_path / "in.csv"
    inp.write_text("kind,value,ref\n")
    p = subprocess.run([exe, "sync", "--lab", str(tmp_path), "--input",
                        str(inp)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2
    assert "--output" in p.stderr

    p = subprocess.run([exe, "--version"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0
    version = importlib.metadata.version("labmatch")
    assert re.fullmatch(r"\d+(\.\d+)+\S*", version)
    assert version in p.stdout + p.stderr

    p = subprocess.run([exe, "--help"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0
    assert "examples" in p.stdout


# 8 ---------------------------------------------------------------------

def test_fresh_coordinator_same_labs(harness, overlapping_holdings,
                                     expected_outputs, check_output):
    """A new coordinator on an empty store with the same lab directories:
    the labs sync again and write identical outputs."""
    h = harness
    holdings = overlapping_holdings(seed=8, per_kind=80)
    expected = expected_outputs(holdings)
    inputs, outputs = _paths(h, holdings)
    _assert_pass_codes(h.run_passes(inputs, outputs))
    before = {lab: outputs[lab].read_bytes() for lab in LABS}
    for lab in LABS:
        check_output(outputs[lab], expected[lab])
        outputs[lab].unlink()

    h.restart_fresh()
    if h.store == "redis":
        import redis

        client = redis.Redis.from_url(h.store_url)
        assert client.dbsize() == 0
        client.close()
    results = h.run_passes(inputs, outputs)

    _assert_pass_codes(results)
    for lab in LABS:
        assert outputs[lab].read_bytes() == before[lab]
