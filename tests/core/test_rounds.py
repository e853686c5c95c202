"""Round steps (labmatch.psi.rounds) and upload digests and chunking
(labmatch.psi.manifest).

The key property: for arbitrary small sets of strings, a full pure round
(blind_upload both sides, evaluate_upload both ways, seal and open,
match_positions) finds exactly Python's set intersection, on both sides.
"""
from __future__ import annotations

import hashlib

import random
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from nacl.public import PrivateKey

from labmatch.psi import group, manifest, rounds, sealing
from labmatch.psi.encoding import text_message
from labmatch.psi.errors import InvalidElement
from labmatch.psi.hashing import HashToGroup
from labmatch.psi.keys import EpochKey
from labmatch.psi.tokens import TokenLabel

CONSORTIUM = "0123456789abcdef"
EPOCH = "2024-06-01"
KIND = "domain.name.c1"
H = HashToGroup(CONSORTIUM, KIND)
SEEDS = {"lab-a": bytes(range(32)), "lab-b": bytes(range(32, 64)),
         "lab-c": bytes(range(64, 96))}
SEALING_KEYS = {lab: PrivateKey.generate() for lab in SEEDS}


def key_for(lab: str) -> EpochKey:
    return EpochKey.derive(SEEDS[lab], consortium_id=CONSORTIUM, lab=lab,
                           epoch=EPOCH, kind=KIND)


def label_for(lab_a: str, lab_b: str) -> TokenLabel:
    return TokenLabel(consortium_id=CONSORTIUM, lab_a=lab_a, lab_b=lab_b,
                      epoch=EPOCH, kind=KIND)


KEY_A, KEY_B = key_for("lab-a"), key_for("lab-b")


def upload_of(items: list[str], key: EpochKey = KEY_A):
    return rounds.blind_upload(key, H, [text_message(s) for s in items])


def sealed_round_trip(tokens: list[bytes], *, evaluator: str, owner: str,
                      upload: list[bytes]) -> list[bytes]:
    """Evaluator seals to owner; owner opens. Returns what owner reads."""
    digest = hashlib.sha256(b"".join(upload)).digest()
    ctx = sealing.list_context(
        consortium_id=CONSORTIUM, epoch=EPOCH, kind=KIND,
        evaluator=evaluator, owner=owner, upload_digest=digest,
        count=len(upload))
    sealed = sealing.seal_tokens(bytes(SEALING_KEYS[owner].public_key), ctx,
                                 tokens)
    opener = sealing.TokenListOpener(SEALING_KEYS[owner], ctx,
                                     sealed.sealed_key, sealed.header,
                                     count=len(upload))
    received: list[bytes] = []
    for chunk in sealed.chunks:
        received.extend(opener.open_chunk(chunk))
    opener.finish()
    return received


def full_round(set_a: set[str], set_b: set[str], lab_a: str = "lab-a",
               lab_b: str = "lab-b") -> tuple[set[str], set[str]]:
    """One pure pairwise round; each side's view of the intersection."""
    items_a, items_b = sorted(set_a), sorted(set_b)
    key_a, key_b = key_for(lab_a), key_for(lab_b)
    label = label_for(lab_a, lab_b)

    upload_a, order_a = upload_of(items_a, key_a)
    upload_b, order_b = upload_of(items_b, key_b)

    for_a = rounds.evaluate_upload(key_b, label, upload_a)   # B evaluates A
    for_b = rounds.evaluate_upload(key_a, label, upload_b)   # A evaluates B

    received_a = sealed_round_trip(for_a, evaluator=lab_b, owner=lab_a,
                                   upload=upload_a)
    received_b = sealed_round_trip(for_b, evaluator=lab_a, owner=lab_b,
                                   upload=upload_b)

    seen_by_a = {items_a[order_a[i]]
                 for i in rounds.match_positions(received_a, set(for_b))}
    seen_by_b = {items_b[order_b[i]]
                 for i in rounds.match_positions(received_b, set(for_a))}
    return seen_by_a, seen_by_b


items = st.text(max_size=8)
item_sets = st.sets(items, max_size=9)


