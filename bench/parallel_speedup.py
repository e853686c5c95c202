"""Speed-up of blinding and evaluation by worker processes.

    .venv/bin/python bench/parallel_speedup.py [--items 100000]

Blinds ``items`` messages and evaluates the resulting upload with one
worker (in-process) and with one worker per CPU, and prints the ratio of
wall times. DESIGN's target on 2 cores is at least 1.8x. Compare ratios
from one run: these machines are shared and noisy.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from labmatch.client.parallel import Crypto
from labmatch.psi.encoding import text_message

CID = "0123456789abcdef"
KIND = "domain.name.c1"


def run(workers: int, messages: list[bytes]) -> tuple[float, float]:
    with Crypto(bytes(32), consortium_id=CID, lab="a", epoch="2026-12-04",
                workers=workers) as crypto:
        if workers > 1:   # start the pool outside the timed part
            crypto.blind(KIND, messages[:20_000], lambda d, n: None)
        t = time.perf_counter()
        blinded = crypto.blind(KIND, messages, lambda d, n: None)
        t_blind = time.perf_counter() - t
        upload = sorted(blinded)
        t = time.perf_counter()
        crypto.evaluate(KIND, "b", upload, lambda d, n: None)
        t_eval = time.perf_counter() - t
    return t_blind, t_eval


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=100_000)
    args = ap.parse_args()
    messages = [text_message(f"d{i}.example.com") for i in range(args.items)]
    cpus = os.cpu_count() or 1
    one = run(1, messages)
    many = run(cpus, messages)
    print(f"items: {args.items}, workers: 1 vs {cpus}")
    for name, a, b in (("blind", one[0], many[0]),
                       ("evaluate", one[1], many[1])):
        print(f"{name:<9} {a:7.2f} s vs {b:7.2f} s  speed-up {a / b:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
