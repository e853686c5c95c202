"""Attacks on the coordinator's trust model, over real gRPC and mTLS.

Each test names the protection it checks and fails without it: identity
from the certificate and its bound signing key, signed statements about
the caller only, chunk digests and Merkle roots, element validation,
nonces, expiry, budgets, idempotency keys, escrow, pair-labelled tokens
(the relay attack of protocol.md 2.4), a store that holds nothing a
curious coordinator could turn back into an identifier, and a server that
answers any bytes with a proper status. Every test runs on SQLite and on
Redis (fixtures and the honest client kit in conftest.py).
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import hmac
import io
import json
import logging
import os
import string
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from labmatch import wire
from labmatch._proto import coordinator_pb2 as pb
from labmatch._proto import coordinator_pb2_grpc as pb_grpc
from labmatch.client import pki
from labmatch.client import sync as sync_module
from labmatch.client.consortium import init_consortium, load_lab
from labmatch.client.run import SyncOptions, run_sync
from labmatch.client.state import LabState
from labmatch.psi import identifiers
from labmatch.psi.group import ELEMENT_BYTES, IDENTITY
from labmatch.psi.hashing import HashToGroup, expand_message_xmd
from labmatch.psi.keys import EpochKey
from labmatch.psi.manifest import ELEMENTS_PER_CHUNK
from tests.server.conftest import (
    CALL_TIMEOUT,
    ENABLED,
    EPOCH,
    KIND,
    LABS,
    NOT_ENABLED,
    OTHER_KIND,
    TOMORROW,
    Coordinator,
    elements,
    ev_parts,
    haystack,
    honest_engine,
    kind_status,
    new_key,
    peer_status,
    pool,
    rpc_code,
    rpc_error,
    stream,
    stream_code,
    up_parts,
    write_consortium,
    write_csv,
)

OK = grpc.StatusCode.OK
INVALID = grpc.StatusCode.INVALID_ARGUMENT
DENIED = grpc.StatusCode.PERMISSION_DENIED
CLOSED = grpc.StatusCode.FAILED_PRECONDITION
EXISTS = grpc.StatusCode.ALREADY_EXISTS
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
TWO_CHUNKS = ELEMENTS_PER_CHUNK + 3


def _manifest(signed: pb.SignedMessage) -> pb.UploadManifest:
    return pb.UploadManifest.FromString(signed.payload)


def _now() -> int:
    return int(time.time())


def _close(epoch: str) -> int:
    return int(wire.epoch_window(epoch)[1].timestamp())


def _ca(coord: Coordinator) -> pki.CA:
    ca_dir = coord.root / "ca"
    return pki.load_ca((ca_dir / "ca.key").read_bytes(),
                       (ca_dir / "ca.crt").read_bytes())


def _servicer_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "labmatch.server"
            and r.getMessage().startswith("rpc method=")]


async def _round_code(coord: Coordinator, channel) -> grpc.StatusCode:
    return await rpc_code(pb_grpc.CoordinatorStub(channel).GetRound(
        pb.RoundRequest(epoch=EPOCH), timeout=CALL_TIMEOUT))


async def _nothing_published(coord: Coordinator, lab: str = "a") -> None:
    status = await coord.round(lab)
    assert not any(k.HasField("own_upload") for k in status.kinds)
    for peer in coord.consortium.peers(lab):
        view = await coord.round(peer)
        assert not any(p.HasField("upload") for k in view.kinds
                       for p in k.peers if p.peer == lab)
    assert coord.stored_meta_keys("up/") == []


async def _nothing_pending(coord: Coordinator) -> None:
    await _nothing_published(coord)
    assert coord.stored_meta_keys("pending/") == []
    assert coord.stored_blob_keys() == []


# == who is calling =========================================================


async def test_caller_without_client_certificate_is_refused(coord, caplog):
    """mTLS: a channel holding only the root CA fails the handshake."""
    caplog.set_level(logging.INFO, logger="labmatch.server")

    code = await _round_code(coord, coord.channel_with())

    assert code == grpc.StatusCode.UNAVAILABLE
    assert _servicer_lines(caplog) == []
    await coord.round("a")                       # control: lines do appear
    assert len(_servicer_lines(caplog)) == 1


async def test_certificate_from_another_ca_is_refused(coord, tmp_path,
                                                      caplog):
    """mTLS: lab a's certificate from another consortium's CA is refused."""
    caplog.set_level(logging.INFO, logger="labmatch.server")
    init_consortium(tmp_path / "other", ["a", "b"],
                    coordinator="127.0.0.1:50999")
    foreign = load_lab(tmp_path / "other" / "labs" / "a")

    code = await _round_code(coord, coord.channel_with(
        key=foreign.tls_key, cert=foreign.tls_cert))

    assert code == grpc.StatusCode.UNAVAILABLE
    assert _servicer_lines(caplog) == []


async def test_coordinator_certificate_as_client_is_refused(coord):
    """mTLS: the coordinator's server certificate does not make a caller."""
    tls = coord.root / "coordinator"

    code = await _round_code(coord, coord.channel_with(
        key=(tls / "tls.key").read_bytes(),
        cert=(tls / "tls.crt").read_bytes()))

    assert code in (grpc.StatusCode.UNAVAILABLE, DENIED)


async def test_expired_member_certificate_is_refused(coord, caplog):
    """mTLS: lab a's certificate from the right CA, but expired."""
    caplog.set_level(logging.INFO, logger="labmatch.server")
    past = dt.datetime.now(dt.UTC) - pki.CERT_LIFETIME - dt.timedelta(days=2)
    pinned = coord.consortium.labs["a"].signing_key
    key, cert = _ca(coord).issue_lab("a", now=past, signing_key=pinned)

    code = await _round_code(coord, coord.channel_with(key=key, cert=cert))

    assert code == grpc.StatusCode.UNAVAILABLE
    assert _servicer_lines(caplog) == []


async def test_certificate_for_non_member_is_permission_denied(coord):
    """Membership: a valid certificate of the CA for lab mallory."""
    mallory = bytes(SigningKey.generate().verify_key)
    key, cert = _ca(coord).issue_lab("mallory", signing_key=mallory)
    channel = coord.channel_with(key=key, cert=cert)
    code = await _round_code(coord, channel)
    down, sent = await stream_code(pb_grpc.CoordinatorStub(
        channel).DownloadUpload(pb.DownloadRequest(
            epoch=EPOCH, kind=KIND, owner="a"), timeout=CALL_TIMEOUT))

    assert code == DENIED
    assert (down, sent) == (DENIED, [])