class TestBlindUpload:
    def test_blind_upload_empty_input_empty_upload(self):
        """No messages give an empty upload and an empty order."""
        assert rounds.blind_upload(KEY_A, H, []) == ([], [])

    def test_blind_upload_elements_sorted_by_encoding(self):
        """The upload is strictly ascending by bytes."""
        upload, _ = upload_of([f"host{i}.example" for i in range(20)])
        assert upload == sorted(upload)
        assert len(set(upload)) == len(upload)

    def test_blind_upload_order_maps_each_element_to_its_item(self):
        """upload[i] is key·H(messages[order[i]])."""
        names = [f"host{i}.example" for i in range(12)]
        upload, order = upload_of(names)
        assert sorted(order) == list(range(len(names)))
        for element, index in zip(upload, order):
            assert element == KEY_A.multiply(H(text_message(names[index])))

    def test_blind_upload_elements_pass_check_upload(self):
        """What blind_upload produces is what check_upload accepts."""
        upload, _ = upload_of([f"host{i}.example" for i in range(12)])
        rounds.check_upload(upload)

    @settings(max_examples=100, deadline=None)
    @given(st.lists(items, unique=True, max_size=10), st.randoms())
    def test_blind_upload_permuted_input_byte_identical_upload(
            self, names, rnd):
        """Input order never shows: any permutation gives the same upload."""
        shuffled = list(names)
        rnd.shuffle(shuffled)
        assert upload_of(names)[0] == upload_of(shuffled)[0]

    def test_blind_upload_duplicate_messages_rejected_by_peer(self):
        """Duplicates are the caller's to remove: left in, the peer refuses
        the upload."""
        upload, _ = upload_of(["dup.example", "dup.example", "x.example"])
        with pytest.raises(InvalidElement):
            rounds.check_upload(upload)


class TestCheckUpload:
    def test_check_upload_empty_accepted(self):
        """An empty upload is valid."""
        rounds.check_upload([])

    def test_check_upload_generator_input_accepted(self):
        """Any iterable is accepted, read once."""
        upload, _ = upload_of(["a", "b", "c"])
        rounds.check_upload(iter(upload))

    def test_check_upload_unsorted_rejected(self):
        """Two elements out of order are refused."""
        upload, _ = upload_of(["a", "b", "c"])
        swapped = [upload[1], upload[0], upload[2]]
        with pytest.raises(InvalidElement):
            rounds.check_upload(swapped)

    def test_check_upload_descending_rejected(self):
        """A fully reversed upload is refused."""
        upload, _ = upload_of(["a", "b", "c", "d"])
        with pytest.raises(InvalidElement):
            rounds.check_upload(upload[::-1])

    @pytest.mark.parametrize("position", [0, 1, 2])
    def test_check_upload_adjacent_duplicate_rejected(self, position):
        """A repeated element (kept sorted) is refused wherever it sits."""
        upload, _ = upload_of(["a", "b", "c"])
        doubled = upload[:position + 1] + upload[position:]
        assert doubled == sorted(doubled)
        with pytest.raises(InvalidElement):
            rounds.check_upload(doubled)

    @pytest.mark.parametrize("bad", [
        group.IDENTITY,
        b"\xff" * 31 + b"\x7f",
        b"\x01" + bytes(31),
        b"\x00" * 31,
    ], ids=["identity", "non-canonical", "negative", "short"])
    def test_check_upload_invalid_element_rejected(self, bad):
        """One malformed element poisons the whole upload."""
        upload, _ = upload_of(["a", "b"])
        with pytest.raises(InvalidElement):
            rounds.check_upload(sorted(upload + [bad]))

    def test_check_upload_top_bit_twin_rejected(self):
        """An element with bit 255 set is refused even if sorted last."""
        upload, _ = upload_of(["a", "b"])
        twin = upload[0][:-1] + bytes([upload[0][-1] | 0x80])
        with pytest.raises(InvalidElement):
            rounds.check_upload(sorted(upload + [twin]))


class TestEvaluateUpload:
    def test_evaluate_upload_tokens_in_owner_order(self):
        """Token i is the pair token of key·upload[i]."""
        upload, _ = upload_of([f"n{i}" for i in range(7)])
        label = label_for("lab-a", "lab-b")
        assert rounds.evaluate_upload(KEY_B, label, upload) == [
            label.token(KEY_B.multiply(c)) for c in upload]

    def test_evaluate_upload_empty_no_tokens(self):
        """An empty upload evaluates to an empty token list."""
        assert rounds.evaluate_upload(KEY_B, label_for("lab-a", "lab-b"),
                                      []) == []

    def test_evaluate_upload_unsorted_rejected_before_evaluation(self):
        """An unsorted upload is refused, and no multiplication happens."""
        upload, _ = upload_of(["a", "b", "c"])
        spy = mock.Mock(wraps=KEY_B)
        with pytest.raises(InvalidElement):
            rounds.evaluate_upload(spy, label_for("lab-a", "lab-b"),
                                   upload[::-1])
        spy.multiply.assert_not_called()

    def test_evaluate_upload_invalid_element_rejected_before_evaluation(
            self):
        """A malformed element at the end still stops all evaluation."""
        upload, _ = upload_of(["a", "b", "c"])
        spy = mock.Mock(wraps=KEY_B)
        with pytest.raises(InvalidElement):
            rounds.evaluate_upload(spy, label_for("lab-a", "lab-b"),
                                   upload + [b"\xff" * 32])
        spy.multiply.assert_not_called()

    def test_evaluate_upload_duplicate_rejected(self):
        """A repeated element is refused."""
        upload, _ = upload_of(["a", "b"])
        with pytest.raises(InvalidElement):
            rounds.evaluate_upload(KEY_B, label_for("lab-a", "lab-b"),
                                   [upload[0], upload[0], upload[1]])


