"""Ed25519 signatures over labelled payloads (labmatch.psi.signing).

The tamper matrix: every payload and signature byte flipped, a signature
moved to another message type, the wrong key, wrong-length signatures
and keys, a malleated S (S + ℓ) and the all-zero key. Every case must end
in BadSignature with the one opaque message. Frozen signed-bytes prefixes
live in ``vectors/trust_golden.json`` (generator in test_merkle.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from labmatch.psi import signing
from labmatch.psi.errors import BadSignature, LabmatchError

GOLDEN = json.loads(
    (Path(__file__).parent / "vectors" / "trust_golden.json").read_text())

KEY = SigningKey(bytes(range(32)))
PUBLIC = bytes(KEY.verify_key)
OTHER = SigningKey(bytes(range(1, 33)))
OPAQUE = "signature verification failed"
TYPES = sorted(signing.MESSAGE_TYPES)
PAYLOAD = b"\x0a\x05hello\x12\x03abc"
# The order of the Ed25519 group (RFC 8032).
ELL = 2 ** 252 + 27742317777372353535851937790883648493


def flip(data: bytes, index: int, bit: int = 0) -> bytes:
    return data[:index] + bytes([data[index] ^ (1 << bit)]) + data[index + 1:]


def assert_refused(public: bytes, mtype: str, payload: bytes,
                   signature: bytes) -> None:
    with pytest.raises(BadSignature) as info:
        signing.verify(public, mtype, payload, signature)
    assert str(info.value) == OPAQUE


class TestSignedBytes:
    def test_message_types_are_the_three_signed_messages(self):
        """The three message types are key/upload/evaluation messages."""
        assert signing.MESSAGE_TYPES == {
            "key-commit", "upload-manifest", "evaluation-manifest"}
        assert (signing.KEY_COMMIT, signing.UPLOAD_MANIFEST,
                signing.EVALUATION_MANIFEST) == (
            "key-commit", "upload-manifest", "evaluation-manifest")

    @pytest.mark.parametrize("mtype", TYPES)
    def test_signed_bytes_prefix_literal(self, mtype):
        """Signed bytes: LABMATCH-V1-SIG/<type>, a zero byte, the payload."""
        expected = b"LABMATCH-V1-SIG/" + mtype.encode() + b"\x00" + PAYLOAD
        assert signing.signed_bytes(mtype, PAYLOAD) == expected

    @pytest.mark.parametrize("mtype", TYPES)
    def test_signed_bytes_prefix_matches_frozen_vector(self, mtype):
        """Each type's prefix equals the frozen vector."""
        frozen = GOLDEN["signed_bytes_prefix"]
        assert set(frozen) == set(TYPES)
        assert signing.signed_bytes(mtype, b"").hex() == frozen[mtype]

    def test_signed_bytes_no_prefix_is_a_prefix_of_another(self):
        """No type's labelled prefix starts another type's signed bytes."""
        prefixes = [signing.signed_bytes(t, b"") for t in TYPES]
        for a in prefixes:
            for b in prefixes:
                if a != b:
                    assert not b.startswith(a)

    @pytest.mark.parametrize("mtype", [
        "", "key-commit ", "Key-Commit", "match-report", "key-commit\x00",
        "upload-manifest/x"])
    def test_signed_bytes_unknown_type_value_error(self, mtype):
        """An unknown message type is a ValueError naming the type."""
        with pytest.raises(ValueError, match="unknown message type"):
            signing.signed_bytes(mtype, PAYLOAD)

    def test_sign_unknown_type_value_error(self):
        """sign refuses an unknown message type with ValueError."""
        with pytest.raises(ValueError, match="unknown message type"):
            signing.sign(KEY, "rt-query", PAYLOAD)

    def test_verify_unknown_type_value_error(self):
        """verify refuses an unknown message type with ValueError."""
        sig = signing.sign(KEY, signing.KEY_COMMIT, PAYLOAD)
        with pytest.raises(ValueError, match="unknown message type"):
            signing.verify(PUBLIC, "rt-query", PAYLOAD, sig)


