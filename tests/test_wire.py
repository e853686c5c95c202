"""Signed protocol messages (labmatch.wire; protocol.md 9 and 10.7 item 16).

Round trips for KeyCommit, UploadManifest and EvaluationManifest, then
the refusal matrix of open_message: every Expect field, version and
suite, nonce length, each edge of the validity window, type confusion,
size, unparseable payloads and tampering. Every clock is fixed through
``now=``; every refusal is a WireError whose message names what failed.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from labmatch import wire
from labmatch._proto import coordinator_pb2 as pb
from labmatch.psi import signing
from labmatch.psi.errors import LabmatchError
from labmatch.psi.hashing import PROTOCOL_VERSION, SUITE

UTC = dt.UTC
KEY = SigningKey(bytes(range(32)))
PUBLIC = bytes(KEY.verify_key)
OTHER = SigningKey(bytes(range(1, 33)))
CID = "0123456789abcdef"
EPOCH = "2024-06-01"
KIND = "ip4.addr.c1"
OPENS = dt.datetime(2024, 5, 31, tzinfo=UTC)
CLOSES = dt.datetime(2024, 6, 4, tzinfo=UTC)
NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
NONCE = bytes(range(16))
EXPECT = wire.Expect(consortium_id=CID, epoch=EPOCH, kind=KIND,
                     sender="lab-a", recipient="lab-b")
TYPES = [pb.KeyCommit, pb.UploadManifest, pb.EvaluationManifest]


def ts(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def header(**changes) -> pb.Header:
    h = wire.new_header(consortium_id=CID, sender="lab-a", epoch=EPOCH,
                        kind=KIND, recipient="lab-b", now=NOW, nonce=NONCE)
    for name, value in changes.items():
        setattr(h, name, value)
    return h


def message(mtype=pb.KeyCommit, **header_changes):
    h = header(**header_changes)
    digest = hashlib.sha256(b"chunk").digest()
    if mtype is pb.KeyCommit:
        return pb.KeyCommit(header=h, public_key=bytes(range(32)))
    if mtype is pb.UploadManifest:
        return pb.UploadManifest(header=h, count=16, chunk_count=1,
                                 chunk_digests=[digest], merkle_root=digest,
                                 key_commit_digest=bytes(32))
    return pb.EvaluationManifest(header=h, upload_digest=bytes(32), count=16,
                                 chunk_count=1, chunk_digests=[digest],
                                 merkle_root=digest, sealed_key=b"k" * 80,
                                 stream_header=b"h" * 24)


def signed(mtype=pb.KeyCommit, key=KEY, **header_changes):
    return wire.sign_message(key, message(mtype, **header_changes))


def open_(sm, mtype=pb.KeyCommit, expect=EXPECT, now=NOW, key=PUBLIC):
    return wire.open_message(sm, mtype, key, expect, now=now)


def refused(match: str, sm, mtype=pb.KeyCommit, **kwargs) -> WireError:
    with pytest.raises(wire.WireError, match=match) as info:
        open_(sm, mtype, **kwargs)
    return info.value


WireError = wire.WireError


class TestSignAndOpen:
    @pytest.mark.parametrize("mtype", TYPES)
    def test_sign_open_round_trip(self, mtype):
        """A signed message opens to an equal message of its own type."""
        original = message(mtype)
        opened = open_(wire.sign_message(KEY, original), mtype)
        assert type(opened) is mtype
        assert opened == original

    @pytest.mark.parametrize("mtype", TYPES)
    def test_sign_message_signature_over_labelled_payload(self, mtype):
        """The signature is signing.sign over the exact payload bytes."""
        sm = signed(mtype)
        label = {pb.KeyCommit: signing.KEY_COMMIT,
                 pb.UploadManifest: signing.UPLOAD_MANIFEST,
                 pb.EvaluationManifest: signing.EVALUATION_MANIFEST}[mtype]
        signing.verify(PUBLIC, label, sm.payload, sm.signature)
        assert sm.payload == message(mtype).SerializeToString(
            deterministic=True)

    def test_sign_message_deterministic(self):
        """Signing the same message twice gives identical bytes."""
        assert signed(pb.UploadManifest) == signed(pb.UploadManifest)

    def test_payload_digest_is_sha256_of_payload(self):
        """payload_digest is SHA-256 of the signed payload bytes."""
        sm = signed()
        assert wire.payload_digest(sm) == hashlib.sha256(sm.payload).digest()

    def test_payload_digest_differs_between_messages(self):
        """Two messages with different nonces have different digests."""
        a = signed(nonce=bytes(16))
        b = signed(nonce=bytes([1]) * 16)
        assert wire.payload_digest(a) != wire.payload_digest(b)

    def test_open_expect_only_consortium_accepts_any_peer(self):
        """Expect fields left None are not checked."""
        sm = signed(sender="lab-z", recipient="", kind="x.y.c1",
                    epoch="2024-06-02")
        assert open_(sm, expect=wire.Expect(consortium_id=CID),
                     now=NOW).header.sender == "lab-z"

    def test_open_broadcast_recipient_expected_empty(self):
        """A broadcast (empty recipient) opens when the receiver expects ''."""
        sm = signed(recipient="")
        expect = wire.Expect(consortium_id=CID, recipient="")
        assert open_(sm, expect=expect).header.recipient == ""

    def test_wire_error_is_labmatch_value_error(self):
        """WireError is both a LabmatchError and a ValueError."""
        assert issubclass(WireError, LabmatchError)
        assert issubclass(WireError, ValueError)


class TestExpectMismatch:
    @pytest.mark.parametrize("field, header_field, value", [
        ("consortium", "consortium_id", "fedcba9876543210"),
        ("epoch", "epoch", "2024-06-02"),
        ("kind", "kind", "ip4.cell24.c1"),
        ("sender", "sender", "lab-c"),
        ("recipient", "recipient", "lab-c"),
        ("recipient", "recipient", ""),
    ])
    @pytest.mark.parametrize("mtype", TYPES)
    def test_open_header_field_mismatch_names_field(self, mtype, field,
                                                    header_field, value):
        """A header naming another consortium/epoch/kind/sender/recipient
        is refused with a WireError naming that field."""
        sm = signed(mtype, **{header_field: value})
        refused(f"names the wrong {field}$", sm, mtype)

    @pytest.mark.parametrize("field, value", [
        ("consortium_id", "fedcba9876543210"), ("epoch", "2024-06-02"),
        ("kind", "ip4.cell24.c1"), ("sender", "lab-c"),
        ("recipient", "lab-c"), ("recipient", "")])
    def test_open_expect_field_differs_refused(self, field, value):
        """The receiver expecting another value of any field refuses."""
        changes = {k: getattr(EXPECT, k) for k in
                   ("consortium_id", "epoch", "kind", "sender", "recipient")}
        changes[field] = value
        name = "consortium" if field == "consortium_id" else field
        refused(f"wrong {name}", signed(), expect=wire.Expect(**changes))

    def test_open_field_differs_by_case_refused(self):
        """Field comparison is exact: a sender in other case is refused."""
        refused("wrong sender", signed(sender="Lab-A"))


class TestVersionAndNonce:
    @pytest.mark.parametrize("changes", [
        dict(version=PROTOCOL_VERSION + 1), dict(version=0),
        dict(suite="CS02"), dict(suite=""), dict(suite=SUITE.lower())])
    def test_open_wrong_version_or_suite_refused(self, changes):
        """Another protocol version or suite is refused."""
        refused("unsupported protocol version or suite", signed(**changes))

    @pytest.mark.parametrize("length", [0, 1, 15, 17, 32])
    def test_open_nonce_not_sixteen_bytes_refused(self, length):
        """A nonce of any length but 16 is refused."""
        refused("nonce", signed(nonce=bytes(length)))

    def test_open_payload_without_header_refused(self):
        """A parseable payload with no header fails the version check."""
        sm = wire.sign_message(KEY, pb.KeyCommit(public_key=bytes(32)))
        refused("unsupported protocol version", sm)


class TestValidityWindow:
    def test_open_one_second_before_expiry_accepted(self):
        """A message opens until the second before expires_at."""
        open_(signed(), now=CLOSES - dt.timedelta(seconds=1))

    @pytest.mark.parametrize("after", [dt.timedelta(0),
                                       dt.timedelta(seconds=1),
                                       dt.timedelta(days=30)])
    def test_open_at_or_after_expiry_refused(self, after):
        """expires_at ≤ now is refused as expired."""
        refused("expired", signed(), now=CLOSES + after)

    def test_open_explicit_early_expiry_refused(self):
        """A header that set its own earlier expiry is refused after it."""
        sm = signed(expires_at=ts(NOW))
        refused("expired", sm)
        open_(sm, now=NOW - dt.timedelta(seconds=1))

    def test_open_issued_at_skew_limit_accepted(self):
        """issued_at exactly MAX_SKEW ahead of now is accepted."""
        assert wire.MAX_SKEW == dt.timedelta(minutes=2)
        open_(signed(issued_at=ts(NOW + wire.MAX_SKEW)))

    @pytest.mark.parametrize("ahead", [
        wire.MAX_SKEW + dt.timedelta(seconds=1), dt.timedelta(hours=1)])
    def test_open_issued_beyond_skew_refused(self, ahead):
        """issued_at more than MAX_SKEW in the future is refused."""
        refused("issued in the future", signed(issued_at=ts(NOW + ahead)))

    def test_open_expiry_at_grace_end_accepted(self):
        """expires_at exactly at the end of the epoch's grace is accepted."""
        open_(signed(expires_at=ts(CLOSES)))

    @pytest.mark.parametrize("beyond", [dt.timedelta(seconds=1),
                                        dt.timedelta(days=365)])
    def test_open_expiry_beyond_grace_refused(self, beyond):
        """expires_at past the epoch's grace end is refused."""
        refused("outlives its epoch's grace period",
                signed(expires_at=ts(CLOSES + beyond)))

    def test_open_within_window_before_epoch_accepted(self):
        """A statement issued and opened the day before its epoch opens."""
        early = OPENS + dt.timedelta(hours=1)
        open_(signed(issued_at=ts(early)), now=early)

    def test_open_issued_before_window_opens_refused(self):
        """A statement issued before its epoch's window opens is refused.

        The module promises batch statements are valid "from the day before
        their epoch"; a header signed a week before that is outside the
        window, yet check_header ignores the window's opening.
        """
        issued = OPENS - dt.timedelta(days=7)
        with pytest.raises(WireError):
            open_(signed(issued_at=ts(issued)), now=NOW)

    @settings(max_examples=100, deadline=None)
    @given(st.integers(min_value=ts(OPENS), max_value=ts(CLOSES) - 1),
           st.integers(min_value=-3600, max_value=3600))
    def test_open_window_property(self, now_s, issued_offset):
        """Inside the window, acceptance is exactly: issued within the
        window (and before the expiry) and no later than now + skew
        (property)."""
        now = dt.datetime.fromtimestamp(now_s, UTC)
        sm = signed(issued_at=now_s + issued_offset)
        if issued_offset > wire.MAX_SKEW.total_seconds():
            refused("issued in the future", sm, now=now)
        elif not ts(OPENS) <= now_s + issued_offset <= ts(CLOSES):
            refused("issued outside its epoch's window", sm, now=now)
        else:
            open_(sm, now=now)


