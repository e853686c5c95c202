"""labmatch's core round beside OpenMined PSI on the same two sets.

OpenMined's `openmined.psi` pins an older protobuf than labmatch's gRPC
code needs, so run this in a separate virtual environment that holds only
the pure core's dependencies:

    python3 -m venv /tmp/benchvenv
    /tmp/benchvenv/bin/pip install rbcl pynacl idna openmined.psi
    /tmp/benchvenv/bin/pip install --no-deps -e .
    /tmp/benchvenv/bin/python bench/vs_openmined.py [--items 20000]

Both sides compute a one-directional intersection of two sets of
``items`` strings overlapping by half, in one process, CPU time only:

- OpenMined PSI (ECDH over P-256, intersection revealed, no Bloom or
  GCS compression): server setup, client request, server response,
  client intersection;
- labmatch: hash-to-group and blind both sets, the peer evaluates the
  owner's upload into pair-labelled tokens, seal and open the list, and
  the owner computes its own tokens over the peer's set and matches.
  Those owner tokens are exactly what the owner returns to the peer, so
  the same work lets both sides learn (symmetric reveal) for one more
  sealing.

DESIGN's target: labmatch at least 2.5x faster. One run, ratios only.
"""
from __future__ import annotations

import argparse
import sys
import time

from labmatch.psi.encoding import text_message
from pure_round import pure_round

KIND = "domain.name.c1"


def sets(n: int) -> tuple[list[str], list[str]]:
    return ([f"d{i}.example.com" for i in range(n)],
            [f"d{i}.example.com" for i in range(n // 2, n + n // 2)])


def openmined(owner: list[str], peer: list[str]) -> tuple[float, int]:
    import private_set_intersection.python as psi

    t = time.process_time()
    client = psi.client.CreateWithNewKey(True)
    server = psi.server.CreateWithNewKey(True)
    setup = server.CreateSetupMessage(1e-9, len(owner), peer,
                                      psi.DataStructure.RAW)
    request = client.CreateRequest(owner)
    response = server.ProcessRequest(request)
    found = client.GetIntersection(setup, response)

    return time.process_time() - t, len(found)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=20000)
    args = ap.parse_args()
    owner, peer = sets(args.items)
    om, om_found = openmined(owner, peer)
    lm, lm_found = pure_round([text_message(v) for v in owner],
                              [text_message(v) for v in peer], KIND)
    assert om_found == lm_found == args.items - args.items // 2
    print(f"items per set: {args.items}, intersection: {lm_found}")
    print(f"openmined.psi (P-256, one side learns):   {om:7.2f} s CPU")
    print(f"labmatch core (ristretto255, in-process): {lm:7.2f} s CPU  "
          f"{om / lm:.2f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
