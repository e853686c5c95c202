"""Frozen golden vectors for labmatch's own DSTs (protocol.md 10.7 item 4).

``vectors/golden.json`` freezes, for consortium id ``0123456789abcdef``:
the full DST of each kind code; for a few inputs per kind, the message
bytes built by ``encoding.ip_message`` / ``encoding.text_message`` and the
resulting ``hash_to_group`` element; one ``TokenLabel`` token; one
``EpochKey.derive`` public key; and one blinded/double-blinded/token chain.
What is frozen is the byte encoding and the hashing, not whether an input
would pass canonicalisation (2001:db8::/32 is a documentation range).

Every lab must compute these bytes identically for years. If one of these
tests fails, the protocol has changed: do not "fix" the file.

Regenerating (only together with a protocol-version bump in the DSTs,
because every previously issued token stops matching)::

    .venv/bin/python tests/core/test_golden.py --write

``generate_golden`` below is that generator. The tests never call it: they
recompute each value independently from the stored inputs.
"""
from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path

import pytest

from labmatch.psi import encoding, hashing
from labmatch.psi.keys import EpochKey
from labmatch.psi.tokens import TokenLabel

GOLDEN_PATH = Path(__file__).parent / "vectors" / "golden.json"
REQUIRED_KINDS = ("ip4.addr.c1", "ip6.addr.c1", "domain.name.c1",
                  "wallet.addr.c1")


def message_for(kind: str, spec: dict) -> bytes:
    """The canonical message bytes for a golden input description."""
    if "ip" in spec:
        addr = ipaddress.ip_address(spec["ip"])
        return encoding.ip_message(addr.version, addr.max_prefixlen,
                                   addr.packed)
    return encoding.text_message(spec["text"])


# --------------------------------------------------------------------------
# GENERATOR -- run by hand only, never by the test suite.
# Regenerating golden.json is a protocol change (see module docstring).
# --------------------------------------------------------------------------
GOLDEN_CONSORTIUM = "0123456789abcdef"
GOLDEN_INPUTS = [
    ("ip4.addr.c1", {"ip": "81.2.69.5"}),
    ("ip4.addr.c1", {"ip": "192.0.2.1"}),
    ("ip4.addr.c1", {"ip": "10.0.0.0"}),
    ("ip6.addr.c1", {"ip": "2001:db8::1"}),
    ("ip6.addr.c1", {"ip": "2a00:1450:4001:82a::200e"}),
    ("domain.name.c1", {"text": "example.com"}),
    ("domain.name.c1", {"text": "stra\u00dfe.example"}),
    ("domain.name.c1", {"text": ""}),
    ("wallet.addr.c1", {"text": "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"}),
    ("wallet.addr.c1",
     {"text": "0x52908400098527886E0F7030069857D2E4169EE7"}),
]
GOLDEN_SEED_A = bytes(range(32))
GOLDEN_SEED_B = bytes(range(32, 64))
GOLDEN_EPOCH = "2024-06-01"


def generate_golden() -> dict:
    """Compute golden.json from the current code (protocol change!)."""
    cid = GOLDEN_CONSORTIUM
    kinds = sorted({kind for kind, _ in GOLDEN_INPUTS})
    vectors = []
    for kind, spec in GOLDEN_INPUTS:
        message = message_for(kind, spec)
        element = hashing.hash_to_group(message, hashing.kind_dst(cid, kind))
        vectors.append({"kind": kind, "input": spec,
                        "message": message.hex(), "element": element.hex()})

    kind = "ip4.addr.c1"
    h = hashing.HashToGroup(cid, kind)
    element = h(message_for(kind, {"ip": "81.2.69.5"}))
    key_a = EpochKey.derive(GOLDEN_SEED_A, consortium_id=cid, lab="lab-a",
                            epoch=GOLDEN_EPOCH, kind=kind)
    key_b = EpochKey.derive(GOLDEN_SEED_B, consortium_id=cid, lab="lab-b",
                            epoch=GOLDEN_EPOCH, kind=kind)
    label = TokenLabel(consortium_id=cid, lab_a="lab-a", lab_b="lab-b",
                       epoch=GOLDEN_EPOCH, kind=kind)
    blinded = key_a.multiply(element)
    double = key_b.multiply(blinded)
    return {
        "about": ("Frozen golden vectors for labmatch DSTs. Generated once "
                  "by generate_golden() in tests/core/test_golden.py. "
                  "Regenerating is a protocol change: bump the protocol "
                  "version in the DSTs first."),
        "consortium_id": cid,
        "dsts": {k: hashing.kind_dst(cid, k).decode("ascii") for k in kinds},
        "hash_to_group": vectors,
        "token": {"consortium_id": cid, "lab_a": "lab-a", "lab_b": "lab-b",
                  "epoch": GOLDEN_EPOCH, "kind": kind,
                  "element": element.hex(),
                  "token": label.token(element).hex()},
        "epoch_key": {"seed": GOLDEN_SEED_A.hex(), "consortium_id": cid,
                      "lab": "lab-a", "epoch": GOLDEN_EPOCH, "kind": kind,
                      "public_key": key_a.public_key().hex()},
        "round": {"consortium_id": cid, "epoch": GOLDEN_EPOCH, "kind": kind,
                  "input": {"ip": "81.2.69.5"},
                  "seed_a": GOLDEN_SEED_A.hex(), "lab_a": "lab-a",
                  "seed_b": GOLDEN_SEED_B.hex(), "lab_b": "lab-b",
                  "blinded_by_a": blinded.hex(),
                  "double_blinded": double.hex(),
                  "token": label.token(double).hex()},
    }