class TestTypeSizeAndTamper:
    @pytest.mark.parametrize("signed_as", TYPES)
    @pytest.mark.parametrize("opened_as", TYPES)
    def test_open_as_other_type_refused(self, signed_as, opened_as):
        """A payload signed as one type never opens as another."""
        sm = signed(signed_as)
        if signed_as is opened_as:
            open_(sm, opened_as)
        else:
            refused("^signature verification failed$", sm, opened_as)

    def test_open_signature_from_other_type_label_refused(self):
        """A KeyCommit payload signed under the upload label is refused."""
        sm = signed()
        forged = pb.SignedMessage(payload=sm.payload, signature=signing.sign(
            KEY, signing.UPLOAD_MANIFEST, sm.payload))
        refused("^signature verification failed$", forged)

    def test_open_wrong_signer_refused(self):
        """A message signed by another key is refused opaquely."""
        refused("^signature verification failed$", signed(key=OTHER))

    def test_open_wrong_verify_key_refused(self):
        """Checking against another lab's key is refused opaquely."""
        refused("^signature verification failed$", signed(),
                key=bytes(OTHER.verify_key))

    @pytest.mark.parametrize("part", ["payload", "signature"])
    def test_open_flipped_byte_refused(self, part):
        """Flipping any byte of payload or signature is refused opaquely."""
        sm = signed(pb.UploadManifest)
        data = getattr(sm, part)
        for i in range(len(data)):
            tampered = pb.SignedMessage()
            tampered.CopyFrom(sm)
            setattr(tampered, part,
                    data[:i] + bytes([data[i] ^ 0x40]) + data[i + 1:])
            refused("^signature verification failed$", tampered,
                    pb.UploadManifest)

    def test_open_swapped_signatures_refused(self):
        """A valid signature of another message does not carry over."""
        a, b = signed(nonce=bytes(16)), signed(nonce=bytes([9]) * 16)
        swapped = pb.SignedMessage(payload=a.payload, signature=b.signature)
        refused("^signature verification failed$", swapped)

    @pytest.mark.parametrize("length", [0, 63, 65])
    def test_open_wrong_length_signature_refused(self, length):
        """A signature of the wrong length is refused opaquely."""
        sm = signed()
        bad = pb.SignedMessage(payload=sm.payload,
                               signature=(sm.signature * 2)[:length])
        refused("^signature verification failed$", bad)

    def test_open_oversize_payload_refused_before_verify(self):
        """A payload over 64 KiB is refused as too large, signed or not."""
        payload = b"\xff" * (64 * 1024 + 1)
        for sig in (bytes(64), signing.sign(KEY, signing.KEY_COMMIT,
                                            payload)):
            refused("too large", pb.SignedMessage(payload=payload,
                                                  signature=sig))

    def test_open_payload_at_size_limit_passes_size_check(self):
        """A payload of exactly 64 KiB passes the size check."""
        payload = b"\xff" * (64 * 1024)
        sm = pb.SignedMessage(payload=payload, signature=signing.sign(
            KEY, signing.KEY_COMMIT, payload))
        refused("does not parse", sm)

    @pytest.mark.parametrize("garbage", [
        b"\xff", b"\xff\xff\xff\xff", b"\x0a\x80", b"\x0a\x05ab",
        b"\x0f"])
    def test_open_garbage_with_valid_signature_does_not_parse(self, garbage):
        """Validly signed bytes that are not a message are 'does not parse'."""
        sm = pb.SignedMessage(payload=garbage, signature=signing.sign(
            KEY, signing.KEY_COMMIT, garbage))
        refused("^signed payload does not parse$", sm)

    def test_open_garbage_with_bad_signature_is_signature_failure(self):
        """Garbage without a valid signature fails on the signature first."""
        refused("^signature verification failed$",
                pb.SignedMessage(payload=b"\xff\xff", signature=bytes(64)))

    def test_open_signed_header_with_bad_epoch_refused(self):
        """A signed header whose epoch is not a date is refused."""
        sm = signed(epoch="June 1st")
        refused("epoch must be a date", sm,
                expect=wire.Expect(consortium_id=CID))


