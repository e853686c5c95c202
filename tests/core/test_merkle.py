"""SHA-256 Merkle roots over chunk digests (labmatch.psi.merkle), and the
frozen trust-protocol vectors (protocol.md 10.7 item 14).

The tamper matrix: changing, appending, removing, reordering, duplicating
or splitting any leaf of trees of every size up to 33 changes the root.
Roots are also compared with an independent bottom-up construction (pair
neighbours level by level, promote the odd last node), which gives the
RFC 6962 tree hash, so the recursive split in the module is checked by a
second algorithm rather than by itself.

``vectors/trust_golden.json`` freezes the signed-bytes prefix of each
message type, the empty root and a root over a fixed list, padding
elements for a fixed (seed, consortium, lab, epoch, kind) and padded_size
for a table of n. ``generate_trust_golden`` below is the generator; the
tests never call it. Regenerating is a protocol change::

    .venv/bin/python tests/core/test_merkle.py --write
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labmatch.psi import merkle, padding, signing

GOLDEN_PATH = Path(__file__).parent / "vectors" / "trust_golden.json"


# --------------------------------------------------------------------------
# GENERATOR -- run by hand only, never by the test suite.
# Regenerating trust_golden.json is a protocol change.
# --------------------------------------------------------------------------
GOLDEN_LEAVES = [hashlib.sha256(bytes([i])).digest() for i in range(5)]
GOLDEN_PAD = dict(seed=bytes(range(32)), consortium_id="0123456789abcdef",
                  lab="lab-a", epoch="2024-06-01", kind="ip4.addr.c1")
GOLDEN_PAD_COUNT = 4
GOLDEN_SIZES = [0, 1, 15, 16, 17, 20, 21, 24, 25, 28, 29, 32, 33, 100,
                1000, 4096, 4097, 1 << 20, (1 << 20) + 1, 1 << 24]


def generate_trust_golden() -> dict:
    """Compute trust_golden.json from the current code (protocol change!)."""
    seed = GOLDEN_PAD["seed"]
    ids = {k: v for k, v in GOLDEN_PAD.items() if k != "seed"}
    return {
        "about": ("Frozen vectors of the trust protocol (signing, Merkle, "
                  "padding). Generated once by generate_trust_golden() in "
                  "tests/core/test_merkle.py. Regenerating is a protocol "
                  "change: bump the protocol version first."),
        "signed_bytes_prefix": {
            t: signing.signed_bytes(t, b"").hex()
            for t in sorted(signing.MESSAGE_TYPES)},
        "merkle": {
            "empty_root": merkle.EMPTY_ROOT.hex(),
            "leaves": [leaf.hex() for leaf in GOLDEN_LEAVES],
            "root": merkle.merkle_root(GOLDEN_LEAVES).hex(),
        },
        "padding_elements": {
            "seed": seed.hex(), **ids,
            "elements": [e.hex() for e in padding.padding_elements(
                seed, count=GOLDEN_PAD_COUNT, **ids)],
        },
        "padded_size": [[n, padding.padded_size(n)] for n in GOLDEN_SIZES],
    }


if __name__ == "__main__":  # pragma: no cover - manual regeneration only
    if "--write" not in sys.argv[1:]:
        print(json.dumps(generate_trust_golden(), indent=2))
        sys.exit("dry run; pass --write to overwrite trust_golden.json "
                 "(a protocol change)")
    GOLDEN_PATH.write_text(json.dumps(generate_trust_golden(), indent=2)
                           + "\n")
    print(f"wrote {GOLDEN_PATH}")
    sys.exit(0)
# ---------------------------- end of generator ----------------------------


GOLDEN = json.loads(GOLDEN_PATH.read_text())["merkle"]


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def reference_root(leaves: list[bytes]) -> bytes:
    """Bottom-up RFC 6962 tree hash, written independently of the module."""
    if not leaves:
        return sha(b"LABMATCH-V1-MERKLE")
    level = [sha(b"\x00" + leaf) for leaf in leaves]
    while len(level) > 1:
        paired = [sha(b"\x01" + level[i] + level[i + 1])
                  for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def digests(n: int, tag: int = 0) -> list[bytes]:
    return [sha(bytes([tag]) + i.to_bytes(4, "big")) for i in range(n)]


SIZES = list(range(1, 34))
leaf_lists = st.lists(st.binary(max_size=40), min_size=1, max_size=40)


class TestEmptyAndSingle:
    def test_empty_root_is_fixed_labelled_hash(self):
        """The root over no leaves is SHA-256 of the Merkle label."""
        assert merkle.EMPTY_ROOT == sha(b"LABMATCH-V1-MERKLE")
        assert merkle.merkle_root([]) == merkle.EMPTY_ROOT

    def test_empty_root_matches_frozen_vector(self):
        """The empty root equals the frozen vector."""
        assert merkle.merkle_root([]).hex() == GOLDEN["empty_root"]

    def test_empty_root_differs_from_single_empty_leaf(self):
        """No leaves and one empty leaf give different roots."""
        assert merkle.merkle_root([b""]) != merkle.merkle_root([])

    def test_single_leaf_root_equals_leaf_hash(self):
        """A one-leaf tree's root is that leaf's hash."""
        leaf = b"chunk digest"
        assert merkle.merkle_root([leaf]) == merkle.leaf_hash(leaf)

    def test_leaf_hash_prefix_is_zero_byte(self):
        """A leaf hash is SHA-256 of 0x00 followed by the leaf."""
        assert merkle.leaf_hash(b"abc") == sha(b"\x00abc")

    def test_single_leaf_root_never_equals_raw_digest(self):
        """A one-leaf root is not the unprefixed SHA-256 of the leaf."""
        assert merkle.merkle_root([b"abc"]) != sha(b"abc")


class TestMerkleRootStructure:
    def test_two_leaves_root_is_node_of_leaf_hashes(self):
        """Two leaves hash to SHA-256(0x01 ‖ leaf hash ‖ leaf hash)."""
        a, b = b"a", b"b"
        expected = sha(b"\x01" + merkle.leaf_hash(a) + merkle.leaf_hash(b))
        assert merkle.merkle_root([a, b]) == expected

    def test_three_leaves_odd_last_is_promoted(self):
        """Three leaves: the third leaf's hash joins the first pair's node."""
        a, b, c = b"a", b"b", b"c"
        left = sha(b"\x01" + merkle.leaf_hash(a) + merkle.leaf_hash(b))
        expected = sha(b"\x01" + left + merkle.leaf_hash(c))
        assert merkle.merkle_root([a, b, c]) == expected

    @pytest.mark.parametrize("n", SIZES)
    def test_root_any_count_matches_bottom_up_reference(self, n):
        """Every count up to 33 (odd ones included) gives the RFC 6962 root."""
        leaves = digests(n)
        assert merkle.merkle_root(leaves) == reference_root(leaves)

    def test_root_fixed_list_matches_frozen_vector(self):
        """The root over the frozen five leaves equals the frozen root."""
        leaves = [bytes.fromhex(h) for h in GOLDEN["leaves"]]
        assert len(leaves) == 5
        assert merkle.merkle_root(leaves).hex() == GOLDEN["root"]

    @settings(max_examples=100, deadline=None)
    @given(leaf_lists)
    def test_root_any_leaves_matches_reference(self, leaves):
        """Arbitrary leaf bytes give the reference root (property)."""
        assert merkle.merkle_root(leaves) == reference_root(leaves)

    @settings(max_examples=50, deadline=None)
    @given(leaf_lists)
    def test_root_same_leaves_deterministic(self, leaves):
        """The same leaves always give the same 32-byte root (property)."""
        first = merkle.merkle_root(leaves)
        assert merkle.merkle_root(list(leaves)) == first
        assert merkle.merkle_root(tuple(leaves)) == first
        assert len(first) == 32

    def test_root_does_not_mutate_input(self):
        """Computing a root leaves the caller's list unchanged."""
        leaves = digests(7)
        before = list(leaves)
        merkle.merkle_root(leaves)
        assert leaves == before