async def test_certificate_binding_another_signing_key_is_refused(coord):
    """Key binding: a cert binding another signing key, or none, is refused."""
    rogue = SigningKey.generate()
    ca = _ca(coord)
    key, cert = ca.issue_lab("a", signing_key=bytes(rogue.verify_key))
    unbound_key, unbound_cert = ca.issue_lab("a")
    rogue_stub = pb_grpc.CoordinatorStub(coord.channel_with(key=key,
                                                            cert=cert))
    commit = pb.KeyCommit(header=coord.header("a"), public_key=pool(1)[0])
    signed = wire.sign_message(rogue, commit)

    rogue_round = await _round_code(coord, coord.channel_with(key=key,
                                                              cert=cert))
    unbound_round = await _round_code(coord, coord.channel_with(
        key=unbound_key, cert=unbound_cert))
    publish = await rpc_code(rogue_stub.PublishKeyCommit(
        pb.PublishKeyCommitRequest(commit=signed, idempotency_key="k1"),
        timeout=CALL_TIMEOUT))

    assert (rogue_round, unbound_round, publish) == (DENIED,) * 3
    assert coord.stored_meta_keys("") == []
    assert await _round_code(coord, coord.lab_channel("a")) == OK


# == a lab naming another lab =================================================


async def test_statement_naming_another_sender_is_refused(coord):
    """Sender check: a statement naming (or relayed from) lab b is refused."""
    await coord.commit("b", kind=OTHER_KIND)
    await coord.commit("a")
    forged_commit = coord.key_commit("a", header={"sender": "b"})
    relayed_commit = coord.key_commit("b")            # b's, real
    forged_upload, chunks = coord.upload_manifest("a", elements(0, 4),
                                                  header={"sender": "b"})
    b_commit = coord.commits[("b", EPOCH, OTHER_KIND)]
    relayed_upload, _ = coord.upload_manifest(
        "b", elements(0, 4), kind=OTHER_KIND, commit=b_commit)
    stub = coord.stub("a")

    codes = [
        await rpc_code(stub.PublishKeyCommit(pb.PublishKeyCommitRequest(
            commit=forged_commit, idempotency_key="k1"),
            timeout=CALL_TIMEOUT)),
        await rpc_code(stub.PublishKeyCommit(pb.PublishKeyCommitRequest(
            commit=relayed_commit, idempotency_key="k2"),
            timeout=CALL_TIMEOUT)),
        await rpc_code(stub.Upload(stream(*up_parts(
            forged_upload, enumerate(chunks))), timeout=CALL_TIMEOUT)),
        await rpc_code(stub.Upload(stream(*up_parts(
            relayed_upload, enumerate(chunks))), timeout=CALL_TIMEOUT)),
    ]

    assert codes == [DENIED] * 4
    assert coord.stored_meta_keys("kc/") == sorted([
        f"kc/{EPOCH}/{KIND}/a", f"kc/{EPOCH}/{OTHER_KIND}/b"])
    assert coord.stored_meta_keys("up/") == []
    assert coord.stored_blob_keys() == []


async def test_owner_and_evaluator_fields_cannot_impersonate(coord):
    """Caller from the cert: c cannot evaluate, fetch or download as b."""
    up_a = await coord.upload("a", elements(0, 6))
    up_b = await coord.upload("b", elements(6, 10))
    b_real, b_chunks = coord.evaluation_manifest("b", "a", up_a)
    forged, f_chunks = coord.evaluation_manifest("c", "a", up_a,
                                                 header={"sender": "b"})
    stub_c = coord.stub("c")

    relayed = await rpc_code(stub_c.SubmitEvaluation(
        stream(*ev_parts(b_real, b_chunks)), timeout=CALL_TIMEOUT))
    forged_code = await rpc_code(stub_c.SubmitEvaluation(
        stream(*ev_parts(forged, f_chunks)), timeout=CALL_TIMEOUT))
    own_download = await stream_code(stub_c.DownloadUpload(
        pb.DownloadRequest(epoch=EPOCH, kind=KIND, owner="c"),
        timeout=CALL_TIMEOUT))
    await coord.evaluate("a", "b", up_b)
    await coord.submit("b", b_real, b_chunks)
    fetches = [await coord.fetch("c", evaluator) for evaluator in "abc"]

    assert (relayed, forged_code) == (DENIED, DENIED)
    assert own_download == (INVALID, [])
    assert fetches == [(CLOSED, []), (CLOSED, []), (INVALID, [])]
    assert coord.stored_meta_keys("ev/") == sorted([
        f"ev/{EPOCH}/{KIND}/a/b", f"ev/{EPOCH}/{KIND}/b/a"])
    view_a = await coord.round("a")
    assert peer_status(view_a, "b").released
    assert not peer_status(view_a, "c").evaluated_by_peer


# == upload integrity =========================================================


async def test_tampered_chunk_is_refused_pending_dropped(coord):
    """Chunk digests: a tampered chunk is refused and its upload dropped."""
    await coord.commit("a")
    signed, chunks = coord.upload_manifest("a", elements(0, TWO_CHUNKS))
    tampered = bytearray(chunks[1])
    tampered[5] ^= 0x01

    code, details = await rpc_error(coord.stub("a").Upload(stream(
        *up_parts(signed, [(0, chunks[0]), (1, bytes(tampered))])),
        timeout=CALL_TIMEOUT))

    assert code == INVALID and "digest" in details
    await _nothing_pending(coord)


async def test_truncated_stream_is_incomplete_then_resumes(coord):
    """Resumable uploads: a truncated one is resumed by its missing chunks."""
    items = pool(2 * ELEMENTS_PER_CHUNK + 5)
    await coord.commit("a")
    signed, chunks = coord.upload_manifest("a", items)
    assert len(chunks) == 3

    cut = await coord.send_upload("a", signed, [(1, chunks[1])], key="k1")
    await _nothing_published(coord)
    nothing = await coord.send_upload("a", signed, [], key="k1")
    done = await coord.send_upload("a", signed,
                                   [(i, chunks[i]) for i in cut.missing],
                                   key="k1")
    parts = await coord.download("b", "a")

    assert (cut.complete, list(cut.missing)) == (False, [0, 2])
    assert (nothing.complete, list(nothing.missing)) == (False, [0, 2])
    assert done.complete and not done.missing
    assert parts[0].manifest == signed
    assert b"".join(p.chunk.data for p in parts[1:]) == b"".join(items)
    assert coord.stored_meta_keys("pending/") == []