class TestNewHeader:
    def test_new_header_fields_and_defaults(self):
        """new_header fills version, suite, ids, issued_at and grace expiry."""
        h = wire.new_header(consortium_id=CID, sender="lab-a", epoch=EPOCH,
                            kind=KIND, now=NOW)
        assert (h.version, h.suite) == (PROTOCOL_VERSION, SUITE)
        assert (h.consortium_id, h.sender, h.recipient, h.epoch, h.kind) == (
            CID, "lab-a", "", EPOCH, KIND)
        assert h.issued_at == ts(NOW)
        assert h.expires_at == ts(CLOSES)
        assert len(h.nonce) == wire.NONCE_BYTES == 16

    def test_new_header_expiry_is_epoch_grace_end(self):
        """Expiry is 00:00 UTC three days after the epoch day starts."""
        h = wire.new_header(consortium_id=CID, sender="a", epoch="2024-12-31",
                            kind=KIND, now=NOW)
        assert h.expires_at == ts(dt.datetime(2025, 1, 3, tzinfo=UTC))

    def test_new_header_nonces_random_and_distinct(self):
        """Two hundred default nonces are 16 bytes each and all distinct."""
        nonces = {wire.new_header(consortium_id=CID, sender="a", epoch=EPOCH,
                                  kind=KIND, now=NOW).nonce
                  for _ in range(200)}
        assert len(nonces) == 200
        assert all(len(n) == 16 for n in nonces)

    def test_new_header_explicit_nonce_kept(self):
        """An explicit nonce is used as given."""
        h = wire.new_header(consortium_id=CID, sender="a", epoch=EPOCH,
                            kind=KIND, now=NOW, nonce=NONCE)
        assert h.nonce == NONCE

    def test_new_header_without_now_uses_current_time(self):
        """Without now=, issued_at is the current time."""
        before = int(time.time())
        h = wire.new_header(consortium_id=CID, sender="a", epoch=EPOCH,
                            kind=KIND)
        assert before <= h.issued_at <= int(time.time()) + 1

    def test_new_header_malformed_epoch_refused(self):
        """new_header refuses an epoch that is not YYYY-MM-DD."""
        with pytest.raises(WireError, match="YYYY-MM-DD"):
            wire.new_header(consortium_id=CID, sender="a", epoch="2024-6-1",
                            kind=KIND, now=NOW)

    def test_new_header_message_opens_until_grace_end(self):
        """A default header opens at issue time and at the last second."""
        sm = signed()
        open_(sm, now=NOW)
        open_(sm, now=CLOSES - dt.timedelta(seconds=1))
        refused("expired", sm, now=CLOSES)


