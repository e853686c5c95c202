"""Pair-labelled tokens (labmatch.psi.tokens) and epoch keys
(labmatch.psi.keys)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labmatch.psi import group, hashing, keys, tokens
from labmatch.psi.errors import InvalidElement

CONSORTIUM = "0123456789abcdef"
SEED = bytes(range(32))
GENERATOR = group.scalarmult_base((1).to_bytes(32, "little"))
ELEMENT = hashing.HashToGroup(CONSORTIUM, "ip4.addr.c1")(
    b"\x01\x04\x20\x51\x02\x45\x05")

lab_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-",
                    min_size=1, max_size=12)
short_text = st.text(max_size=12)

BASE_LABEL = dict(consortium_id=CONSORTIUM, lab_a="lab-a", lab_b="lab-b",
                  epoch="2024-06-01", kind="ip4.addr.c1")
BASE_KEY = dict(consortium_id=CONSORTIUM, lab="lab-a", epoch="2024-06-01",
                kind="ip4.addr.c1")


def derive(seed: bytes = SEED, **changes) -> keys.EpochKey:
    return keys.EpochKey.derive(seed, **{**BASE_KEY, **changes})


class TestPairLabel:
    def test_pair_label_swapped_labs_same_label(self):
        """The label is the same from either side of the pair."""
        assert (tokens.pair_label("lab-a", "lab-b")
                == tokens.pair_label("lab-b", "lab-a"))

    def test_pair_label_shifted_boundary_different_label(self):
        """pair_label('ab', 'c') differs from pair_label('a', 'bc')."""
        assert tokens.pair_label("ab", "c") != tokens.pair_label("a", "bc")

    def test_pair_label_same_lab_twice_raises_value_error(self):
        """A lab cannot form a pair with itself."""
        with pytest.raises(ValueError):
            tokens.pair_label("lab-a", "lab-a")

    @settings(max_examples=300, deadline=None)
    @given(a=lab_names, b=lab_names, c=lab_names, d=lab_names)
    def test_pair_label_different_pairs_different_labels(self, a, b, c, d):
        """Labels are equal exactly when the unordered pairs are equal."""
        if a == b or c == d:
            return
        same_pair = {a, b} == {c, d}
        assert (tokens.pair_label(a, b) == tokens.pair_label(c, d)) \
            == same_pair


class TestTokenLabel:
    def test_token_any_element_sixteen_bytes(self):
        """A token is TOKEN_BYTES = 16 bytes."""
        label = tokens.TokenLabel(**BASE_LABEL)
        assert len(label.token(ELEMENT)) == tokens.TOKEN_BYTES == 16

    def test_token_both_sides_of_pair_identical(self):
        """A and B compute identical tokens for the same double-blinded
        point."""
        from_a = tokens.TokenLabel(**BASE_LABEL)
        from_b = tokens.TokenLabel(**{**BASE_LABEL, "lab_a": "lab-b",
                                      "lab_b": "lab-a"})
        assert from_a.token(ELEMENT) == from_b.token(ELEMENT)

    @pytest.mark.parametrize("field,value", [
        ("consortium_id", "fedcba9876543210"),
        ("lab_b", "lab-c"),
        ("lab_a", "lab-c"),
        ("epoch", "2024-06-02"),
        ("kind", "ip4.addr.c2"),
        ("kind", "ip6.addr.c1"),
    ])
    def test_token_one_context_field_changed_different_token(
            self, field, value):
        """Changing the consortium, pair, epoch or kind changes τ."""
        base = tokens.TokenLabel(**BASE_LABEL).token(ELEMENT)
        changed = tokens.TokenLabel(**{**BASE_LABEL, field: value})
        assert changed.token(ELEMENT) != base

    def test_token_relay_pair_ac_never_equals_pair_ab(self):
        """τ for pair (A, B) differs from τ for (A, C) on the same point."""
        ab = tokens.TokenLabel(**BASE_LABEL)
        ac = tokens.TokenLabel(**{**BASE_LABEL, "lab_b": "lab-c"})
        bc = tokens.TokenLabel(**{**BASE_LABEL, "lab_a": "lab-c"})
        values = {ab.token(ELEMENT), ac.token(ELEMENT), bc.token(ELEMENT)}
        assert len(values) == 3

    def test_token_different_elements_different_tokens(self):
        """Distinct points give distinct tokens under one label."""
        label = tokens.TokenLabel(**BASE_LABEL)
        assert label.token(ELEMENT) != label.token(GENERATOR)

    @settings(max_examples=300, deadline=None)
    @given(e1=short_text, k1=short_text, e2=short_text, k2=short_text)
    def test_token_epoch_kind_boundary_shift_different_token(
            self, e1, k1, e2, k2):
        """(epoch, kind) pairs that concatenate alike still give different
        τ."""
        if (e1, k1) == (e2, k2):
            return
        first = tokens.TokenLabel(**{**BASE_LABEL, "epoch": e1, "kind": k1})
        second = tokens.TokenLabel(**{**BASE_LABEL, "epoch": e2, "kind": k2})
        assert first.token(ELEMENT) != second.token(ELEMENT)

    def test_token_label_same_lab_twice_raises_value_error(self):
        """A token label for a lab paired with itself is refused."""
        with pytest.raises(ValueError):
            tokens.TokenLabel(**{**BASE_LABEL, "lab_b": "lab-a"})

    def test_token_label_repr_names_kind_only(self):
        """The repr shows the kind and nothing of the pair or prefix."""
        text = repr(tokens.TokenLabel(**BASE_LABEL))
        assert text == "TokenLabel(kind='ip4.addr.c1')"


class TestNewSeed:
    def test_new_seed_two_calls_distinct_32_bytes(self):
        """Seeds are 32 fresh random bytes."""
        first, second = keys.new_seed(), keys.new_seed()
        assert len(first) == len(second) == keys.SEED_BYTES == 32
        assert first != second


class TestEpochKey:
    def test_epoch_key_repr_shows_no_key_material(self):
        """repr/str name lab, epoch and kind but neither seed nor scalar."""
        key = derive()
        scalar = key._scalar
        for text in (repr(key), str(key)):
            assert text == ("EpochKey(lab='lab-a', epoch='2024-06-01', "
                            "kind='ip4.addr.c1')")
            assert scalar.hex() not in text
            assert SEED.hex() not in text

    def test_epoch_key_slots_no_instance_dict(self):
        """__slots__ leaves no __dict__ through which the scalar could
        leak."""
        assert not hasattr(derive(), "__dict__")

    def test_derive_same_inputs_same_public_key(self):
        """Derivation is deterministic."""
        assert derive().public_key() == derive().public_key()

    @pytest.mark.parametrize("field,value", [
        ("consortium_id", "fedcba9876543210"),
        ("lab", "lab-b"),
        ("epoch", "2024-06-02"),
        ("kind", "ip6.addr.c1"),
        ("kind", "ip4.addr.c2"),
    ])
    def test_derive_one_field_changed_different_key(self, field, value):
        """Each of consortium, lab, epoch and kind changes the key."""
        assert derive(**{field: value}).public_key() != derive().public_key()

    def test_derive_other_seed_different_key(self):
        """A different seed gives a different key."""
        other = bytes(31) + b"\x01"
        assert derive(other).public_key() != derive().public_key()

    @settings(max_examples=200, deadline=None)
    @given(l1=short_text, e1=short_text, l2=short_text, e2=short_text)
    def test_derive_lab_epoch_boundary_shift_different_key(
            self, l1, e1, l2, e2):
        """(lab, epoch) pairs that concatenate alike give different keys."""
        if (l1, e1) == (l2, e2):
            return
        assert (derive(lab=l1, epoch=e1).public_key()
                != derive(lab=l2, epoch=e2).public_key())

    @pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
    def test_derive_wrong_seed_length_raises_value_error(self, length):
        """Only 32-byte seeds are accepted."""
        with pytest.raises(ValueError):
            derive(b"\x01" * length)

    @pytest.mark.parametrize("length", [0, 31, 33, 64])
    def test_epoch_key_wrong_scalar_length_raises_value_error(self, length):
        """The constructor refuses a scalar that is not 32 bytes."""
        with pytest.raises(ValueError):
            keys.EpochKey(b"\x01" * length, lab="a", epoch="e", kind="k")

    def test_public_key_equals_multiply_of_generator(self):
        """public_key() is k·G, the same as multiply(G)."""
        key = derive()
        public = key.public_key()
        assert group.validate_element(public) == public
        assert key.multiply(GENERATOR) == public

    def test_multiply_two_keys_commute(self):
        """a·(b·P) = b·(a·P) through the EpochKey API."""
        a, b = derive(lab="lab-a"), derive(lab="lab-b")
        assert (a.multiply(b.multiply(ELEMENT))
                == b.multiply(a.multiply(ELEMENT)))

    def test_multiply_identity_raises_invalid_element(self):
        """Multiplying the identity fails with InvalidElement."""
        with pytest.raises(InvalidElement):
            derive().multiply(group.IDENTITY)

    def test_derive_public_attributes_name_key_not_scalar(self):
        """lab, epoch and kind are exposed; the scalar is not a public
        name."""
        key = derive()
        assert (key.lab, key.epoch, key.kind) == (
            "lab-a", "2024-06-01", "ip4.addr.c1")
        assert not any(name.endswith("scalar") and not name.startswith("_")
                       for name in dir(key))
