"""Identifiers as they really come, end to end: two labs write the same
organisations, addresses and ranges differently and still find each other,
at the right level; a third lab's near-misses match nobody."""
from __future__ import annotations

import unicodedata

import pytest

pytestmark = pytest.mark.e2e

LABS = ("a", "b", "c")

# (kind, how lab a writes it, how lab b writes it, level they share)
SAME = [
    ("org", "ACME, Inc.", "Acme Inc", "exact"),
    ("org", "Foo & Bar LLC", "FOO AND BAR L.L.C.", "exact"),
    ("org", "TING SHING TAI JEWELLERY (HK)  CO. LIMITED",
     "Ting Shing Tai Jewellery (HK) Co. Ltd.", "exact"),
    ("org", unicodedata.normalize("NFC", "Société Générale SA"),
     unicodedata.normalize("NFD", "SOCIÉTÉ GÉNÉRALE S.A."), "exact"),
    ("org", "Zero\u200bWidth Trading GmbH", "ZeroWidth Trading GMBH",
     "exact"),
    ("ip", "2a01:4f8:c17:1a2b:0000:0000:0000:0001", "2a01:4f8:c17:1a2b::1",
     "exact"),
    ("ip", "81.2.69.5", "::ffff:81.2.69.5", "exact"),
    ("domain", "Bücher.Example.", "xn--bcher-kva.example", "exact"),
    ("wallet", "0x52908400098527886E0F7030069857D2E4169EE7",
     "0x52908400098527886e0f7030069857d2e4169ee7", "exact"),
]
# a holds a range, b an address inside it: a /24 cell, not an address.
CELL = [("cidr", "82.165.177.0/24", "ip", "82.165.177.154", "ip4/24")]
# c's near-misses: a different word, the neighbouring /24, another /48.
DECOYS = [("org", "NEW ACME INC"), ("ip", "82.165.178.154"),
          ("ip", "2a01:4f8:c18:1a2b::1"), ("org", "Foo & Baz LLC")]


def test_spelling_variants_match_at_their_level(harness, read_output):
    """Labs a and b match every variant pair at its level; c matches
    nobody; IPv4 rows also share their /24 cell."""
    h = harness
    rows_a = [(k, va, f"a{i}") for i, (k, va, _, _) in enumerate(SAME)]
    rows_b = [(k, vb, f"b{i}") for i, (k, _, vb, _) in enumerate(SAME)]
    rows_a += [(CELL[0][0], CELL[0][1], "a-range")]
    rows_b += [(CELL[0][2], CELL[0][3], "b-inside")]
    rows_c = [(k, v, f"c{i}") for i, (k, v) in enumerate(DECOYS)]
    inputs = {"a": h.write_input("a.csv", rows_a),
              "b": h.write_input("b.csv", rows_b),
              "c": h.write_input("c.csv", rows_c)}
    outputs = {lab: h.output_path(f"{lab}.out.csv") for lab in LABS}

    results = h.run_passes(inputs, outputs)

    assert all(code == 0 for code, _, _ in results[-1].values()), results
    got_a = {(ref, level, peers)
             for _, _, ref, level, peers in read_output(outputs["a"])}
    got_b = {(ref, level, peers)
             for _, _, ref, level, peers in read_output(outputs["b"])}
    for i, (kind, _, _, level) in enumerate(SAME):
        assert (f"a{i}", level, "b") in got_a, SAME[i][:2]
        assert (f"b{i}", level, "a") in got_b, SAME[i][:2]
    assert ("a-range", "ip4/24", "b") in got_a
    assert ("b-inside", "ip4/24", "a") in got_b
    assert not any(ref == "a-range" and level == "exact"
                   for ref, level, _ in got_a)
    assert read_output(outputs["c"]) == []
    assert not any("c" in peers for _, _, peers in got_a | got_b)