async def test_chunk_under_wrong_index_is_refused(coord):
    """Chunk indexes: the right bytes under the wrong index are refused."""
    items = pool(2 * ELEMENTS_PER_CHUNK)
    await coord.commit("a")
    signed, chunks = coord.upload_manifest("a", items)
    assert [len(c) for c in chunks] == [len(chunks[0])] * 2

    code, details = await rpc_error(coord.stub("a").Upload(stream(
        *up_parts(signed, [(0, chunks[1]), (1, chunks[0])])),
        timeout=CALL_TIMEOUT))

    assert code == INVALID and "digest" in details
    await _nothing_pending(coord)


async def test_manifest_from_another_epoch_is_refused(coord):
    """Epoch binding: a past epoch's or cross-epoch manifest is refused."""
    past = (dt.date.fromisoformat(EPOCH) - dt.timedelta(days=10)).isoformat()
    today_commit = await coord.commit("a")
    await coord.commit("a", epoch=TOMORROW)
    old, chunks = coord.upload_manifest(
        "a", elements(0, 5), epoch=past, commit=today_commit,
        header={"issued_at": _close(past) - 86400,
                "expires_at": _close(past)})
    mixed, _ = coord.upload_manifest("a", elements(0, 5), epoch=TOMORROW,
                                     commit=today_commit)

    old_code, old_details = await rpc_error(coord.stub("a").Upload(
        stream(*up_parts(old, enumerate(chunks))), timeout=CALL_TIMEOUT))
    mixed_code, mixed_details = await rpc_error(coord.stub("a").Upload(
        stream(*up_parts(mixed, enumerate(chunks))), timeout=CALL_TIMEOUT))

    assert old_code == DENIED and "expired" in old_details
    assert mixed_code == INVALID and "key commitment" in mixed_details
    await _nothing_pending(coord)


async def test_replayed_manifest_after_publication_changes_nothing(coord):
    """Write-once uploads: a replayed published manifest changes nothing."""
    items = elements(0, 20)
    signed = await coord.upload("a", items)
    blobs = coord.stored_blob_keys()
    meta = [k for k in coord.stored_meta_keys("") if
            not k.startswith("idem/")]

    replay = await coord.send_upload("a", signed,
                                     [(0, b"".join(elements(40, 60)))])

    assert replay.complete and replay.already_present
    assert replay.digest == wire.payload_digest(signed)
    assert coord.stored_blob_keys() == blobs
    assert [k for k in coord.stored_meta_keys("")
            if not k.startswith("idem/")] == meta
    parts = await coord.download("b", "a")
    assert b"".join(p.chunk.data for p in parts[1:]) == b"".join(items)


async def test_reused_nonce_is_already_exists(coord):
    """Single-use nonces: a new statement reusing a nonce is ALREADY_EXISTS."""
    commit = await coord.commit("a")
    nonce = pb.KeyCommit.FromString(commit.payload).header.nonce
    up_b = await coord.upload("b", elements(10, 14))
    again = {"nonce": nonce}
    upload, chunks = coord.upload_manifest("a", elements(0, 4),
                                           header=again)
    other_commit = coord.key_commit("a", kind=OTHER_KIND, header=again)
    evaluation, ev_chunks = coord.evaluation_manifest("a", "b", up_b,
                                                      header=again)
    stub = coord.stub("a")

    codes = [
        await rpc_code(stub.Upload(stream(*up_parts(
            upload, enumerate(chunks))), timeout=CALL_TIMEOUT)),
        await rpc_code(stub.PublishKeyCommit(pb.PublishKeyCommitRequest(
            commit=other_commit, idempotency_key=new_key()),
            timeout=CALL_TIMEOUT)),
        await rpc_code(stub.SubmitEvaluation(stream(*ev_parts(
            evaluation, ev_chunks)), timeout=CALL_TIMEOUT)),
    ]

    assert codes == [EXISTS] * 3
    assert coord.stored_meta_keys("up/") == [f"up/{EPOCH}/{KIND}/b"]
    assert coord.stored_meta_keys("pending/") == []
    assert coord.stored_meta_keys(f"kc/{EPOCH}/{OTHER_KIND}") == []
    assert coord.stored_meta_keys("ev/") == []
    assert len(coord.stored_blob_keys()) == coord.blob_key_count(1)


@pytest.mark.parametrize("field,stamp,reason", [
    pytest.param("expires_at", lambda: _now() - 1, "expired", id="expired"),
    pytest.param("expires_at", lambda: _close(EPOCH) + 1, "grace",
                 id="beyond-grace"),
    pytest.param("issued_at", lambda: _now() + 600, "future",
                 id="issued-in-future"),
])
async def test_stale_or_future_statement_is_refused(coord, field, stamp,
                                                    reason):
    """Validity window: expired, past-grace or future statements refused."""
    header = {field: stamp()}
    up_b = await coord.upload("b", elements(10, 14))
    await coord.commit("a", kind=OTHER_KIND)
    commit = coord.key_commit("a", header=header)
    upload, chunks = coord.upload_manifest("a", elements(0, 4),
                                           kind=OTHER_KIND, header=header)
    evaluation, ev_chunks = coord.evaluation_manifest("a", "b", up_b,
                                                      header=header)
    stub = coord.stub("a")

    results = [
        await rpc_error(stub.PublishKeyCommit(pb.PublishKeyCommitRequest(
            commit=commit, idempotency_key=new_key()),
            timeout=CALL_TIMEOUT)),
        await rpc_error(stub.Upload(stream(*up_parts(
            upload, enumerate(chunks))), timeout=CALL_TIMEOUT)),
        await rpc_error(stub.SubmitEvaluation(stream(*ev_parts(
            evaluation, ev_chunks)), timeout=CALL_TIMEOUT)),
    ]

    for code, details in results:
        assert code == DENIED and reason in details, (code, details)
    assert coord.stored_meta_keys(f"kc/{EPOCH}/{KIND}/a") == []
    assert coord.stored_meta_keys("ev/") == []
    assert coord.stored_meta_keys("up/") == [f"up/{EPOCH}/{KIND}/b"]


