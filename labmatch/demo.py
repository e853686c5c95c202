"""``labmatch demo``: a coordinator and three labs, end to end, in one go.

The coordinator runs as a child process on the embedded SQLite store, on a
free loopback port; the labs sync in this process, twice in turn (a, b, c,
then again), exactly as three separate ``labmatch sync`` runs would. Each
lab's output is then checked against the plaintext truth and the counts
are printed: found, planted, false positives, false negatives. No
identifier is printed.

Generated data plants overlaps between every pair and all three labs;
``--data DIR`` takes the labs' lists as overlapping random halves of the
real public lists in DIR: IP addresses, CIDR ranges, domains, wallets and
organisation names (each sampled to ``--size`` values).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from labmatch.client.consortium import init_consortium
from labmatch.client.run import SyncOptions, run_sync
from labmatch.psi.errors import IdentifierRefused
from labmatch.psi.identifiers import canonicalise

__all__ = ["run_demo"]

LABS = ("a", "b", "c")
# (kind, file, CSV column or None for one value per line)
PUBLIC_LISTS = (
    ("ip", "tor_exit_nodes.txt", None),
    ("ip", "ip_blocklist_ipsum.tsv", None),
    ("cidr", "vpn_cidr_ipv4.txt", None),
    ("cidr", "vpn_cidr_ipv6.txt", None),
    ("domain", "disposable_email_domains.txt", None),
    ("wallet", "ofac_digital_currency_addresses.csv", "address"),
    ("org", "ofac_sdn_entities.csv", "sdn_name"),
    ("org", "sec_company_names.csv", "name"),
)
START_TIMEOUT = 30.0
SEED = 20261204


# -- data -------------------------------------------------------------


def _public_ip(rng: random.Random) -> str:
    # 81.0.0.0/8 to 95.0.0.0/8 hold no reserved or private ranges.
    return ".".join(str(n) for n in (
        rng.randint(81, 95), rng.randint(0, 255), rng.randint(0, 255),
        rng.randint(1, 254)))


def _domain(rng: random.Random) -> str:
    word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz")
                   for _ in range(10))
    return f"{word}.{rng.choice(['com', 'net', 'io', 'org'])}"


def _wallet(rng: random.Random) -> str:
    return "0x" + "".join(rng.choice("0123456789abcdef") for _ in range(40))


GENERATORS = {"ip": _public_ip, "domain": _domain, "wallet": _wallet}


def generated_holdings(size: int, rng: random.Random):
    """Per lab (kind, value) rows; a fifth of each kind is planted shared.

    Of the shared part, a third is held by all three labs and the rest by
    one pair each (a–b, a–c, b–c); everything else is private to one lab.
    """
    holdings: dict[str, list[tuple[str, str]]] = {lab: [] for lab in LABS}
    groups = [("a", "b", "c"), ("a", "b"), ("a", "c"), ("b", "c")]
    for kind, make in GENERATORS.items():
        seen: set[str] = set()

        def fresh() -> str:
            while (value := make(rng)) in seen:
                pass
            seen.add(value)
            return value

        shared = size // 5
        for i in range(shared):
            value = fresh()
            for lab in groups[i % len(groups)]:
                holdings[lab].append((kind, value))
        for lab in LABS:
            for _ in range(size - shared):
                holdings[lab].append((kind, fresh()))
    for rows in holdings.values():
        rng.shuffle(rows)
    return holdings


def _read_list(path: Path, column: str | None) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: public list not found")
    if column is not None:
        with open(path, newline="", encoding="utf-8") as f:
            return [row[column] for row in csv.DictReader(f)]
    values = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            values.append(line.split()[0])
    return values


def public_holdings(directory: Path, size: int, rng: random.Random):
    """Each lab holds each listed value with probability 1/2.

    Every list is sampled down to ``size`` values first, so the demo
    stays quick; ranges and addresses from different lists meet in /24,
    /48 and /64 cells as they do in the real data.
    """
    holdings: dict[str, list[tuple[str, str]]] = {lab: [] for lab in LABS}
    for kind, name, column in PUBLIC_LISTS:
        values = _read_list(directory / name, column)
        if len(values) > size:
            values = rng.sample(values, size)
        for value in values:
            for lab in LABS:
                if rng.random() < 0.5:
                    holdings[lab].append((kind, value))
    for rows in holdings.values():
        rng.shuffle(rows)
    return holdings


def _items(kind: str, value: str):
    try:
        return canonicalise(kind, value)
    except IdentifierRefused:
        return ()


def truth(holdings) -> dict[str, set[tuple[str, str, str]]]:
    """Per lab, the (ref, level, peers) rows a perfect matcher reports."""
    owners: dict[tuple[str, bytes], set[str]] = defaultdict(set)
    items = {}
    for lab, rows in holdings.items():
        for i, (kind, value) in enumerate(rows):
            items[(lab, i)] = _items(kind, value)
            for item in items[(lab, i)]:
                owners[(item.kind, item.message)].add(lab)
    expected: dict[str, set[tuple[str, str, str]]] = {}
    for lab, rows in holdings.items():
        expected[lab] = set()
        for i in range(len(rows)):
            peers: dict[str, set[str]] = defaultdict(set)
            for item in items[(lab, i)]:
                peers[item.level] |= owners[(item.kind, item.message)] - {lab}
            for level, names in peers.items():
                if names:
                    expected[lab].add((f"{lab}-{i:06d}", level,
                                       ";".join(sorted(names))))
    return expected


def write_inputs(directory: Path, holdings) -> dict[str, Path]:
    paths = {}
    for lab, rows in holdings.items():
        path = directory / f"{lab}.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["kind", "value", "ref"])
            for i, (kind, value) in enumerate(rows):
                writer.writerow([kind, value, f"{lab}-{i:06d}"])
        paths[lab] = path
    return paths


# -- the coordinator as a child process -------------------------------


def start_coordinator(consortium_file: Path, store: str):
    proc = subprocess.Popen(
        [sys.executable, "-m", "labmatch.cli", "serve", "--consortium",
         str(consortium_file), "--listen", "127.0.0.1:0", "--store", store],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + START_TIMEOUT
    lines = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("listening on "):
            return proc, line.split()[-1]
    proc.kill()
    raise RuntimeError("the coordinator did not start:\n" + "".join(lines))


def stop_coordinator(proc) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


# -- the run ----------------------------------------------------------


def _read_output(path: Path) -> set[tuple[str, str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return {(r["ref"], r["level"], r["peers"])
                for r in csv.DictReader(f)}


def run_demo(data: Path | None = None, size: int = 2000,
             keep: Path | None = None, out=sys.stdout) -> int:
    rng = random.Random(SEED)
    workdir = Path(tempfile.mkdtemp(prefix="labmatch-demo-")) \
        if keep is None else keep
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        holdings = (public_holdings(data, size, rng) if data is not None
                    else generated_holdings(size, rng))
        return _run(workdir, holdings, out,
                    "public lists" if data else "generated data")
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"labmatch demo: {exc}", file=sys.stderr)
        return 1
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(workdir: Path, holdings, out, source: str) -> int:
    started = time.monotonic()
    epoch = dt.datetime.now(dt.UTC).date().isoformat()
    cdir = workdir / "consortium"
    init_consortium(cdir, list(LABS), force=cdir.exists())
    inputs = write_inputs(workdir, holdings)
    expected = truth(holdings)
    store = f"sqlite:{workdir / 'coordinator.sqlite3'}"
    proc, address = start_coordinator(cdir / "consortium.toml", store)
    print(f"labmatch demo: 3 labs on {source}, coordinator {address} "
          f"(SQLite store), epoch {epoch}", file=out)
    codes = {}
    try:
        for attempt in (1, 2):
            for lab in LABS:
                codes[lab] = _sync(cdir, lab, inputs[lab], workdir,
                                   address, epoch)
            print(f"pass {attempt}: exit codes "
                  + ", ".join(f"{lab}={codes[lab]}" for lab in LABS),
                  file=out)
    finally:
        stop_coordinator(proc)
    return _report(workdir, holdings, expected, codes, out, started)


def _sync(cdir: Path, lab: str, input_path: Path, workdir: Path,
          address: str, epoch: str) -> int:
    log = io.StringIO()
    code = run_sync(SyncOptions(
        lab_dir=cdir / "labs" / lab, inputs=[input_path],
        output=workdir / f"{lab}.matches.csv", coordinator=address,
        epoch=epoch, quiet=True), stderr=log)
    if code not in (0, 75):
        print(log.getvalue(), file=sys.stderr, end="")
    return code


def _report(workdir, holdings, expected, codes, out, started) -> int:
    header = f"{'lab':<4}{'rows':>8}{'found':>8}{'planted':>9}" \
             f"{'false+':>8}{'false-':>8}"
    print(header, file=out)
    ok = all(code == 0 for code in codes.values())
    for lab in LABS:
        got = _read_output(workdir / f"{lab}.matches.csv")
        fp = len(got - expected[lab])
        fn = len(expected[lab] - got)
        ok &= fp == 0 and fn == 0
        print(f"{lab:<4}{len(holdings[lab]):>8}{len(got):>8}"
              f"{len(expected[lab]):>9}{fp:>8}{fn:>8}", file=out)
    verdict = "every lab found exactly the planted overlaps" if ok \
        else "MISMATCH: see the counts above"
    print(f"{verdict} ({time.monotonic() - started:.1f} s)", file=out)
    return 0 if ok else 1