class TestSignVerifyRoundTrip:
    @pytest.mark.parametrize("mtype", TYPES)
    def test_sign_verify_round_trip(self, mtype):
        """A signature verifies for its key, type and payload."""
        sig = signing.sign(KEY, mtype, PAYLOAD)
        assert len(sig) == signing.SIGNATURE_BYTES == 64
        assert signing.verify(PUBLIC, mtype, PAYLOAD, sig) is None

    @pytest.mark.parametrize("mtype", TYPES)
    def test_sign_is_plain_ed25519_over_signed_bytes(self, mtype):
        """The signature covers the labelled bytes, not the bare payload."""
        sig = signing.sign(KEY, mtype, PAYLOAD)
        assert sig == KEY.sign(signing.signed_bytes(mtype, PAYLOAD)).signature
        assert sig != KEY.sign(PAYLOAD).signature

    def test_sign_deterministic(self):
        """Ed25519 gives the same signature twice for the same input."""
        assert (signing.sign(KEY, signing.KEY_COMMIT, PAYLOAD)
                == signing.sign(KEY, signing.KEY_COMMIT, PAYLOAD))

    def test_sign_empty_payload_round_trip(self):
        """An empty payload signs and verifies."""
        sig = signing.sign(KEY, signing.UPLOAD_MANIFEST, b"")
        signing.verify(PUBLIC, signing.UPLOAD_MANIFEST, b"", sig)

    @settings(max_examples=50, deadline=None)
    @given(st.binary(max_size=300), st.sampled_from(TYPES))
    def test_sign_verify_any_payload_round_trip(self, payload, mtype):
        """Any payload bytes round-trip under any type (property)."""
        sig = signing.sign(KEY, mtype, payload)
        signing.verify(PUBLIC, mtype, payload, sig)