class TestMerkleTamperMatrix:
    @pytest.mark.parametrize("n", SIZES)
    def test_change_any_leaf_root_changes(self, n):
        """Flipping one bit of any leaf, at any position, changes the root."""
        leaves = digests(n)
        root = merkle.merkle_root(leaves)
        for i in range(n):
            for byte in (0, 31):
                changed = list(leaves)
                leaf = bytearray(changed[i])
                leaf[byte] ^= 0x01
                changed[i] = bytes(leaf)
                assert merkle.merkle_root(changed) != root, (i, byte)

    @pytest.mark.parametrize("n", SIZES)
    def test_append_leaf_root_changes(self, n):
        """Appending a leaf (new or a repeat of the last) changes the root."""
        leaves = digests(n)
        root = merkle.merkle_root(leaves)
        assert merkle.merkle_root(leaves + [sha(b"new")]) != root
        assert merkle.merkle_root(leaves + [leaves[-1]]) != root

    @pytest.mark.parametrize("n", SIZES)
    def test_remove_any_leaf_root_changes(self, n):
        """Removing any one leaf changes the root."""
        leaves = digests(n)
        root = merkle.merkle_root(leaves)
        for i in range(n):
            assert merkle.merkle_root(leaves[:i] + leaves[i + 1:]) != root, i

    @pytest.mark.parametrize("n", SIZES[1:])
    def test_swap_any_two_leaves_root_changes(self, n):
        """Swapping any two distinct leaves changes the root."""
        leaves = digests(n)
        root = merkle.merkle_root(leaves)
        for i in range(n):
            for j in range(i + 1, n):
                swapped = list(leaves)
                swapped[i], swapped[j] = swapped[j], swapped[i]
                assert merkle.merkle_root(swapped) != root, (i, j)

    @pytest.mark.parametrize("n", SIZES[1:])
    def test_reverse_leaves_root_changes(self, n):
        """Reversing the leaves changes the root."""
        leaves = digests(n)
        assert merkle.merkle_root(leaves[::-1]) != merkle.merkle_root(leaves)

    @pytest.mark.parametrize("n", SIZES)
    def test_duplicate_any_leaf_root_changes(self, n):
        """Inserting a copy of any leaf next to it changes the root."""
        leaves = digests(n)
        root = merkle.merkle_root(leaves)
        for i in range(n):
            dup = leaves[:i + 1] + [leaves[i]] + leaves[i + 1:]
            assert merkle.merkle_root(dup) != root, i

    @pytest.mark.parametrize("n", [2, 3, 4, 5, 8])
    def test_truncate_to_prefix_root_changes(self, n):
        """Any proper prefix of the leaves has a different root."""
        leaves = digests(n)
        root = merkle.merkle_root(leaves)
        for k in range(n):
            assert merkle.merkle_root(leaves[:k]) != root, k

    def test_concatenated_leaves_root_differs_from_split(self):
        """One leaf a‖b and two leaves a, b give different roots."""
        a, b = sha(b"a"), sha(b"b")
        assert merkle.merkle_root([a + b]) != merkle.merkle_root([a, b])

    @settings(max_examples=100, deadline=None)
    @given(leaf_lists, st.data())
    def test_change_random_leaf_root_changes(self, leaves, data):
        """Replacing any leaf by other bytes changes the root (property)."""
        i = data.draw(st.integers(0, len(leaves) - 1))
        new = data.draw(st.binary(max_size=40).filter(
            lambda b: b != leaves[i]))
        changed = list(leaves)
        changed[i] = new
        assert merkle.merkle_root(changed) != merkle.merkle_root(leaves)

    @settings(max_examples=100, deadline=None)
    @given(st.lists(st.binary(min_size=1, max_size=8), min_size=2,
                    max_size=12, unique=True), st.randoms())
    def test_permute_distinct_leaves_root_changes(self, leaves, rnd):
        """Any non-identity permutation of distinct leaves changes the root."""
        permuted = list(leaves)
        rnd.shuffle(permuted)
        if permuted == leaves:
            permuted = leaves[1:] + leaves[:1]
        assert merkle.merkle_root(permuted) != merkle.merkle_root(leaves)