async def test_small_clock_skew_is_accepted(coord):
    """Control for the window: issued_at a minute ahead is within skew."""
    commit = coord.key_commit("a", header={"issued_at": _now() + 60})

    receipt = await coord.publish("a", commit)

    assert not receipt.already_present


# == malformed elements =======================================================


def _flip_top_bit(element: bytes) -> bytes:
    return element[:-1] + bytes([element[-1] | 0x80])


def _element_defects():
    """(name, elements of an 8-element upload, words in the refusal)."""
    base = elements(0, 8)
    element_refusal = "invalid, repeated or unsorted"
    return [
        ("top bit set", sorted(base[:7] + [_flip_top_bit(base[7])]),
         element_refusal),
        ("identity", sorted(base[:7] + [IDENTITY]), element_refusal),
        ("non-canonical encoding",
         sorted(base[:7] + [b"\xff" * 31 + b"\x7f"]), element_refusal),
        ("not a point", sorted(base[:7] + [bytes([2]) + bytes(31)]),
         element_refusal),
        ("duplicate", sorted(base[:7] + [base[3]]), element_refusal),
        ("unsorted", base[:3] + [base[4], base[3]] + base[5:],
         element_refusal),
        ("descending", base[::-1], element_refusal),
    ]


@pytest.mark.parametrize("items,refusal", [
    pytest.param(i, r, id=n) for n, i, r in _element_defects()])
async def test_malformed_element_in_upload_is_refused(coord, items,
                                                      refusal):
    """Element validation: a malformed or misordered element is refused."""
    await coord.commit("a")
    signed, chunks = coord.upload_manifest("a", items)

    code, details = await rpc_error(coord.stub("a").Upload(stream(
        *up_parts(signed, enumerate(chunks))), timeout=CALL_TIMEOUT))

    assert code == INVALID and refusal in details, details
    await _nothing_pending(coord)


async def test_wrong_chunk_length_is_refused(coord):
    """Chunk length: a chunk short of count, or ragged, is refused."""
    await coord.commit("a")
    items = elements(0, 8)
    short, short_chunks = coord.upload_manifest("a", items[:7], count=8)
    ragged_data = b"".join(items) + b"\x01"
    ragged, _ = coord.upload_manifest("a", chunks=[ragged_data], count=8)

    results = [
        await rpc_error(coord.stub("a").Upload(stream(*up_parts(
            short, enumerate(short_chunks))), timeout=CALL_TIMEOUT)),
        await rpc_error(coord.stub("a").Upload(stream(*up_parts(
            ragged, [(0, ragged_data)])), timeout=CALL_TIMEOUT)),
    ]

    for code, details in results:
        assert code == INVALID and "length" in details, details
    await _nothing_pending(coord)


@pytest.mark.parametrize("resume", [False, True], ids=["one-call",
                                                       "resumed"])
@pytest.mark.parametrize("defect", ["duplicate", "descending"])
async def test_defect_across_chunk_boundary_is_refused(coord, defect,
                                                       resume):
    """Order across chunks: a repeat or drop at a chunk boundary is refused."""
    first = elements(0, ELEMENTS_PER_CHUNK)
    start = first[-1] if defect == "duplicate" else first[-2]
    second = [start] + elements(ELEMENTS_PER_CHUNK, ELEMENTS_PER_CHUNK + 3)
    raw = [b"".join(first), b"".join(second)]
    await coord.commit("a")
    signed, _ = coord.upload_manifest("a", chunks=raw)

    if resume:
        part = await coord.send_upload("a", signed, [(1, raw[1])])
        assert list(part.missing) == [0]
        code, details = await rpc_error(coord.stub("a").Upload(stream(
            *up_parts(signed, [(0, raw[0])])), timeout=CALL_TIMEOUT))
    else:
        code, details = await rpc_error(coord.stub("a").Upload(stream(
            *up_parts(signed, enumerate(raw))), timeout=CALL_TIMEOUT))

    assert code == INVALID and "ascending" in details, details
    await _nothing_pending(coord)


# == budgets ==================================================================


async def test_upload_over_kind_budget_is_resource_exhausted(make_coord):
    """Budgets: an upload over the kind's budget is RESOURCE_EXHAUSTED."""
    coord = await make_coord(budgets={OTHER_KIND: 100})
    assert load_lab(coord.root / "labs" / "b").consortium.budget(
        OTHER_KIND) == 100
    await coord.commit("a", kind=OTHER_KIND)
    over, chunks = coord.upload_manifest("a", elements(0, 101),
                                         kind=OTHER_KIND)

    code = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(over, enumerate(chunks))), timeout=CALL_TIMEOUT))

    assert code == EXHAUSTED
    await _nothing_pending(coord)
    await coord.upload("a", elements(0, 100), kind=OTHER_KIND)
    status = await coord.round("b")
    assert kind_status(status, OTHER_KIND).budget == 100
    assert kind_status(status, KIND).budget == coord.consortium.budget(KIND)


async def test_evaluation_beyond_budget_is_refused_by_coordinator(
        make_coord):
    """Budgets: the coordinator refuses an evaluation beyond the budget."""
    first = await make_coord()
    up_a = await first.upload("a", elements(0, 120), kind=OTHER_KIND)
    await first.shutdown()
    lowered = dataclasses.replace(first.consortium,
                                  budgets={OTHER_KIND: 100})
    coord = await make_coord(again=first, consortium=lowered)
    signed, chunks = coord.evaluation_manifest("b", "a", up_a)

    code, details = await rpc_error(coord.stub("b").SubmitEvaluation(
        stream(*ev_parts(signed, chunks)), timeout=CALL_TIMEOUT))

    assert code == EXHAUSTED, details
    assert coord.stored_meta_keys("ev/") == []
    assert coord.stored_meta_keys("budget/") == []
    assert peer_status(await coord.round("a"), "b",
                       OTHER_KIND).budget_used == 0


