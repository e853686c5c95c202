"""ristretto255 group wrapper (labmatch.psi.group).

Known answers come from RFC 9496, Appendix A, stored in
``vectors/rfc9496_ristretto255.json``: A.1 multiples of the generator, A.2
invalid encodings, A.3 element derivation from 64 uniform bytes.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from labmatch.psi import group
from labmatch.psi.errors import InvalidElement, LabmatchError

VECTORS = json.loads(
    (Path(__file__).parent / "vectors" / "rfc9496_ristretto255.json")
    .read_text())
MULTIPLES = [bytes.fromhex(h) for h in VECTORS["multiples_of_generator"]]
GENERATOR = MULTIPLES[1]
# Order of the prime-order group (RFC 9496 section 4).
ORDER = 2**252 + 27742317777372353535851937790883648493
FIELD_P = 2**255 - 19

wide_bytes = st.binary(min_size=64, max_size=64)
messages = st.binary(max_size=64)


def scalar_of(wide: bytes) -> bytes:
    """A non-zero scalar from 64 bytes; skips the (negligible) zero case."""
    try:
        return group.scalar_from_wide(wide)
    except ValueError:
        assume(False)
        raise


def small_scalar(k: int) -> bytes:
    return k.to_bytes(group.SCALAR_BYTES, "little")


def element_of(seed: bytes) -> bytes:
    """A deterministic valid element for a Hypothesis-drawn seed."""
    element = group.element_from_uniform(hashlib.sha512(seed).digest())
    return group.validate_element(element)


class TestScalarmultBase:
    @pytest.mark.parametrize("k", range(1, 16))
    def test_scalarmult_base_small_scalar_matches_rfc9496_multiple(self, k):
        """k·G for k = 1..15 encodes exactly as RFC 9496 A.1 lists."""
        assert group.scalarmult_base(small_scalar(k)) == MULTIPLES[k]

    def test_identity_constant_matches_rfc9496_zero_multiple(self):
        """The IDENTITY constant is the RFC 9496 A.1 encoding of 0·G."""
        assert group.IDENTITY == MULTIPLES[0]

    def test_scalarmult_base_order_minus_one_is_self_inverse(self):
        """(ℓ−1)·G is a valid element ≠ G, and (ℓ−1)·((ℓ−1)·G) = G."""
        minus_one = (ORDER - 1).to_bytes(32, "little")
        element = group.scalarmult_base(minus_one)
        assert group.validate_element(element) == element
        assert element != GENERATOR
        assert group.scalarmult(minus_one, element) == GENERATOR


class TestScalarmult:
    @pytest.mark.parametrize("k", range(1, 16))
    def test_scalarmult_generator_small_scalar_matches_rfc9496_multiple(
            self, k):
        """Variable-base k·B[1] agrees with the RFC 9496 A.1 table."""
        assert group.scalarmult(small_scalar(k), GENERATOR) == MULTIPLES[k]

    def test_scalarmult_identity_input_raises_invalid_element(self):
        """Multiplying the identity fails with the opaque InvalidElement."""
        with pytest.raises(InvalidElement):
            group.scalarmult(small_scalar(5), group.IDENTITY)

    def test_scalarmult_zero_scalar_raises_invalid_element(self):
        """A zero scalar (identity result) fails with InvalidElement."""
        with pytest.raises(InvalidElement):
            group.scalarmult(bytes(32), GENERATOR)

    def test_scalarmult_order_scalar_raises_invalid_element(self):
        """ℓ·P is the identity, which libsodium refuses; it surfaces as
        InvalidElement."""
        with pytest.raises(InvalidElement):
            group.scalarmult(ORDER.to_bytes(32, "little"), GENERATOR)

    @pytest.mark.parametrize(
        "bad", [b["encoding"] for b in VECTORS["invalid_encodings"]][:6])
    def test_scalarmult_invalid_encoding_raises_invalid_element(self, bad):
        """An undecodable point passed by mistake still fails opaquely."""
        with pytest.raises(InvalidElement):
            group.scalarmult(small_scalar(3), bytes.fromhex(bad))

    @settings(max_examples=1000, deadline=None)
    @given(a=wide_bytes, b=wide_bytes, seed=messages)
    def test_scalarmult_two_scalars_commute(self, a, b, seed):
        """a·(b·P) = b·(a·P) for random scalars and elements."""
        sa, sb, p = scalar_of(a), scalar_of(b), element_of(seed)
        assert (group.scalarmult(sa, group.scalarmult(sb, p))
                == group.scalarmult(sb, group.scalarmult(sa, p)))

    @settings(max_examples=1000, deadline=None)
    @given(a=wide_bytes, seed=messages)
    def test_scalarmult_inverse_scalar_restores_element(self, a, seed):
        """a⁻¹·(a·P) = P for random scalars and elements."""
        sa, p = scalar_of(a), element_of(seed)
        blinded = group.scalarmult(sa, p)
        assert group.scalarmult(group.scalar_invert(sa), blinded) == p

    @settings(max_examples=100, deadline=None)
    @given(a=wide_bytes, b=wide_bytes, seed=messages)
    def test_scalar_mul_product_equals_sequential_multiplication(
            self, a, b, seed):
        """(a·b)·P = a·(b·P), so scalar_mul is multiplication mod ℓ."""
        sa, sb, p = scalar_of(a), scalar_of(b), element_of(seed)
        assert (group.scalarmult(group.scalar_mul(sa, sb), p)
                == group.scalarmult(sa, group.scalarmult(sb, p)))


class TestValidateElement:
    @pytest.mark.parametrize("k", range(1, 16))
    def test_validate_element_rfc9496_multiple_returns_input(self, k):
        """Every non-identity multiple from RFC 9496 A.1 is accepted as is."""
        assert group.validate_element(MULTIPLES[k]) is MULTIPLES[k]

    @pytest.mark.parametrize(
        "vector", VECTORS["invalid_encodings"],
        ids=[f"{i:02d}-{v['category']}"
             for i, v in enumerate(VECTORS["invalid_encodings"])])
    def test_validate_element_rfc9496_bad_encoding_rejected(self, vector):
        """Every RFC 9496 A.2 invalid encoding raises InvalidElement."""
        with pytest.raises(InvalidElement):
            group.validate_element(bytes.fromhex(vector["encoding"]))

    def test_validate_element_identity_rejected(self):
        """The identity (all zero bytes) is refused."""
        with pytest.raises(InvalidElement):
            group.validate_element(group.IDENTITY)

    @pytest.mark.parametrize("length", [0, 1, 31, 33, 64])
    def test_validate_element_wrong_length_rejected(self, length):
        """Anything but exactly 32 bytes is refused, even a valid prefix."""
        data = (GENERATOR * 2)[:length]
        with pytest.raises(InvalidElement):
            group.validate_element(data)

    @pytest.mark.parametrize("kind", [bytearray, memoryview, bytes.hex])
    def test_validate_element_non_bytes_type_rejected(self, kind):
        """A bytearray, memoryview or hex string of a valid element is
        refused."""
        with pytest.raises(InvalidElement):
            group.validate_element(kind(GENERATOR))

    @pytest.mark.parametrize("k", [1, 2, 7, 15])
    def test_validate_element_top_bit_set_rejected(self, k):
        """Setting bit 255 of a valid encoding (libsodium ignores it) is
        refused."""
        tampered = MULTIPLES[k][:-1] + bytes([MULTIPLES[k][-1] | 0x80])
        with pytest.raises(InvalidElement):
            group.validate_element(tampered)

    @settings(max_examples=200, deadline=None)
    @given(seed=messages)
    def test_validate_element_random_element_top_bit_set_rejected(self, seed):
        """For any valid element, the twin with bit 255 set is refused."""
        element = element_of(seed)
        assert group.validate_element(element) == element
        twin = element[:-1] + bytes([element[-1] | 0x80])
        with pytest.raises(InvalidElement):
            group.validate_element(twin)

    @pytest.mark.parametrize("offset", [0, 2, 4, 10, 18])
    def test_validate_element_field_element_at_least_p_rejected(self, offset):
        """Encodings of s = p + offset (non-canonical, ≥ p) are refused."""
        data = (FIELD_P + offset).to_bytes(32, "little")
        with pytest.raises(InvalidElement):
            group.validate_element(data)

    def test_validate_element_negative_s_of_valid_element_rejected(self):
        """p − s (the negated field element) of a valid encoding is refused."""
        s = int.from_bytes(GENERATOR, "little")
        with pytest.raises(InvalidElement):
            group.validate_element((FIELD_P - s).to_bytes(32, "little"))

    def test_validate_element_every_failure_same_message(self):
        """All rejection reasons give one message that names no input."""
        bad_inputs = [
            b"",
            GENERATOR[:31],
            GENERATOR[:-1] + bytes([GENERATOR[-1] | 0x80]),
            group.IDENTITY,
            FIELD_P.to_bytes(32, "little"),
            *(bytes.fromhex(v["encoding"])
              for v in VECTORS["invalid_encodings"]),
        ]
        messages_seen = set()
        for data in bad_inputs:
            with pytest.raises(InvalidElement) as info:
                group.validate_element(data)
            messages_seen.add(str(info.value))
        assert messages_seen == {"invalid group element"}

    def test_invalid_element_is_labmatch_and_value_error(self):
        """InvalidElement can be caught as LabmatchError or ValueError."""
        with pytest.raises(LabmatchError):
            group.validate_element(group.IDENTITY)
        with pytest.raises(ValueError):
            group.validate_element(group.IDENTITY)


class TestElementFromUniform:
    @pytest.mark.parametrize(
        "vector", VECTORS["element_derivation"],
        ids=[f"A.3-{i}" for i in range(len(VECTORS["element_derivation"]))])
    def test_element_from_uniform_rfc9496_input_matches_output(self, vector):
        """RFC 9496 A.3 element derivation from 64 bytes matches."""
        derived = group.element_from_uniform(bytes.fromhex(vector["input"]))
        assert derived.hex() == vector["output"]

    @pytest.mark.parametrize(
        "uniform", VECTORS["element_derivation_same_output"]["inputs"])
    def test_element_from_uniform_rfc9496_colliding_inputs_same_output(
            self, uniform):
        """The four RFC 9496 A.3 inputs that share an output all map to it."""
        expected = VECTORS["element_derivation_same_output"]["output"]
        assert group.element_from_uniform(
            bytes.fromhex(uniform)).hex() == expected

    @pytest.mark.parametrize("length", [0, 32, 63, 65])
    def test_element_from_uniform_wrong_length_raises_value_error(
            self, length):
        """Element derivation demands exactly 64 bytes."""
        with pytest.raises(ValueError):
            group.element_from_uniform(bytes(length))

    @settings(max_examples=200, deadline=None)
    @given(uniform=wide_bytes)
    def test_element_from_uniform_random_input_valid_element(self, uniform):
        """Derived elements pass validation (identity aside, which is
        negligible)."""
        element = group.element_from_uniform(uniform)
        assume(element != group.IDENTITY)
        assert group.validate_element(element) == element


class TestScalarFromWide:
    def test_scalar_from_wide_zero_raises_value_error(self):
        """64 zero bytes reduce to zero, which is refused."""
        with pytest.raises(ValueError):
            group.scalar_from_wide(bytes(64))

    def test_scalar_from_wide_group_order_raises_value_error(self):
        """ℓ itself reduces to zero and is refused."""
        with pytest.raises(ValueError):
            group.scalar_from_wide(ORDER.to_bytes(64, "little"))

    @pytest.mark.parametrize("length", [0, 32, 63, 65])
    def test_scalar_from_wide_wrong_length_raises_value_error(self, length):
        """Scalar derivation demands exactly 64 bytes."""
        with pytest.raises(ValueError):
            group.scalar_from_wide(b"\x01" * length)

    @settings(max_examples=200, deadline=None)
    @given(wide=wide_bytes)
    def test_scalar_from_wide_random_input_reduced_mod_order(self, wide):
        """The scalar is the little-endian input reduced mod ℓ, in [1, ℓ)."""
        expected = int.from_bytes(wide, "little") % ORDER
        assume(expected != 0)
        scalar = group.scalar_from_wide(wide)
        assert len(scalar) == group.SCALAR_BYTES
        assert int.from_bytes(scalar, "little") == expected


class TestRandomElement:
    def test_random_element_many_calls_valid_and_distinct(self):
        """Padding elements are valid, non-identity and not repeated."""
        elements = [group.random_element() for _ in range(64)]
        for element in elements:
            assert group.validate_element(element) == element
        assert len(set(elements)) == len(elements)