class TestEpochWindow:
    @pytest.mark.parametrize("epoch, opens, closes", [
        ("2024-06-01", dt.datetime(2024, 5, 31, tzinfo=UTC),
         dt.datetime(2024, 6, 4, tzinfo=UTC)),
        ("2024-02-29", dt.datetime(2024, 2, 28, tzinfo=UTC),
         dt.datetime(2024, 3, 3, tzinfo=UTC)),
        ("2025-01-01", dt.datetime(2024, 12, 31, tzinfo=UTC),
         dt.datetime(2025, 1, 4, tzinfo=UTC)),
    ])
    def test_epoch_window_known_dates(self, epoch, opens, closes):
        """The window opens a day early and closes 48 h after the epoch day."""
        assert wire.epoch_window(epoch) == (opens, closes)

    def test_epoch_window_is_utc_aware(self):
        """Both ends of the window are timezone-aware UTC datetimes."""
        opens, closes = wire.epoch_window(EPOCH)
        assert opens.tzinfo is not None and closes.tzinfo is not None
        assert opens.utcoffset() == closes.utcoffset() == dt.timedelta(0)
        assert closes - opens == dt.timedelta(days=4)

    @pytest.mark.parametrize("epoch", [
        "", "2024-6-1", "2024-06-1", "20240601", "2024-06-01T00:00",
        "2024-06-01 ", " 2024-06-01", "2024/06/01", "2024-02-30",
        "2024-13-01", "2023-02-29", "24-06-01", "June 1st", None, 20240601,
    ])
    def test_epoch_window_malformed_refused(self, epoch):
        """Anything but a real date written YYYY-MM-DD is a WireError."""
        with pytest.raises(WireError, match="YYYY-MM-DD"):
            wire.epoch_window(epoch)

    @pytest.mark.parametrize("epoch", ["2024-W22-6", "2024-W01-1"])
    def test_epoch_window_iso_week_date_refused(self, epoch):
        """An ISO week date (another spelling of a day) is not an epoch.

        Accepting it would let one day carry two epoch names, and each
        name its own keys, nonces and budgets.
        """
        with pytest.raises(WireError, match="YYYY-MM-DD"):
            wire.epoch_window(epoch)

    @pytest.mark.parametrize("epoch", ["0001-01-01", "9999-12-31"])
    def test_epoch_window_calendar_edges_wire_error(self, epoch):
        """Dates whose window leaves the calendar are a WireError, no crash."""
        with pytest.raises(WireError):
            wire.epoch_window(epoch)

    def test_open_signed_epoch_at_calendar_edge_wire_error(self):
        """A signed header naming year 9999 is refused with a WireError."""
        sm = signed(epoch="9999-12-31")
        with pytest.raises(WireError):
            open_(sm, expect=wire.Expect(consortium_id=CID))