def _sync_lab(coord: Coordinator, lab: str, input_csv, out_dir,
              wait: float | None = None) -> tuple[int, str]:
    """``labmatch sync`` for one lab, in this process: (exit, stderr)."""
    err = io.StringIO()
    code = run_sync(SyncOptions(
        lab_dir=coord.root / "labs" / lab, inputs=[input_csv],
        output=out_dir / f"{lab}-matches.csv", coordinator=coord.address,
        epoch=EPOCH, wait=wait, quiet=True, workers=1), stderr=err)
    return code, err.getvalue()


async def test_honest_client_refuses_peer_upload_over_budget(coord,
                                                              tmp_path):
    """Evaluator budget: `labmatch sync` refuses a peer upload over budget."""
    await coord.upload("a", elements(0, 120), kind=OTHER_KIND)
    strict = dataclasses.replace(coord.consortium, budgets={OTHER_KIND: 100})
    write_consortium(coord.root, strict)
    csv = write_csv(tmp_path / "b.csv", [("domain", "example.org")])

    code, stderr = await asyncio.to_thread(_sync_lab, coord, "b", csv,
                                           tmp_path)

    assert code == 75, stderr
    assert ("refused a's domain.name.c1 upload: 120 items is over the "
            "budget of 100 per peer per epoch") in stderr
    assert coord.stored_meta_keys(f"ev/{EPOCH}/{OTHER_KIND}/b/") == []
    assert not peer_status(await coord.round("a"), "b",
                           OTHER_KIND).evaluated_by_peer


# == idempotency ==============================================================


async def test_same_idempotency_key_other_body_is_already_exists(coord):
    """Idempotency: one key with another body is ALREADY_EXISTS."""
    up_b = await coord.upload("b", elements(10, 14))
    await coord.commit("a")
    await coord.commit("a", kind=OTHER_KIND)
    first, chunks = coord.upload_manifest("a", elements(0, 4))
    other, other_chunks = coord.upload_manifest("a", elements(4, 9),
                                                kind=OTHER_KIND)
    await coord.send_upload("a", first, enumerate(chunks), key="used")
    stub = coord.stub("a")
    evaluation, ev_chunks = coord.evaluation_manifest("a", "b", up_b)

    codes = [
        await rpc_code(stub.Upload(stream(*up_parts(
            other, enumerate(other_chunks), key="used")),
            timeout=CALL_TIMEOUT)),
        await rpc_code(stub.PublishKeyCommit(pb.PublishKeyCommitRequest(
            commit=coord.key_commit("a", epoch=TOMORROW),
            idempotency_key="used"), timeout=CALL_TIMEOUT)),
        await rpc_code(stub.SubmitEvaluation(stream(*ev_parts(
            evaluation, ev_chunks, key="used")), timeout=CALL_TIMEOUT)),
    ]

    assert codes == [EXISTS] * 3
    assert coord.stored_meta_keys("up/") == sorted([
        f"up/{EPOCH}/{KIND}/a", f"up/{EPOCH}/{KIND}/b"])
    assert coord.stored_meta_keys(f"kc/{TOMORROW}") == []
    assert coord.stored_meta_keys("ev/") == []


async def test_same_key_same_body_returns_stored_response_once(coord):
    """Idempotency: same key and body replay the response, charge once."""
    up_a = await coord.upload("a", elements(0, 9))
    up_b = await coord.upload("b", elements(9, 14))
    commit = coord.key_commit("c")
    c1 = await coord.publish("c", commit, key="kc")
    c2 = await coord.publish("c", commit, key="kc")
    c3 = await coord.publish("c", commit)                 # new key
    evaluation, chunks = coord.evaluation_manifest("b", "a", up_a)
    first = await coord.submit("b", evaluation, chunks, key="ev")
    used = peer_status(await coord.round("a"), "b").budget_used
    blobs = coord.stored_blob_keys()

    second = await coord.submit("b", evaluation, chunks, key="ev")
    third = await coord.submit("b", evaluation, [], key="ev")
    await coord.evaluate("a", "b", up_b)

    assert (c1, c2) == (c1, c1) and not c1.already_present
    assert c3.already_present and c3.digest == c1.digest
    assert first == second == third
    assert used == 9
    assert peer_status(await coord.round("a"), "b").budget_used == 9
    assert coord.stored_meta_keys(f"ev/{EPOCH}/{KIND}/b/") == [
        f"ev/{EPOCH}/{KIND}/b/a"]
    assert set(blobs) <= set(coord.stored_blob_keys())
    code, parts = await coord.fetch("a", "b")
    assert code == OK and parts[0].start.manifest == evaluation


# == escrow ===================================================================


async def test_escrow_never_releases_one_side_alone(coord):
    """Escrow: a pair's lists are released together or not at all."""
    up_a = await coord.upload("a", elements(0, 5))
    up_b = await coord.upload("b", elements(5, 12))
    up_c = await coord.upload("c", elements(12, 15))
    await coord.evaluate("a", "b", up_b)
    await coord.evaluate("b", "c", up_c)
    await coord.evaluate("c", "a", up_a)
    bad, bad_chunks = coord.evaluation_manifest("b", "a", up_a,
                                                merkle_root=bytes(32))
    assert await rpc_code(coord.stub("b").SubmitEvaluation(stream(
        *ev_parts(bad, bad_chunks)), timeout=CALL_TIMEOUT)) == INVALID

    fetches = {(lab, ev): await coord.fetch(lab, ev)
               for lab in LABS for ev in LABS if lab != ev}
    views = {lab: await coord.round(lab) for lab in LABS}

    assert all(result == (CLOSED, []) for result in fetches.values()), \
        fetches
    assert not any(p.released for view in views.values()
                   for k in view.kinds for p in k.peers)

    await coord.evaluate("b", "a", up_a)
    opened = {(lab, ev): (await coord.fetch(lab, ev))[0]
              for lab in LABS for ev in LABS if lab != ev}
    assert opened == {("a", "b"): OK, ("b", "a"): OK,
                      ("a", "c"): CLOSED, ("c", "a"): CLOSED,
                      ("b", "c"): CLOSED, ("c", "b"): CLOSED}


# == the relay attack (protocol.md 2.4) =======================================


