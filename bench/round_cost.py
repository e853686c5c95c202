"""Per-item CPU cost of a two-lab round against the libsodium primitives.

    .venv/bin/python bench/round_cost.py [--items 20000]

Measures, in one run on this machine:

1. the primitives a round cannot avoid, per item and per lab: one
   hash-to-group (expand_message_xmd + element derivation) and two
   scalar multiplications (blind own item, evaluate the peer's);
2. the pure core round for two labs (blind, evaluate both ways, seal,
   open, match), per item and per lab;
3. the same round through the real stack: a coordinator process on
   SQLite and two `labmatch sync` runs per lab over loopback mTLS
   (process CPU time of the syncs, read from resource usage).

It prints the ratios (2)/(1) and (3)/(1); DESIGN's target for the core
is an overhead under 15 %. Timing on shared 2-core machines is noisy:
compare ratios from one run, not seconds across runs.
"""
from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labmatch.psi import group
from labmatch.psi.encoding import ip_message
from labmatch.psi.hashing import HashToGroup
from labmatch.psi.keys import EpochKey, new_seed
from pure_round import pure_round

CID = "0123456789abcdef"
EPOCH = "2026-12-04"
KIND = "ip4.addr.c1"


def addresses(start: int, n: int) -> list[str]:
    base = (81 << 24) + start
    return [".".join(str((base + i) >> s & 255) for s in (24, 16, 8, 0))
            for i in range(n)]


def messages(values: list[str]) -> list[bytes]:
    return [ip_message(4, 32, bytes(int(p) for p in v.split(".")))
            for v in values]


def cpu() -> float:
    return time.process_time()


def primitives(msgs: list[bytes]) -> float:
    h2g = HashToGroup(CID, KIND)
    key = EpochKey.derive(new_seed(), consortium_id=CID, lab="a",
                          epoch=EPOCH, kind=KIND)
    t = cpu()
    points = [h2g(m) for m in msgs]
    t_hash = cpu() - t
    t = cpu()
    for p in points:
        group.scalarmult(key._scalar, p)
    t_mult = cpu() - t

    return (t_hash + 2 * t_mult) / len(msgs)


def core_round(msgs_a: list[bytes], msgs_b: list[bytes]) -> float:
    elapsed, _ = pure_round(msgs_a, msgs_b, KIND)
    return elapsed / (len(msgs_a) + len(msgs_b))


def stack_round(values_a: list[str], values_b: list[str]) -> float:
    exe = str(Path(sys.executable).parent / "labmatch")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([exe, "consortium", "init", str(tmp / "c"),
                        "--labs", "a,b"], check=True,
                       capture_output=True)
        for lab, values in (("a", values_a), ("b", values_b)):
            with open(tmp / f"{lab}.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["kind", "value", "ref"])
                w.writerows(["ip", v, str(i)] for i, v in enumerate(values))
        server = subprocess.Popen(
            [exe, "serve", "--consortium", str(tmp / "c/consortium.toml"),
             "--listen", "127.0.0.1:0",
             "--store", f"sqlite:{tmp / 'coord.sqlite3'}"],
            stderr=subprocess.PIPE, text=True)
        address = None
        while address is None:
            line = server.stderr.readline()
            if not line:
                raise SystemExit("coordinator did not start")
            if line.startswith("listening on "):
                address = line.split()[-1]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            for _ in (1, 2):
                for lab in ("a", "b"):
                    subprocess.run(
                        [exe, "sync", "--lab", str(tmp / "c/labs" / lab),
                         "--input", str(tmp / f"{lab}.csv"), "--output",
                         str(tmp / f"{lab}.out"), "--coordinator", address,
                         "-q"], check=False)
        finally:
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            server.terminate()
            server.wait(15)
    used = (after.ru_utime + after.ru_stime) - (before.ru_utime
                                                + before.ru_stime)
    return used / (len(values_a) + len(values_b))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=20000)
    args = ap.parse_args()
    n = args.items
    values_a = addresses(0, n)
    values_b = addresses(n // 2, n)
    base = primitives(messages(values_a))
    core = core_round(messages(values_a), messages(values_b))
    stack = stack_round(values_a, values_b)
    print(f"items per lab: {n}, cpu count: {os.cpu_count()}")
    print(f"primitives per item:  {base * 1e6:8.1f} us "
          f"(1 hash-to-group + 2 scalar multiplications)")
    print(f"core round per item:  {core * 1e6:8.1f} us  "
          f"ratio {core / base:.2f}")
    print(f"full stack per item:  {stack * 1e6:8.1f} us  "
          f"ratio {stack / base:.2f} (two sync passes, CLI start-up "
          f"included; coordinator CPU not counted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
