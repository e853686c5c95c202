"""Hashing to ristretto255 with domain separation (labmatch.psi.hashing).

Known answers in ``vectors/``:
- ``rfc9380_expand_message_xmd_sha512.json``: RFC 9380 App. K.3;
- ``rfc9497_oprf_ristretto255_sha512.json``: RFC 9497 App. A.1.1 (OPRF)
  and A.1.2 (VOPRF, without proofs). They exercise hash_to_ristretto255
  with the RFC's own DST, then Blind, BlindEvaluate and Finalize built from
  group.scalarmult / scalar_invert, and DeriveKeyPair built from
  expand_message_xmd / scalar_from_wide.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labmatch.psi import group, hashing

VECTOR_DIR = Path(__file__).parent / "vectors"
XMD = json.loads(
    (VECTOR_DIR / "rfc9380_expand_message_xmd_sha512.json").read_text())
OPRF = json.loads(
    (VECTOR_DIR / "rfc9497_oprf_ristretto255_sha512.json").read_text())

CONSORTIUM = "0123456789abcdef"
OTHER_CONSORTIUM = "fedcba9876543210"
hex16 = st.text(alphabet="0123456789abcdef", min_size=16, max_size=16)
kind_codes = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_", min_size=1,
    max_size=24)


def _xmd_id(vector: dict) -> str:
    msg = vector["msg"]
    label = msg.split("_", 1)[0] if len(msg) > 16 else (msg or "empty")
    return f"{label}-len{vector['len_in_bytes']:#x}"


class TestExpandMessageXmd:
    @pytest.mark.parametrize("vector", XMD["vectors"],
                             ids=[_xmd_id(v) for v in XMD["vectors"]])
    def test_expand_message_xmd_rfc9380_k3_vector_matches(self, vector):
        """Each RFC 9380 K.3 SHA-512 vector is reproduced byte for byte."""
        out = hashing.expand_message_xmd(
            vector["msg"].encode(), XMD["dst"].encode(),
            vector["len_in_bytes"])
        assert out.hex() == vector["uniform_bytes"]

    @pytest.mark.parametrize("length", [1, 63, 64, 65, 200, 255 * 64])
    def test_expand_message_xmd_any_allowed_length_exact_output_size(
            self, length):
        """The output has exactly the requested length up to 255 blocks."""
        assert len(hashing.expand_message_xmd(b"m", b"DST", length)) == length

    @pytest.mark.parametrize("length", [255 * 64 + 1, 65535, 65536])
    def test_expand_message_xmd_more_than_255_blocks_raises_value_error(
            self, length):
        """Lengths needing more than 255 SHA-512 blocks are refused."""
        with pytest.raises(ValueError):
            hashing.expand_message_xmd(b"m", b"DST", length)

    def test_expand_message_xmd_dst_256_bytes_raises_value_error(self):
        """A DST longer than 255 bytes is refused (no silent hashing)."""
        with pytest.raises(ValueError):
            hashing.expand_message_xmd(b"m", b"D" * 256, 64)

    def test_expand_message_xmd_dst_255_bytes_accepted(self):
        """A DST of exactly 255 bytes is the longest accepted."""
        assert len(hashing.expand_message_xmd(b"m", b"D" * 255, 64)) == 64

    def test_expand_message_xmd_shorter_length_not_prefix_of_longer(self):
        """The length is bound into the output, so 32 bytes ≠ a prefix of
        64."""
        dst = XMD["dst"].encode()
        short = hashing.expand_message_xmd(b"abc", dst, 32)
        long = hashing.expand_message_xmd(b"abc", dst, 64)
        assert short != long[:32]

    @settings(max_examples=200, deadline=None)
    @given(msg=st.binary(max_size=200), dst_a=st.binary(min_size=1,
           max_size=40), dst_b=st.binary(min_size=1, max_size=40))
    def test_expand_message_xmd_distinct_dsts_distinct_outputs(
            self, msg, dst_a, dst_b):
        """Two different DSTs never give the same 64 bytes for one message."""
        if dst_a == dst_b:
            return
        assert (hashing.expand_message_xmd(msg, dst_a, 64)
                != hashing.expand_message_xmd(msg, dst_b, 64))


class TestHashToGroup:
    def test_hash_to_group_composition_is_xmd_then_element_derivation(self):
        """hash_to_group = element_from_uniform(expand_message_xmd(·, 64))."""
        dst = hashing.kind_dst(CONSORTIUM, "ip4.addr.c1")
        uniform = hashing.expand_message_xmd(b"x", dst, 64)
        assert (hashing.hash_to_group(b"x", dst)
                == group.element_from_uniform(uniform))

    @settings(max_examples=200, deadline=None)
    @given(msg=st.binary(max_size=100))
    def test_hash_to_group_any_message_valid_element(self, msg):
        """Every hashed message is a valid, non-identity element."""
        h = hashing.HashToGroup(CONSORTIUM, "domain.name.c1")
        element = h(msg)
        assert group.validate_element(element) == element

    def test_hash_to_group_same_input_deterministic(self):
        """Two independent HashToGroup objects agree on every message."""
        first = hashing.HashToGroup(CONSORTIUM, "ip6.addr.c1")
        second = hashing.HashToGroup(CONSORTIUM, "ip6.addr.c1")
        assert first(b"\x01\x06\x80" + bytes(16)) == second(
            b"\x01\x06\x80" + bytes(16))

    @settings(max_examples=300, deadline=None)
    @given(msg=st.binary(max_size=64), kind_a=kind_codes, kind_b=kind_codes)
    def test_hash_to_group_two_kind_codes_different_elements(
            self, msg, kind_a, kind_b):
        """The same message under two kind codes maps to two elements."""
        if kind_a == kind_b:
            return
        assert (hashing.HashToGroup(CONSORTIUM, kind_a)(msg)
                != hashing.HashToGroup(CONSORTIUM, kind_b)(msg))

    @settings(max_examples=300, deadline=None)
    @given(msg=st.binary(max_size=64), cid_a=hex16, cid_b=hex16,
           kind=kind_codes)
    def test_hash_to_group_two_consortium_ids_different_elements(
            self, msg, cid_a, cid_b, kind):
        """The same message and kind in two consortia maps to two elements."""
        if cid_a == cid_b:
            return
        assert (hashing.HashToGroup(cid_a, kind)(msg)
                != hashing.HashToGroup(cid_b, kind)(msg))

    def test_hash_to_group_canonicalisation_version_bump_changes_element(
            self):
        """ip4.addr.c1 and ip4.addr.c2 give different elements for one
        message."""
        msg = b"\x01\x04\x20\x51\x02\x45\x05"
        assert (hashing.HashToGroup(CONSORTIUM, "ip4.addr.c1")(msg)
                != hashing.HashToGroup(CONSORTIUM, "ip4.addr.c2")(msg))

    def test_hash_to_group_repr_names_kind_only(self):
        """The repr names the kind and carries neither DST nor consortium."""
        text = repr(hashing.HashToGroup(CONSORTIUM, "wallet.addr.c1"))
        assert text == "HashToGroup(kind='wallet.addr.c1')"


class TestKindDst:
    def test_kind_dst_ip4_full_string_literal(self):
        """The DST layout is protocol-frozen: prefix, suite, consortium,
        kind."""
        assert hashing.kind_dst(CONSORTIUM, "ip4.addr.c1") == (
            b"LABMATCH-V1-CS01-ristretto255_XMD:SHA-512_R255MAP_RO_-"
            b"0123456789abcdef-ip4.addr.c1")

    def test_kind_dst_hash_to_group_object_uses_same_dst(self):
        """HashToGroup.dst is exactly kind_dst for its consortium and kind."""
        h = hashing.HashToGroup(CONSORTIUM, "ip6.addr.c1")
        assert h.dst == hashing.kind_dst(CONSORTIUM, "ip6.addr.c1")

    @pytest.mark.parametrize("consortium_id,kind", [
        ("", "ip4.addr.c1"), (CONSORTIUM, ""), ("", "")])
    def test_kind_dst_empty_part_raises_value_error(self, consortium_id, kind):
        """An empty consortium id or kind code is refused."""
        with pytest.raises(ValueError):
            hashing.kind_dst(consortium_id, kind)

    def test_kind_dst_over_255_bytes_raises_value_error(self):
        """A kind code that pushes the DST past 255 bytes is refused."""
        with pytest.raises(ValueError):
            hashing.kind_dst(CONSORTIUM, "k" * 250)

    def test_kind_dst_non_ascii_kind_raises_value_error(self):
        """Kind codes are ASCII; anything else is refused."""
        with pytest.raises(ValueError):
            hashing.kind_dst(CONSORTIUM, "ip4.adr\u00e9.c1")

    def test_kind_dst_ambiguous_split_distinct_or_refused(self):
        """Two different (consortium id, kind) pairs never share a DST."""
        try:
            first = hashing.kind_dst("ab-cd", "x")
            second = hashing.kind_dst("ab", "cd-x")
        except ValueError:
            return
        assert first != second


def _context_string(mode: int) -> bytes:
    return b"OPRFV1-" + bytes([mode]) + b"-" + OPRF["identifier"].encode()


def _derive_key_pair(seed: bytes, info: bytes, mode: int) -> bytes:
    """RFC 9497 section 3.2.1 DeriveKeyPair for ristretto255-SHA512."""
    derive_input = seed + len(info).to_bytes(2, "big") + info
    dst = b"DeriveKeyPair" + _context_string(mode)
    for counter in range(256):
        wide = hashing.expand_message_xmd(
            derive_input + bytes([counter]), dst, 64)
        try:
            return group.scalar_from_wide(wide)
        except ValueError:
            continue
    raise AssertionError("DeriveKeyPair found no non-zero scalar")


def _finalize(data: bytes, unblinded: bytes) -> bytes:
    """RFC 9497 Finalize: SHA-512 over length-prefixed input and element."""
    return hashlib.sha512(
        len(data).to_bytes(2, "big") + data
        + len(unblinded).to_bytes(2, "big") + unblinded
        + b"Finalize").digest()


def _oprf_cases():
    for mode in OPRF["modes"]:
        for vector in mode["vectors"]:
            for index in range(len(vector["input"])):
                case = {key: vector[key][index] for key in (
                    "input", "blind", "blinded_element",
                    "evaluation_element", "output")}
                yield pytest.param(
                    mode, case,
                    id=f"{mode['name']}-{vector['name']}-item{index}")


class TestRfc9497OprfRistretto255Sha512:
    @pytest.mark.parametrize("mode", OPRF["modes"],
                             ids=[m["name"] for m in OPRF["modes"]])
    def test_derive_key_pair_rfc9497_seed_matches_sksm(self, mode):
        """DeriveKeyPair(Seed, KeyInfo) gives skSm (and pkSm = skSm·G)."""
        sk = _derive_key_pair(bytes.fromhex(OPRF["seed"]),
                              bytes.fromhex(OPRF["key_info"]), mode["mode"])
        assert sk.hex() == mode["skSm"]
        if mode["pkSm"] is not None:
            assert group.scalarmult_base(sk).hex() == mode["pkSm"]

    @pytest.mark.parametrize("mode,case", list(_oprf_cases()))
    def test_oprf_rfc9497_vector_blind_evaluate_finalize_match(
            self, mode, case):
        """HashToGroup, Blind, BlindEvaluate and Finalize reproduce the
        RFC."""
        data = bytes.fromhex(case["input"])
        blind = bytes.fromhex(case["blind"])
        sk = bytes.fromhex(mode["skSm"])
        dst = b"HashToGroup-" + _context_string(mode["mode"])
        assert dst.startswith(b"HashToGroup-OPRFV1-")

        input_element = hashing.hash_to_group(data, dst)
        blinded = group.scalarmult(blind, input_element)
        assert blinded.hex() == case["blinded_element"]

        evaluated = group.scalarmult(sk, group.validate_element(blinded))
        assert evaluated.hex() == case["evaluation_element"]

        unblinded = group.scalarmult(group.scalar_invert(blind), evaluated)
        assert unblinded == group.scalarmult(sk, input_element)
        assert _finalize(data, unblinded).hex() == case["output"]

    def test_oprf_rfc9497_oprf_mode_dst_literal(self):
        """The OPRF-mode HashToGroup DST is the RFC's exact string."""
        assert (b"HashToGroup-" + _context_string(0)
                == b"HashToGroup-OPRFV1-\x00-ristretto255-SHA512")