async def test_relay_attack_gives_tokens_that_never_compare(coord,
                                                            tmp_path):
    """Pair-labelled tokens: relaying a's and c's uploads teaches b nothing."""
    shared = "shared-suspect.example"
    inputs = {
        "a": write_csv(tmp_path / "a.csv", [("domain", f"a{i}.example")
                                            for i in range(8)]
                       + [("domain", shared)]),
        "c": write_csv(tmp_path / "c.csv", [("domain", f"c{i}.example")
                                            for i in range(6)]
                       + [("domain", shared)]),
    }
    async with contextlib.AsyncExitStack() as stack:
        engines = {lab: await stack.enter_async_context(
            honest_engine(coord, lab, path)) for lab, path in inputs.items()}
        for _ in range(2):
            for lab in "ac":
                await engines[lab].run_pass()
        assert engines["a"].pairs[(OTHER_KIND, "c")].complete
        honest_matches = engines["a"].pairs[(OTHER_KIND, "c")].matched_items

        # b, malicious: relays a's and c's uploads as its own
        a_up = await coord.download("b", "a", OTHER_KIND)
        c_up = await coord.download("b", "c", OTHER_KIND)
        a_el = _elements_of(a_up)
        c_el = _elements_of(c_up)
        merged = sorted(set(a_el) | set(c_el))
        up_b = await coord.upload("b", merged, kind=OTHER_KIND)
        for lab in "ac":                           # honest labs evaluate it
            await engines[lab].run_pass()
        for lab, up in (("a", a_up[0].manifest), ("c", c_up[0].manifest)):
            await coord.evaluate("b", lab, up)     # b opens the escrow

        code_a, from_a = await coord.fetch("b", "a", OTHER_KIND)
        code_c, from_c = await coord.fetch("b", "c", OTHER_KIND)
        assert (code_a, code_c) == (OK, OK)
        tokens_a = coord.open_list("b", "a", up_b, from_a)
        tokens_c = coord.open_list("b", "c", up_b, from_c)
        assert a_el == engines["a"].uploads[OTHER_KIND].elements

    at = {e: i for i, e in enumerate(merged)}
    c_at_a = {tokens_c[at[e]] for e in a_el}       # c's answers on a's set
    a_at_c = {tokens_a[at[e]] for e in c_el}       # a's answers on c's set
    assert len(tokens_a) == len(tokens_c) == len(merged)
    assert c_at_a.isdisjoint(a_at_c)
    assert set(tokens_a).isdisjoint(tokens_c)

    # controls: a and c do share an item (a's ninth), and raw points
    # relayed the same way would have shown b that they do
    assert honest_matches == {8}
    seeds = {}
    for lab in "ac":
        with LabState(coord.labs[lab].directory) as state:
            seeds[lab] = state.seed()
    key = {lab: EpochKey.derive(seeds[lab], consortium_id=coord.consortium_id,
                                lab=lab, epoch=EPOCH, kind=OTHER_KIND)
           for lab in "ac"}
    raw_c_at_a = {key["c"].multiply(e) for e in a_el}
    raw_a_at_c = {key["a"].multiply(e) for e in c_el}
    assert len(raw_c_at_a & raw_a_at_c) == 1


def _elements_of(parts: list[pb.DownloadPart]) -> list[bytes]:
    data = b"".join(p.chunk.data for p in parts[1:])
    return [data[i:i + ELEMENT_BYTES]
            for i in range(0, len(data), ELEMENT_BYTES)]


# == a curious coordinator ====================================================


_IPS = ["81.2.69.160", "216.160.83.56", "89.160.20.112", "2600:1f18::5",
        "67.43.156.1", "175.16.199.7", "2a02:cf40::1", "202.196.224.9"]
_DOMAINS = ["phish-login.example", "Bank-Secure.example.org",
            "tracker.badcorp.example", "münchen-shop.example",
            "c2.evil.example.net", "drop.zone.example"]


def _lab_rows(lab: str) -> list[tuple[str, str]]:
    """Overlapping inputs: every lab holds the first half of each list,
    and a few values only it holds."""
    rows = [("ip", ip) for ip in _IPS[:4]]
    rows += [("domain", d) for d in _DOMAINS[:3]]
    rows += [("ip", f"45.33.32.{10 + LABS.index(lab)}"),
             ("domain", f"only-{lab}.private.example")]
    if lab != "c":
        rows += [("ip", ip) for ip in _IPS[4:]]
        rows += [("domain", d) for d in _DOMAINS[3:]]
    return rows


def _dictionary(coord: Coordinator, values: set[tuple[str, str]]
                ) -> dict[bytes, str]:
    """Everything an offline attacker with the consortium file would try:
    values, canonical forms, their SHA-256/512 (raw and hex), keyed with
    every field of the consortium file, and hash-to-group under every
    kind's DST (and the uniform bytes before mapping)."""
    cid = coord.consortium_id
    file_bytes = (coord.root / "consortium.toml").read_bytes()
    keys = [cid.encode(), file_bytes] + [
        k for lab in coord.consortium.labs.values()
        for k in (lab.signing_key, lab.sealing_key)]
    dsts = {kind: HashToGroup(cid, kind) for kind in ENABLED}
    out: dict[bytes, str] = {}
    for kind, value in values:
        canon = identifiers.canonical_form(kind, value)
        forms = {value, value.strip(), value.lower(), canon.text}
        plain = {f.encode() for f in forms}
        plain |= {f.encode("idna") for f in forms
                  if kind == "domain" and _idna_ok(f)}
        messages = {item.message for item in canon.items}
        for form in plain | messages:
            if len(form) >= 6:
                out[form] = f"{value}: form"
            for name, digest in (("sha256", hashlib.sha256(form).digest()),
                                 ("sha512", hashlib.sha512(form).digest())):
                out[digest] = f"{value}: {name}"
                out[digest.hex().encode()] = f"{value}: {name} hex"
            for key in keys:
                out[hmac.new(key, form, hashlib.sha256).digest()] = \
                    f"{value}: keyed"
                out[hashlib.sha256(key + form).digest()] = f"{value}: salted"
        for message in messages:
            for kind_code, h2g in dsts.items():
                out[h2g(message)] = f"{value}: H({kind_code})"
                out[expand_message_xmd(message, h2g.dst, 64)] = \
                    f"{value}: uniform({kind_code})"
    return out


def _idna_ok(text: str) -> bool:
    try:
        text.encode("idna")
    except UnicodeError:
        return False
    return True