class TestMatchPositions:
    def test_match_positions_some_hits_positions_ascending(self):
        """Positions of received tokens present in the table, in order."""
        received = [b"a" * 16, b"b" * 16, b"c" * 16, b"d" * 16]
        assert rounds.match_positions(received, {b"d" * 16, b"b" * 16,
                                                 b"z" * 16}) == [1, 3]

    def test_match_positions_empty_inputs_no_positions(self):
        """Nothing received or an empty table gives no matches."""
        assert rounds.match_positions([], {b"a" * 16}) == []
        assert rounds.match_positions([b"a" * 16], set()) == []


class TestFullRound:
    @settings(max_examples=300, deadline=None)
    @given(set_a=item_sets, set_b=item_sets)
    @example(set_a=set(), set_b=set())
    @example(set_a=set(), set_b={"x"})
    @example(set_a={"x", "y", "z"}, set_b=set())
    @example(set_a={"a", "b", "c"}, set_b={"d", "e"})
    @example(set_a={"a", "b", "c"}, set_b={"a", "b", "c"})
    @example(set_a={"a", "b", "c", "d", "e"}, set_b={"c", "e", "g"})
    @example(set_a={"", " ", "\x00"}, set_b={"", "\x00\x00"})
    def test_full_round_any_sets_both_sides_find_set_intersection(
            self, set_a, set_b):
        """Both sides learn exactly set_a ∩ set_b (chunks of 3 tokens)."""
        with mock.patch.object(sealing, "TOKENS_PER_CHUNK", 3):
            seen_by_a, seen_by_b = full_round(set_a, set_b)
        assert seen_by_a == set_a & set_b
        assert seen_by_b == set_a & set_b

    def test_full_round_planted_intersection_recovered_exactly(self):
        """Random sets with a planted overlap: exact recovery, no false
        positives."""
        rnd = random.Random(20240601)
        for _ in range(5):
            shared = {f"shared-{rnd.getrandbits(40)}" for _ in range(15)}
            only_a = {f"a-{rnd.getrandbits(40)}" for _ in range(40)}
            only_b = {f"b-{rnd.getrandbits(40)}" for _ in range(25)}
            seen_by_a, seen_by_b = full_round(shared | only_a,
                                              shared | only_b)
            assert seen_by_a == seen_by_b == shared

    def test_full_round_relay_tokens_of_other_pair_never_match(self):
        """τ that C computes for pair (A, C) never hits A's table for
        (A, B)."""
        names = ["same.example", "also.example", "third.example"]
        upload_a, _ = upload_of(names, KEY_A)
        upload_b, _ = upload_of(names, KEY_B)
        key_c = key_for("lab-c")
        table_ab = set(rounds.evaluate_upload(
            KEY_A, label_for("lab-a", "lab-b"), upload_b))
        from_c = rounds.evaluate_upload(key_c, label_for("lab-a", "lab-c"),
                                        upload_a)
        from_b = rounds.evaluate_upload(KEY_B, label_for("lab-a", "lab-b"),
                                        upload_a)
        assert rounds.match_positions(from_c, table_ab) == []
        assert rounds.match_positions(from_b, table_ab) == [0, 1, 2]

    def test_full_round_other_kind_same_items_no_match(self):
        """Items hashed under another kind code never match."""
        names = ["same.example", "also.example"]
        other_h = HashToGroup(CONSORTIUM, "wallet.addr.c1")
        upload_a, _ = rounds.blind_upload(
            KEY_A, H, [text_message(s) for s in names])
        upload_b, _ = rounds.blind_upload(
            KEY_B, other_h, [text_message(s) for s in names])
        label = label_for("lab-a", "lab-b")
        table = set(rounds.evaluate_upload(KEY_A, label, upload_b))
        received = rounds.evaluate_upload(KEY_B, label, upload_a)
        assert rounds.match_positions(received, table) == []


class TestSplitElements:
    def test_split_elements_empty_no_chunks(self):
        """No elements give no chunks."""
        assert manifest.split_elements([]) == []

    def test_split_elements_over_one_chunk_two_chunks_round_trip(
            self, monkeypatch):
        """Elements split at ELEMENTS_PER_CHUNK and rejoin in order."""
        monkeypatch.setattr(manifest, "ELEMENTS_PER_CHUNK", 4)
        elements = [bytes([i]) * 32 for i in range(9)]
        chunks = manifest.split_elements(elements)
        assert [len(c) for c in chunks] == [128, 128, 32]
        rejoined = [e for c in chunks for e in manifest.chunk_elements(c)]
        assert rejoined == elements

    @pytest.mark.parametrize("length", [1, 31, 33, 65])
    def test_chunk_elements_ragged_chunk_raises_value_error(self, length):
        """A chunk that is not a whole number of elements is refused."""
        with pytest.raises(ValueError):
            manifest.chunk_elements(bytes(length))