class TestVerifyTamperMatrix:
    @pytest.mark.parametrize("signed_as", TYPES)
    @pytest.mark.parametrize("checked_as", TYPES)
    def test_verify_other_message_type_bad_signature(self, signed_as,
                                                     checked_as):
        """A signature for one message type never verifies as another."""
        sig = signing.sign(KEY, signed_as, PAYLOAD)
        if signed_as == checked_as:
            signing.verify(PUBLIC, checked_as, PAYLOAD, sig)
        else:
            assert_refused(PUBLIC, checked_as, PAYLOAD, sig)

    def test_verify_raw_payload_signature_bad_signature(self):
        """A bare Ed25519 signature over the payload is refused."""
        assert_refused(PUBLIC, signing.KEY_COMMIT, PAYLOAD,
                       KEY.sign(PAYLOAD).signature)

    def test_verify_flipped_payload_bits_bad_signature(self):
        """Flipping any bit of any payload byte is refused."""
        sig = signing.sign(KEY, signing.KEY_COMMIT, PAYLOAD)
        for i in range(len(PAYLOAD)):
            for bit in (0, 7):
                assert_refused(PUBLIC, signing.KEY_COMMIT,
                               flip(PAYLOAD, i, bit), sig)

    def test_verify_flipped_signature_bytes_bad_signature(self):
        """Flipping any bit of any signature byte is refused."""
        sig = signing.sign(KEY, signing.UPLOAD_MANIFEST, PAYLOAD)
        for i in range(len(sig)):
            for bit in (0, 7):
                assert_refused(PUBLIC, signing.UPLOAD_MANIFEST, PAYLOAD,
                               flip(sig, i, bit))

    @pytest.mark.parametrize("change", [
        lambda p: p + b"\x00", lambda p: p[:-1], lambda p: b"\x00" + p,
        lambda p: b""])
    def test_verify_extended_or_truncated_payload_bad_signature(self, change):
        """Appending, dropping or prefixing payload bytes is refused."""
        sig = signing.sign(KEY, signing.EVALUATION_MANIFEST, PAYLOAD)
        assert_refused(PUBLIC, signing.EVALUATION_MANIFEST, change(PAYLOAD),
                       sig)

    def test_verify_wrong_key_bad_signature(self):
        """Another lab's key does not verify the signature."""
        sig = signing.sign(KEY, signing.KEY_COMMIT, PAYLOAD)
        assert_refused(bytes(OTHER.verify_key), signing.KEY_COMMIT, PAYLOAD,
                       sig)

    def test_verify_flipped_key_bad_signature(self):
        """A public key one bit away does not verify the signature."""
        sig = signing.sign(KEY, signing.KEY_COMMIT, PAYLOAD)
        for i in (0, 15, 31):
            assert_refused(flip(PUBLIC, i), signing.KEY_COMMIT, PAYLOAD, sig)

    @pytest.mark.parametrize("length", [0, 1, 32, 63, 65, 128])
    def test_verify_wrong_length_signature_bad_signature(self, length):
        """A signature of any length but 64 is refused opaquely."""
        sig = signing.sign(KEY, signing.KEY_COMMIT, PAYLOAD)
        bad = (sig * 3)[:length]
        assert_refused(PUBLIC, signing.KEY_COMMIT, PAYLOAD, bad)

    def test_verify_signature_with_trailing_payload_bad_signature(self):
        """A combined signature‖message blob is not accepted as a signature."""
        signed = KEY.sign(signing.signed_bytes(signing.KEY_COMMIT, PAYLOAD))
        assert_refused(PUBLIC, signing.KEY_COMMIT, PAYLOAD, bytes(signed))

    @pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
    def test_verify_wrong_length_key_bad_signature(self, length):
        """A public key of any length but 32 is refused opaquely."""
        sig = signing.sign(KEY, signing.KEY_COMMIT, PAYLOAD)
        bad = (PUBLIC * 2)[:length]
        assert_refused(bad, signing.KEY_COMMIT, PAYLOAD, sig)

    def test_verify_all_zero_key_and_signature_bad_signature(self):
        """The all-zero key with an all-zero signature is refused."""
        assert_refused(bytes(32), signing.KEY_COMMIT, PAYLOAD, bytes(64))

    def test_verify_small_order_key_bad_signature(self):
        """The identity point as a key (small order) is refused."""
        identity = bytes([1]) + bytes(31)
        assert_refused(identity, signing.KEY_COMMIT, PAYLOAD,
                       identity + bytes(32))

    def test_verify_malleated_s_plus_order_bad_signature(self):
        """A signature with S replaced by S + ℓ (non-canonical) is refused."""
        sig = signing.sign(KEY, signing.KEY_COMMIT, PAYLOAD)
        s = int.from_bytes(sig[32:], "little") + ELL
        assert s < 2 ** 256
        assert_refused(PUBLIC, signing.KEY_COMMIT, PAYLOAD,
                       sig[:32] + s.to_bytes(32, "little"))

    @pytest.mark.parametrize("bad", ["x" * 64, None, 12345])
    def test_verify_non_bytes_signature_bad_signature(self, bad):
        """A signature that is not bytes is refused opaquely, not a crash."""
        assert_refused(PUBLIC, signing.KEY_COMMIT, PAYLOAD, bad)

    def test_verify_refusal_is_labmatch_error_without_cause(self):
        """BadSignature is a LabmatchError and hides the library's cause."""
        sig = signing.sign(KEY, signing.KEY_COMMIT, PAYLOAD)
        with pytest.raises(LabmatchError) as info:
            signing.verify(PUBLIC, signing.KEY_COMMIT, PAYLOAD + b"!", sig)
        assert isinstance(info.value, BadSignature)
        assert info.value.__cause__ is None
        assert info.value.__suppress_context__

    @settings(max_examples=50, deadline=None)
    @given(st.binary(min_size=1, max_size=200), st.data())
    def test_verify_any_flip_bad_signature(self, payload, data):
        """Any one-bit flip of payload or signature is refused (property)."""
        mtype = data.draw(st.sampled_from(TYPES))
        sig = signing.sign(KEY, mtype, payload)
        if data.draw(st.booleans()):
            i = data.draw(st.integers(0, len(payload) - 1))
            payload = flip(payload, i, data.draw(st.integers(0, 7)))
        else:
            i = data.draw(st.integers(0, 63))
            sig = flip(sig, i, data.draw(st.integers(0, 7)))
        assert_refused(PUBLIC, mtype, payload, sig)