async def test_curious_coordinator_learns_no_identifier(coord, tmp_path,
                                                         monkeypatch,
                                                         caplog):
    """Store secrecy: a dictionary attack on the store finds nothing."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(sync_module, "POLL_SECONDS", 0.2)
    inputs = {lab: write_csv(tmp_path / f"{lab}.csv", _lab_rows(lab))
              for lab in LABS}

    results = await asyncio.gather(*(
        asyncio.to_thread(_sync_lab, coord, lab, inputs[lab], tmp_path, 30)
        for lab in LABS))

    assert [code for code, _ in results] == [0, 0, 0], results
    a_out = (tmp_path / "a-matches.csv").read_text()
    assert "phish-login.example" in a_out and "only-b" not in a_out
    dumps = [coord.dump_store()]
    status = {lab: await coord.round(lab) for lab in LABS}
    await coord.shutdown()
    dumps.append(coord.dump_store())
    hay = b"\n".join(haystack(d) for d in dumps)
    logs = "\n".join(r.getMessage() for r in caplog.records
                     if r.name.startswith("labmatch.server")).encode()

    # controls: the search does see stored elements and signed records
    for lab in LABS:
        with LabState(coord.labs[lab].directory) as state:
            cached = state.upload(EPOCH, OTHER_KIND)
        assert all(e in hay for e in cached.elements[:5])
        commit = kind_status(status[lab], OTHER_KIND).own_key_commit
        assert pb.KeyCommit.FromString(commit.payload).public_key in hay
    values = {row for lab in LABS for row in _lab_rows(lab)}
    dictionary = _dictionary(coord, values)
    assert len(dictionary) > 1000
    probe = next(c for c, why in dictionary.items() if "H(domain" in why)
    planted = json.dumps({"x": base64.b64encode(b"\x08" + probe).decode()})
    assert probe in haystack(planted.encode())     # a leak would be seen

    found = sorted({why for candidate, why in dictionary.items()
                    if candidate in hay or candidate in logs})
    assert found == []
    texts = {v for _, v in values} | {v.lower() for _, v in values}
    assert not [v for v in texts if v.encode() in logs]


# == fuzzing every message the server accepts =================================


BAD_STATUSES = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
                grpc.StatusCode.DEADLINE_EXCEEDED}
EXAMPLES = int(os.environ.get("LABMATCH_FUZZ_EXAMPLES", "40"))
FUZZ_RANDOM = os.environ.get("LABMATCH_FUZZ_RANDOM") == "1"
FUZZ_TIMEOUT = 5.0
SERVICE = "/labmatch.v1.Coordinator/"
_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)),
                max_size=24)
_EPOCHS = st.one_of(st.sampled_from([EPOCH, TOMORROW, "2001-01-01",
                                     "2999-12-31", "", "2024-02-30"]),
                    st.dates().map(dt.date.isoformat), _TEXT)
_KINDS = st.one_of(st.sampled_from(list(ENABLED) + [NOT_ENABLED, ""]),
                   _TEXT)
_LABS = st.one_of(st.sampled_from(list(LABS) + ["mallory", ""]), _TEXT)
_KEYS = st.one_of(st.sampled_from(["k", "x" * 128, "x" * 129, "", " "]),
                  st.text(alphabet=string.printable, max_size=140))
_U32 = st.one_of(st.integers(0, 4), st.integers(0, 2**32 - 1))
_U64 = st.one_of(st.integers(0, 40), st.integers(0, 2**64 - 1))
_I64 = st.one_of(st.integers(-2**63, 2**63 - 1),
                 st.integers(-10**6, 10**6).map(lambda d: _now() + d))


def _digests(max_size: int = 4):
    return st.lists(st.one_of(st.binary(min_size=32, max_size=32),
                              st.binary(max_size=40)), max_size=max_size)


@st.composite
def _headers(draw, coord: Coordinator) -> pb.Header:
    pick = draw(st.booleans())
    h = coord.header("a", kind=KIND)
    if pick:
        return h
    for name, strategy in (
            ("version", _U32), ("suite", _TEXT), ("consortium_id", _TEXT),
            ("sender", _LABS), ("recipient", _LABS), ("epoch", _EPOCHS),
            ("kind", _KINDS), ("nonce", st.binary(max_size=20)),
            ("issued_at", _I64), ("expires_at", _I64)):
        if draw(st.booleans()):
            setattr(h, name, draw(strategy))
    return h


@st.composite
def _signed(draw, coord: Coordinator, message_type) -> pb.SignedMessage:
    """Random bytes, or a statement lab a really signed with random
    field values (so the checks after the signature are reached)."""
    if draw(st.booleans()):
        return pb.SignedMessage(payload=draw(st.binary(max_size=300)),
                                signature=draw(st.binary(max_size=80)))
    header = draw(_headers(coord))
    if message_type is pb.KeyCommit:
        m = pb.KeyCommit(header=header, public_key=draw(st.one_of(
            st.binary(max_size=40), st.just(pool(1)[0]))))
    elif message_type is pb.UploadManifest:
        m = pb.UploadManifest(
            header=header, count=draw(_U64), chunk_count=draw(_U32),
            chunk_digests=draw(_digests()), merkle_root=draw(
                st.binary(max_size=40)),
            key_commit_digest=draw(st.binary(max_size=40)))
    else:
        m = pb.EvaluationManifest(
            header=header, upload_digest=draw(st.binary(max_size=40)),
            count=draw(_U64), chunk_count=draw(_U32),
            chunk_digests=draw(_digests()),
            merkle_root=draw(st.binary(max_size=40)),
            sealed_key=draw(st.binary(max_size=90)),
            stream_header=draw(st.binary(max_size=30)))
    return coord.sign("a", m)


def _chunks():
    return st.builds(pb.Chunk, index=_U32, data=st.binary(max_size=1024))


def _upload_stream(coord: Coordinator):
    start = st.builds(lambda s, k: pb.UploadPart(start=pb.UploadStart(
        manifest=s, idempotency_key=k)), _signed(coord, pb.UploadManifest),
        _KEYS)
    chunk = _chunks().map(lambda c: pb.UploadPart(chunk=c))
    return st.lists(st.one_of(start, chunk, st.just(pb.UploadPart())),
                    max_size=4)


def _evaluation_stream(coord: Coordinator):
    start = st.builds(lambda s, k: pb.EvaluationPart(
        start=pb.EvaluationStart(manifest=s, idempotency_key=k)),
        _signed(coord, pb.EvaluationManifest), _KEYS)
    chunk = _chunks().map(lambda c: pb.EvaluationPart(chunk=c))
    return st.lists(st.one_of(start, chunk, st.just(pb.EvaluationPart())),
                    max_size=4)


async def _status(start) -> tuple[grpc.StatusCode, str]:
    """Start the call (in the loop's thread) and wait for its status."""
    try:
        result = start()
        if hasattr(result, "__aiter__"):
            async for _ in result:
                pass
        else:
            await result
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details() or ""
    return OK, ""


# grpc.aio's client reports INTERNAL with this text when a server ends a
# client stream (here: refuses it) while the client is still writing,
# overwriting the server's status (grpc/grpc issue 36066). It is the
# client library's, so for streams the server's own log line decides.
CLIENT_WRITE_RACE = "Internal error from Core"


class _ServerLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def _fuzz(coord: Coordinator, strategy, send) -> None:
    """Run ``send(stub, channel, value)`` on EXAMPLES drawn values from a
    worker thread while the coordinator serves in this loop; every call
    must end with a proper status (as the client sees it and as the
    coordinator logs it); then health must still be SERVING."""
    loop = asyncio.get_running_loop()
    channel = coord.lab_channel("a")
    stub = pb_grpc.CoordinatorStub(channel)
    seen: list[grpc.StatusCode] = []
    server_log = logging.getLogger("labmatch.server")
    lines = _ServerLines()

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              derandomize=not FUZZ_RANDOM,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(value):
        del lines.lines[:]
        future = asyncio.run_coroutine_threadsafe(
            _status(lambda: send(stub, channel, value)), loop)
        code, details = future.result(FUZZ_TIMEOUT + 5)
        seen.append(code)
        time.sleep(0.01)                   # let the server log its line
        failed = [line for line in lines.lines if "rpc.failed" in line
                  or "status=INTERNAL" in line or "status=UNKNOWN" in line]
        assert not failed, (failed, value)
        if code == grpc.StatusCode.INTERNAL and details == CLIENT_WRITE_RACE:
            return
        assert code not in BAD_STATUSES, (code, details, value)

    server_log.addHandler(lines)
    old_level = server_log.level
    server_log.setLevel(logging.INFO)
    try:
        await asyncio.to_thread(run)
    finally:
        server_log.removeHandler(lines)
        server_log.setLevel(old_level)
    assert seen
    health = health_pb2_grpc.HealthStub(coord.lab_channel("b"))
    reply = await health.Check(health_pb2.HealthCheckRequest(
        service="labmatch.v1.Coordinator"), timeout=CALL_TIMEOUT)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert (await coord.round("b")).lab == "b"


async def test_fuzz_get_round(coord):
    """Robustness: random RoundRequests get a proper status."""
    await _fuzz(coord, st.builds(pb.RoundRequest, epoch=_EPOCHS),
                lambda stub, _, r: stub.GetRound(r, timeout=FUZZ_TIMEOUT))


async def test_fuzz_publish_key_commit(coord):
    """Robustness: random and randomly signed key commitments."""
    requests = st.builds(pb.PublishKeyCommitRequest,
                         commit=_signed(coord, pb.KeyCommit),
                         idempotency_key=_KEYS)
    await _fuzz(coord, requests, lambda stub, _, r: stub.PublishKeyCommit(
        r, timeout=FUZZ_TIMEOUT))


async def test_fuzz_upload_streams(coord):
    """Robustness: random upload streams (starts, chunks, empty parts)."""
    await coord.upload("b", elements(0, 4))
    await _fuzz(coord, _upload_stream(coord), lambda stub, _, parts:
                stub.Upload(stream(*parts), timeout=FUZZ_TIMEOUT))


async def test_fuzz_download_request(coord):
    """Robustness: random DownloadRequests."""
    await coord.upload("b", elements(0, 4))
    requests = st.builds(pb.DownloadRequest, epoch=_EPOCHS, kind=_KINDS,
                         owner=_LABS)
    await _fuzz(coord, requests, lambda stub, _, r: stub.DownloadUpload(
        r, timeout=FUZZ_TIMEOUT))


async def test_fuzz_evaluation_streams(coord):
    """Robustness: random evaluation streams."""
    await coord.upload("b", elements(0, 4))
    await _fuzz(coord, _evaluation_stream(coord), lambda stub, _, parts:
                stub.SubmitEvaluation(stream(*parts), timeout=FUZZ_TIMEOUT))


async def test_fuzz_fetch_request(coord):
    """Robustness: random FetchRequests."""
    up_b = await coord.upload("b", elements(0, 4))
    up_a = await coord.upload("a", elements(4, 8))
    await coord.evaluate("a", "b", up_b)
    await coord.evaluate("b", "a", up_a)
    requests = st.builds(pb.FetchRequest, epoch=_EPOCHS, kind=_KINDS,
                         evaluator=_LABS)
    await _fuzz(coord, requests, lambda stub, _, r: stub.FetchEvaluation(
        r, timeout=FUZZ_TIMEOUT))


_METHODS = {
    "GetRound": "unary_unary",
    "PublishKeyCommit": "unary_unary",
    "Upload": "stream_unary",
    "DownloadUpload": "unary_stream",
    "SubmitEvaluation": "stream_unary",
    "FetchEvaluation": "unary_stream",
}


def _raw_call(stub, channel, value):
    """Raw bytes through a generic call with identity (de)serializers."""
    method, payloads = value
    multi = getattr(channel, _METHODS[method])(SERVICE + method)
    if _METHODS[method] == "stream_unary":
        return multi(stream(*payloads), timeout=FUZZ_TIMEOUT)
    return multi(payloads[0] if payloads else b"", timeout=FUZZ_TIMEOUT)


@pytest.mark.parametrize("shape", ["unary_unary", "unary_stream",
                                   "stream_unary"])
async def test_fuzz_raw_bytes_every_method(coord, shape):
    """Robustness: bytes that need not parse, sent to every method."""
    await coord.upload("b", elements(0, 4))
    methods = sorted(m for m, s in _METHODS.items() if s == shape)
    values = st.tuples(st.sampled_from(methods),
                       st.lists(st.binary(max_size=200), max_size=3))
    await _fuzz(coord, values, _raw_call)
