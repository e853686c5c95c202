"""The relay attack of protocol.md 2.4, and why pair-labelled tokens stop it.

Lab B holds A's upload {a·H(x)} and C's upload {c·H(z)}. If evaluators
returned raw points, B could put C's points into its own upload to A and
A's points into its upload to C, get back a·c·H(z) and c·a·H(x), and
compare: that is A∩C, which B has no right to learn. With tokens labelled
by the authenticated pair, what A returns is labelled (A, B) and what C
returns is labelled (B, C): the two never compare.
"""
from __future__ import annotations

from labmatch.psi import group
from labmatch.psi.encoding import text_message
from labmatch.psi.hashing import HashToGroup
from labmatch.psi.keys import EpochKey
from labmatch.psi.rounds import blind_upload, evaluate_upload

CID = "0123456789abcdef"
EPOCH = "2026-12-04"
KIND = "domain.name.c1"


def key(lab: str) -> EpochKey:
    return EpochKey.derive(bytes([ord(lab)]) * 32, consortium_id=CID,
                           lab=lab, epoch=EPOCH, kind=KIND)


def label(a: str, b: str):
    from labmatch.psi.tokens import TokenLabel

    return TokenLabel(consortium_id=CID, lab_a=a, lab_b=b, epoch=EPOCH,
                      kind=KIND)


H = HashToGroup(CID, KIND)
A_ITEMS = [text_message(f"a{i}.example.com") for i in range(20)]
C_ITEMS = [text_message(f"a{i}.example.com") for i in range(10, 30)]
SHARED_AC = 10   # a10..a19 are in both A and C; B holds none of them


class TestRelayAttack:
    def test_raw_points_would_reveal_a_and_c_overlap(self):
        """Control: with raw double-blinded points B learns |A∩C|."""
        up_a, _ = blind_upload(key("a"), H, A_ITEMS)
        up_c, _ = blind_upload(key("c"), H, C_ITEMS)
        from_c = {key("c").multiply(p) for p in up_a}   # C evaluates A's
        from_a = {key("a").multiply(p) for p in up_c}   # A evaluates C's
        assert len(from_c & from_a) == SHARED_AC

    def test_relayed_uploads_give_tokens_that_never_compare(self):
        """B relaying each peer's upload to the other learns nothing."""
        up_a, _ = blind_upload(key("a"), H, A_ITEMS)
        up_c, _ = blind_upload(key("c"), H, C_ITEMS)
        # B submits C's points as its own upload to A, and A's to C.
        a_returns = evaluate_upload(key("a"), label("a", "b"), up_c)
        c_returns = evaluate_upload(key("c"), label("b", "c"), up_a)
        assert not set(a_returns) & set(c_returns)

    def test_honest_pair_tokens_still_match(self):
        """The same labels let a real pair (A, C) find its overlap."""
        up_a, _ = blind_upload(key("a"), H, A_ITEMS)
        up_c, _ = blind_upload(key("c"), H, C_ITEMS)
        c_for_a = evaluate_upload(key("c"), label("a", "c"), up_a)
        a_table = evaluate_upload(key("a"), label("a", "c"), up_c)
        assert len(set(c_for_a) & set(a_table)) == SHARED_AC

    def test_rerandomised_relay_still_never_compares(self):
        """Blinding the relayed points by B's own scalar does not help."""
        beta = group.scalar_from_wide(bytes(range(64)))
        up_a, _ = blind_upload(key("a"), H, A_ITEMS)
        up_c, _ = blind_upload(key("c"), H, C_ITEMS)
        relay_c = sorted(group.scalarmult(beta, p) for p in up_c)
        relay_a = sorted(group.scalarmult(beta, p) for p in up_a)
        a_returns = evaluate_upload(key("a"), label("a", "b"), relay_c)
        c_returns = evaluate_upload(key("c"), label("b", "c"), relay_a)
        assert not set(a_returns) & set(c_returns)
