"""Size classes and padding elements (labmatch.psi.padding; protocol.md
10.1 size classes and 10.7 item 10).

padded_size is checked against the class list written out independently
(m · 2^j for m in 4..7) and by hypothesis properties: at least n, at least
MIN_PADDED, monotone, idempotent on class values, at most 25 % overhead
from n = 16 on. padding_elements is checked for determinism per (seed,
consortium, lab, epoch, kind, index), a change in any of them, validity
as group elements and no collision with real blinded items. Frozen
vectors live in ``vectors/trust_golden.json`` (generator in
test_merkle.py).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labmatch.psi import group, hashing, padding
from labmatch.psi.keys import EpochKey
from labmatch.psi.manifest import MAX_UPLOAD_ELEMENTS
from labmatch.psi.rounds import blind_upload, check_upload

GOLDEN = json.loads(
    (Path(__file__).parent / "vectors" / "trust_golden.json").read_text())

# Every size class up to 2^26, written out independently of the module.
CLASSES = sorted({m << j for j in range(2, 25) for m in (4, 5, 6, 7)
                  if m << j >= padding.MIN_PADDED})

SEED = bytes(range(32))
IDS = dict(consortium_id="0123456789abcdef", lab="lab-a",
           epoch="2024-06-01", kind="ip4.addr.c1")

sizes = st.integers(min_value=0, max_value=1 << 26)


def pad(count: int = 8, seed: bytes = SEED, **changes) -> list[bytes]:
    return padding.padding_elements(seed, count=count, **{**IDS, **changes})


class TestPaddedSize:
    def test_min_padded_is_sixteen(self):
        """The smallest class is 16 items."""
        assert padding.MIN_PADDED == 16

    @pytest.mark.parametrize("n", [0, 1, 2, 8, 15, 16])
    def test_padded_size_small_sets_get_min_padded(self, n):
        """Sets of at most MIN_PADDED items are padded to MIN_PADDED."""
        assert padding.padded_size(n) == padding.MIN_PADDED

    @pytest.mark.parametrize("n, expected", [
        (17, 20), (20, 20), (21, 24), (24, 24), (25, 28), (28, 28),
        (29, 32), (32, 32), (33, 40), (40, 40), (41, 48), (49, 56),
        (57, 64), (65, 80), (100, 112), (1000, 1024), (1025, 1280),
    ])
    def test_padded_size_table_next_class(self, n, expected):
        """Hand-computed sizes are the next 2^j·{1, 1.25, 1.5, 1.75} class."""
        assert padding.padded_size(n) == expected

    def test_padded_size_matches_frozen_table(self):
        """Every frozen (n, padded_size) pair still holds."""
        table = GOLDEN["padded_size"]
        assert len(table) >= 10
        for n, size in table:
            assert padding.padded_size(n) == size, n

    def test_padded_size_range_values_exactly_the_classes(self):
        """Over n in 0..70 000 the values taken are exactly the classes."""
        seen = {padding.padded_size(n) for n in range(70_001)}
        assert seen == {c for c in CLASSES if c <= padding.padded_size(70_000)}

    @pytest.mark.parametrize("c", CLASSES)
    def test_padded_size_class_value_fixed_and_next_is_next_class(self, c):
        """A class value pads to itself and one more item to the next class."""
        assert padding.padded_size(c) == c
        i = CLASSES.index(c)
        if i + 1 < len(CLASSES):
            assert padding.padded_size(c + 1) == CLASSES[i + 1]

    def test_padded_size_upload_cap_is_a_class(self):
        """The upload cap 2^24 is itself a class (no padding beyond it)."""
        assert padding.padded_size(MAX_UPLOAD_ELEMENTS) == MAX_UPLOAD_ELEMENTS

    @pytest.mark.parametrize("n", [-1, -16, -(1 << 40)])
    def test_padded_size_negative_raises_value_error(self, n):
        """A negative set size is a ValueError."""
        with pytest.raises(ValueError, match="not negative"):
            padding.padded_size(n)

    @settings(max_examples=300, deadline=None)
    @given(sizes)
    def test_padded_size_at_least_n_and_min(self, n):
        """The class is at least n and at least MIN_PADDED (property)."""
        size = padding.padded_size(n)
        assert size >= n
        assert size >= padding.MIN_PADDED

    @settings(max_examples=300, deadline=None)
    @given(sizes)
    def test_padded_size_is_smallest_class_at_least_n(self, n):
        """The class is the smallest listed class not below n (property)."""
        size = padding.padded_size(n)
        assert size in CLASSES
        assert size == min(c for c in CLASSES if c >= n)

    @settings(max_examples=300, deadline=None)
    @given(sizes, sizes)
    def test_padded_size_monotone(self, a, b):
        """A larger set never gets a smaller class (property)."""
        lo, hi = sorted((a, b))
        assert padding.padded_size(lo) <= padding.padded_size(hi)

    @settings(max_examples=300, deadline=None)
    @given(sizes)
    def test_padded_size_idempotent(self, n):
        """Padding a class value again leaves it unchanged (property)."""
        size = padding.padded_size(n)
        assert padding.padded_size(size) == size

    @settings(max_examples=300, deadline=None)
    @given(st.integers(min_value=padding.MIN_PADDED, max_value=1 << 40))
    def test_padded_size_overhead_at_most_quarter(self, n):
        """From n = 16 on, padding adds at most 25 % (property)."""
        assert padding.padded_size(n) * 4 <= n * 5

    @settings(max_examples=200, deadline=None)
    @given(st.integers(min_value=2, max_value=60),
           st.sampled_from([4, 5, 6, 7]))
    def test_padded_size_class_shape_is_m_times_power_of_two(self, j, m):
        """Every m·2^j class (m in 4..7) is a fixed point (property)."""
        c = m << j
        if c >= padding.MIN_PADDED:
            assert padding.padded_size(c) == c
            assert padding.padded_size(c - 1) <= c


class TestPaddingElements:
    def test_padding_elements_count_and_length(self):
        """count elements of 32 bytes each come back."""
        elements = pad(count=10)
        assert len(elements) == 10
        assert all(len(e) == group.ELEMENT_BYTES for e in elements)

    def test_padding_elements_zero_count_empty(self):
        """A zero count gives no elements."""
        assert pad(count=0) == []

    def test_padding_elements_deterministic(self):
        """The same inputs give byte-identical elements."""
        assert pad(count=16) == pad(count=16)

    def test_padding_elements_prefix_stable_across_counts(self):
        """Element i does not depend on how many elements are asked for."""
        assert pad(count=20)[:7] == pad(count=7)

    def test_padding_elements_match_frozen_vector(self):
        """The frozen seed, ids and count give the frozen elements."""
        v = GOLDEN["padding_elements"]
        got = padding.padding_elements(
            bytes.fromhex(v["seed"]), consortium_id=v["consortium_id"],
            lab=v["lab"], epoch=v["epoch"], kind=v["kind"],
            count=len(v["elements"]))
        assert [e.hex() for e in got] == v["elements"]

    def test_padding_elements_follow_documented_derivation(self):
        """Element i derives from HMAC-SHA512(seed, label ‖ ids ‖ i)."""
        def lp(b: bytes) -> bytes:
            return struct.pack(">H", len(b)) + b
        prefix = lp(b"LABMATCH-V1-CS01-PADDING") + b"".join(
            lp(IDS[k].encode())
            for k in ("consortium_id", "lab", "epoch", "kind"))
        for i, element in enumerate(pad(count=5)):
            wide = hmac.new(SEED, prefix + struct.pack(">Q", i),
                            hashlib.sha512).digest()
            assert element == group.element_from_uniform(wide), i

    def test_padding_elements_all_distinct(self):
        """Two thousand elements of one (lab, epoch, kind) are all distinct."""
        elements = pad(count=2000)
        assert len(set(elements)) == 2000

    def test_padding_elements_valid_non_identity(self):
        """Every element passes group validation (canonical, not identity)."""
        for element in pad(count=500):
            assert group.validate_element(element) == element
            assert element != group.IDENTITY

    def test_padding_elements_sorted_pass_upload_check(self):
        """Sorted padding passes the same check a peer applies to uploads."""
        check_upload(sorted(pad(count=300)))

    @pytest.mark.parametrize("field, value", [
        ("consortium_id", "fedcba9876543210"),
        ("lab", "lab-b"),
        ("epoch", "2024-06-02"),
        ("kind", "ip4.cell24.c1"),
    ])
    def test_padding_elements_change_when_id_changes(self, field, value):
        """Changing consortium, lab, epoch or kind changes every element."""
        base = pad(count=32)
        other = pad(count=32, **{field: value})
        assert not set(base) & set(other)

    def test_padding_elements_change_when_seed_changes(self):
        """Another seed, even one bit away, changes every element."""
        other_seed = bytes([SEED[0] ^ 1]) + SEED[1:]
        assert not set(pad(count=32)) & set(pad(count=32, seed=other_seed))

    @pytest.mark.parametrize("a, b", [
        (dict(lab="ab", epoch="c"), dict(lab="a", epoch="bc")),
        (dict(consortium_id="x", lab="yz"), dict(consortium_id="xy",
                                                 lab="z")),
        (dict(epoch="2024-06-01", kind="k"), dict(epoch="2024-06-01k",
                                                   kind="")),
    ])
    def test_padding_elements_field_boundaries_unambiguous(self, a, b):
        """Moving characters across field boundaries changes the elements."""
        assert not set(pad(count=8, **a)) & set(pad(count=8, **b))

    @settings(max_examples=30, deadline=None)
    @given(st.binary(min_size=32, max_size=32),
           st.binary(min_size=32, max_size=32))
    def test_padding_elements_distinct_seeds_disjoint(self, s1, s2):
        """Different seeds give disjoint padding (property)."""
        if s1 != s2:
            assert not set(pad(count=4, seed=s1)) & set(pad(count=4, seed=s2))

    def test_padding_elements_never_collide_with_blinded_items(self):
        """Padding is disjoint from real blinded items of the same lab."""
        cid, kind = IDS["consortium_id"], IDS["kind"]
        key = EpochKey.derive(SEED, consortium_id=cid, lab=IDS["lab"],
                              epoch=IDS["epoch"], kind=kind)
        h2g = hashing.HashToGroup(cid, kind)
        messages = [b"\x01\x04\x20" + i.to_bytes(4, "big")
                    for i in range(1000)]
        blinded, _ = blind_upload(key, h2g, messages)
        padded = pad(count=1000)
        assert not set(blinded) & set(padded)
        check_upload(sorted(blinded + padded))

    def test_padding_elements_not_hash_to_group_of_index(self):
        """Padding element i is not the unblinded hash of any small message."""
        cid, kind = IDS["consortium_id"], IDS["kind"]
        h2g = hashing.HashToGroup(cid, kind)
        hashed = {h2g(i.to_bytes(8, "big")) for i in range(200)}
        assert not hashed & set(pad(count=200))