if __name__ == "__main__":  # pragma: no cover - manual regeneration only
    if "--write" not in sys.argv[1:]:
        print(json.dumps(generate_golden(), indent=2))
        sys.exit("dry run; pass --write to overwrite golden.json "
                 "(a protocol change)")
    GOLDEN_PATH.write_text(json.dumps(generate_golden(), indent=2) + "\n")
    print(f"wrote {GOLDEN_PATH}")
    sys.exit(0)
# ---------------------------- end of generator ----------------------------


GOLDEN = json.loads(GOLDEN_PATH.read_text())


class TestGoldenDst:
    def test_kind_dst_ip4_addr_c1_full_string_literal(self):
        """The ip4.addr.c1 DST is exactly this ASCII string."""
        assert hashing.kind_dst("0123456789abcdef", "ip4.addr.c1") == (
            b"LABMATCH-V1-CS01-ristretto255_XMD:SHA-512_R255MAP_RO_"
            b"-0123456789abcdef-ip4.addr.c1")

    @pytest.mark.parametrize("kind", sorted(GOLDEN["dsts"]))
    def test_kind_dst_golden_kind_matches_frozen_string(self, kind):
        """Every kind's DST equals the frozen string."""
        assert (hashing.kind_dst(GOLDEN["consortium_id"], kind).decode()
                == GOLDEN["dsts"][kind])

    def test_golden_file_required_kinds_all_covered(self):
        """The file holds DSTs and vectors for all four kind codes."""
        assert set(REQUIRED_KINDS) <= set(GOLDEN["dsts"])
        assert set(REQUIRED_KINDS) <= {v["kind"]
                                       for v in GOLDEN["hash_to_group"]}


class TestGoldenHashToGroup:
    def test_golden_message_layout_literal_bytes(self):
        """Tag 0x01, family, prefix length, packed address; tag 0x02, u16
        length, UTF-8."""
        assert message_for("ip4.addr.c1", {"ip": "81.2.69.5"}) == bytes(
            [0x01, 4, 32, 81, 2, 69, 5])
        assert message_for("domain.name.c1", {"text": "example.com"}) == (
            b"\x02\x00\x0bexample.com")

    @pytest.mark.parametrize(
        "vector", GOLDEN["hash_to_group"],
        ids=[f"{v['kind']}-{next(iter(v['input'].values())) or 'empty'}"
             for v in GOLDEN["hash_to_group"]])
    def test_golden_input_message_encoding_frozen(self, vector):
        """ip_message / text_message still build the frozen bytes."""
        assert (message_for(vector["kind"], vector["input"]).hex()
                == vector["message"])

    @pytest.mark.parametrize(
        "vector", GOLDEN["hash_to_group"],
        ids=[f"{v['kind']}-{next(iter(v['input'].values())) or 'empty'}"
             for v in GOLDEN["hash_to_group"]])
    def test_golden_message_hash_to_group_frozen(self, vector):
        """H_K(message) under the consortium's DST is the frozen element."""
        h = hashing.HashToGroup(GOLDEN["consortium_id"], vector["kind"])
        assert h(bytes.fromhex(vector["message"])).hex() == vector["element"]


class TestGoldenKeysAndTokens:
    def test_golden_token_label_token_frozen(self):
        """TokenLabel(...).token(element) is the frozen 16-byte τ."""
        t = GOLDEN["token"]
        label = TokenLabel(consortium_id=t["consortium_id"],
                           lab_a=t["lab_a"], lab_b=t["lab_b"],
                           epoch=t["epoch"], kind=t["kind"])
        assert label.token(bytes.fromhex(t["element"])).hex() == t["token"]

    def test_golden_epoch_key_derive_public_key_frozen(self):
        """EpochKey.derive from the fixed seed gives the frozen k·G."""
        k = GOLDEN["epoch_key"]
        key = EpochKey.derive(bytes.fromhex(k["seed"]),
                              consortium_id=k["consortium_id"], lab=k["lab"],
                              epoch=k["epoch"], kind=k["kind"])
        assert key.public_key().hex() == k["public_key"]

    def test_golden_round_chain_blind_evaluate_token_frozen(self):
        """a·H(x), b·a·H(x) and its τ for fixed seeds are frozen."""
        r = GOLDEN["round"]
        common = dict(consortium_id=r["consortium_id"], epoch=r["epoch"],
                      kind=r["kind"])
        key_a = EpochKey.derive(bytes.fromhex(r["seed_a"]), lab=r["lab_a"],
                                **common)
        key_b = EpochKey.derive(bytes.fromhex(r["seed_b"]), lab=r["lab_b"],
                                **common)
        h = hashing.HashToGroup(r["consortium_id"], r["kind"])
        blinded = key_a.multiply(h(message_for(r["kind"], r["input"])))
        assert blinded.hex() == r["blinded_by_a"]
        double = key_b.multiply(blinded)
        assert double.hex() == r["double_blinded"]
        # Built from B's side on purpose: the pair label is order-free.
        label = TokenLabel(lab_a=r["lab_b"], lab_b=r["lab_a"], **common)
        assert label.token(double).hex() == r["token"]