class TestDomainSeparation:
    @settings(max_examples=100, deadline=None)
    @given(st.binary(max_size=64), st.binary(max_size=64))
    def test_two_leaf_root_never_equals_leaf_hash_of_node_bytes(self, x, y):
        """A root over [x, y] never equals the leaf hash of its node bytes."""
        node_bytes = merkle.leaf_hash(x) + merkle.leaf_hash(y)
        root = merkle.merkle_root([x, y])
        assert root != merkle.leaf_hash(node_bytes)
        assert root != merkle.merkle_root([node_bytes])

    @settings(max_examples=50, deadline=None)
    @given(st.binary(max_size=64), st.binary(max_size=64))
    def test_leaf_hash_never_equals_node_of_same_bytes(self, x, y):
        """Hashing node bytes as a leaf differs from hashing them as a node."""
        node_bytes = merkle.leaf_hash(x) + merkle.leaf_hash(y)
        assert merkle.leaf_hash(node_bytes) != sha(b"\x01" + node_bytes)

    def test_four_leaf_root_differs_from_two_leaves_of_inner_nodes(self):
        """Inner nodes given as leaves do not reproduce the root."""
        leaves = digests(4)
        left = sha(b"\x01" + merkle.leaf_hash(leaves[0])
                   + merkle.leaf_hash(leaves[1]))
        right = sha(b"\x01" + merkle.leaf_hash(leaves[2])
                    + merkle.leaf_hash(leaves[3]))
        assert merkle.merkle_root([left, right]) != merkle.merkle_root(leaves)

    def test_leaf_equal_to_empty_label_root_differs_from_empty_root(self):
        """A leaf spelling the Merkle label does not give the empty root."""
        assert merkle.merkle_root([b"LABMATCH-V1-MERKLE"]) != merkle.EMPTY_ROOT
