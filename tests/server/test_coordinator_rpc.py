"""The coordinator over real gRPC with real mutual TLS on loopback.

Each test runs once per store backend (SQLite and Redis) against a fresh
three-lab consortium (fixtures in conftest.py). Labs reach it through
``CoordinatorClient`` or, to send what a well-behaved client never would,
through raw stubs; every statement is signed with the lab's pinned key by
the honest client kit in conftest.py. Who may call at all (certificates)
and the attacks on the signed protocol are in test_trust_rpc.py.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from labmatch import wire
from labmatch._proto import coordinator_pb2 as pb
from labmatch.client import pki
from labmatch.client.transport import CoordinatorError
from labmatch.psi.group import ELEMENT_BYTES
from labmatch.psi.hashing import PROTOCOL_VERSION
from labmatch.psi.manifest import ELEMENTS_PER_CHUNK, MAX_UPLOAD_ELEMENTS
from labmatch.psi.sealing import TOKENS_PER_CHUNK
from labmatch.server import records as records_module
from tests.server.conftest import (
    CALL_TIMEOUT,
    ENABLED,
    EPOCH,
    KIND,
    NOT_ENABLED,
    OTHER_KIND,
    TOMORROW,
    Coordinator,
    elements,
    ev_parts,
    kind_status,
    peer_status,
    pool,
    random_tokens,
    rpc_code,
    rpc_error,
    stream,
    stream_code,
    up_parts,
)

MiB = 1024 * 1024
GRPC_LIMIT = 4 * MiB
BIG_COUNT = ELEMENTS_PER_CHUNK * 3 + 5
TWO_CHUNKS = ELEMENTS_PER_CHUNK + 3
INVALID = grpc.StatusCode.INVALID_ARGUMENT
DENIED = grpc.StatusCode.PERMISSION_DENIED
CLOSED = grpc.StatusCode.FAILED_PRECONDITION


def _manifest(signed: pb.SignedMessage) -> pb.UploadManifest:
    return pb.UploadManifest.FromString(signed.payload)


# -- health -----------------------------------------------------------------


async def test_health_service_answers_serving(coord):
    """grpc.health.v1 reports SERVING for the server and the service."""
    health = health_pb2_grpc.HealthStub(coord.lab_channel("b"))

    for service in ("", "labmatch.v1.Coordinator"):
        reply = await health.Check(
            health_pb2.HealthCheckRequest(service=service),
            timeout=CALL_TIMEOUT)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


# -- GetRound ---------------------------------------------------------------


async def test_get_round_shows_only_the_callers_own_pairs(coord):
    """Lab a sees peers b and c and nothing of the b–c pair's progress."""
    up_b = await coord.upload("b", elements(0, 5))
    up_c = await coord.upload("c", elements(5, 12))
    await coord.evaluate("b", "c", up_c)
    await coord.evaluate("c", "b", up_b)

    status = await coord.round("a")
    seen_by_b = await coord.round("b")

    assert status.lab == pki.lab_name_from_cert(coord.labs["a"].tls_cert)
    assert status.lab == "a" and status.epoch == EPOCH
    assert [k.kind for k in status.kinds] == list(ENABLED)
    for ks in status.kinds:
        assert not ks.HasField("own_upload")
        assert not ks.HasField("own_key_commit")
        assert sorted(p.peer for p in ks.peers) == ["b", "c"]
        for peer in ks.peers:
            assert not (peer.evaluated_by_me or peer.evaluated_by_peer
                        or peer.released or peer.budget_used)
    uploads = {p.peer: p.upload for p in kind_status(status).peers}
    assert uploads["b"] == up_b and uploads["c"] == up_c
    assert _manifest(uploads["b"]).header.sender == "b"
    commits = {p.peer: p.key_commit for p in kind_status(status).peers}
    assert commits["b"] == coord.commits[("b", EPOCH, KIND)]
    # control: b does see its pair with c released, and what c charged
    b_peers = {p.peer: p for p in kind_status(seen_by_b).peers}
    assert seen_by_b.lab == "b" and sorted(b_peers) == ["a", "c"]
    assert b_peers["c"].released and not b_peers["a"].released
    assert b_peers["c"].budget_used == 5
    assert kind_status(seen_by_b).own_upload == up_b


async def test_get_round_malformed_epoch_is_invalid_argument(coord):
    """GetRound with an epoch not written YYYY-MM-DD is refused."""
    for epoch in ("", "2024-1-01", "2024-02-30", "٢٠٢٤-٠١-٠١",
                  "2024-01-01T00", "2024001"):
        with pytest.raises(CoordinatorError) as caught:
            await coord.round("a", epoch)
        assert caught.value.code == INVALID, epoch


async def test_get_round_iso_week_epoch_is_invalid_argument(coord):
    """An ISO week date (YYYY-Www-D, also ten characters) is no epoch name:
    one day must have one name, or per-epoch state and budgets split."""
    for epoch in (_iso_week(EPOCH), "2026-W01-1"):
        code = await rpc_code(coord.stub("a").GetRound(
            pb.RoundRequest(epoch=epoch), timeout=CALL_TIMEOUT))
        assert code == INVALID, epoch


# -- PublishKeyCommit -------------------------------------------------------


async def test_key_commit_is_published_once_and_shown_to_peers(coord):
    """A commitment is kept; the same key again is already_present."""
    public_key = pool(1)[0]
    first = coord.key_commit("a", public_key=public_key)
    again = coord.key_commit("a", public_key=public_key)

    r1 = await coord.publish("a", first)
    r2 = await coord.publish("a", again)
    seen = peer_status(await coord.round("b"), "a")

    assert (r1.already_present, r2.already_present) == (False, True)
    assert r1.digest == r2.digest == wire.payload_digest(first)
    assert seen.key_commit == first
    assert coord.stored_meta_keys("kc/") == [f"kc/{EPOCH}/{KIND}/a"]


async def test_key_commit_to_another_key_is_refused(coord):
    """Committing to a second key in the same (epoch, kind) is refused."""
    first = await coord.commit("a")

    with pytest.raises(CoordinatorError) as caught:
        await coord.publish("a", coord.key_commit("a"))

    assert caught.value.code == CLOSED
    own = kind_status(await coord.round("a")).own_key_commit
    assert own == first


async def test_key_commit_without_valid_public_key_is_refused(coord):
    """A commitment must hold a valid, non-identity element."""
    for key in (bytes(32), b"\xff" * 32, bytes(31)):
        with pytest.raises(CoordinatorError) as caught:
            await coord.publish("a", coord.key_commit("a", public_key=key))
        assert caught.value.code == INVALID
    assert coord.stored_meta_keys("kc/") == []


# -- Upload -----------------------------------------------------------------


async def assert_nothing_published(coord: Coordinator,
                                   lab: str = "a") -> None:
    status = await coord.round(lab)
    assert not any(k.HasField("own_upload") for k in status.kinds)
    assert coord.stored_meta_keys("up/") == []


async def assert_nothing_stored(coord: Coordinator, lab: str = "a") -> None:
    await assert_nothing_published(coord, lab)
    assert coord.stored_blob_keys() == []
    assert coord.stored_meta_keys("pending/") == []


async def test_upload_must_start_with_manifest(coord):
    """A stream whose first part is a chunk is refused, nothing stored."""
    await coord.commit("a")
    signed, chunks = coord.upload_manifest("a", elements(0, 4))
    parts = up_parts(None, enumerate(chunks)) + up_parts(signed, [])

    code = await rpc_code(coord.stub("a").Upload(stream(*parts),
                                                 timeout=CALL_TIMEOUT))
    empty = await rpc_code(coord.stub("a").Upload(stream(),
                                                  timeout=CALL_TIMEOUT))

    assert code == INVALID
    assert empty == INVALID
    await assert_nothing_stored(coord)


async def test_upload_before_key_commit_is_refused(coord):
    """An upload needs the lab's key commitment for (epoch, kind) first."""
    signed, chunks = coord.upload_manifest("a", elements(0, 4))

    code = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(signed, enumerate(chunks))), timeout=CALL_TIMEOUT))

    assert code == CLOSED
    await assert_nothing_stored(coord)


async def test_upload_citing_another_key_commit_is_refused(coord):
    """The manifest must cite the published commitment's digest."""
    await coord.commit("a")
    other = coord.key_commit("a")
    signed, chunks = coord.upload_manifest("a", elements(0, 4),
                                           commit=other)

    code = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(signed, enumerate(chunks))), timeout=CALL_TIMEOUT))

    assert code == INVALID
    await assert_nothing_stored(coord)


async def test_upload_chunks_by_index_in_any_order(coord):
    """Chunks 1 then 0 complete the upload; the bytes come back in order."""
    items = elements(0, TWO_CHUNKS)
    await coord.commit("a")
    signed, chunks = coord.upload_manifest("a", items)
    assert len(chunks) == 2

    async with coord.client("a") as client:
        receipt = await client.upload(signed, "k1", [(1, chunks[1]),
                                                     (0, chunks[0])], "x")
    parts = await coord.download("b", "a")

    assert receipt.complete and not receipt.missing
    assert [p.chunk.index for p in parts[1:]] == [0, 1]
    assert b"".join(p.chunk.data for p in parts[1:]) == b"".join(items)


async def test_upload_repeated_chunk_is_harmless_extra_index_refused(coord):
    """Chunk 0 twice leaves chunk 1 missing; an index past the plan is
    refused and drops the pending upload."""
    await coord.commit("a")
    signed, chunks = coord.upload_manifest("a", elements(0, TWO_CHUNKS))

    async with coord.client("a") as client:
        repeated = await client.upload(signed, "k1", [(0, chunks[0]),
                                                      (0, chunks[0])], "x")
    extra = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(signed, [(2, chunks[1])])), timeout=CALL_TIMEOUT))

    assert not repeated.complete and list(repeated.missing) == [1]
    assert extra == INVALID
    await assert_nothing_stored(coord)


async def test_upload_over_limit_refused_before_any_element(coord):
    """count > MAX_UPLOAD_ELEMENTS: RESOURCE_EXHAUSTED on the manifest."""
    await coord.commit("a")
    count = MAX_UPLOAD_ELEMENTS + 1
    n_chunks = -(-count // ELEMENTS_PER_CHUNK)
    signed, _ = coord.upload_manifest(
        "a", count=count, chunk_count=n_chunks,
        chunk_digests=[bytes(32)] * n_chunks)

    code = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(signed, []), hold_open=asyncio.Event()),
        timeout=CALL_TIMEOUT))

    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    await assert_nothing_stored(coord)


async def test_chunk_shorter_than_manifest_count_is_refused(coord):
    """A last chunk carrying fewer elements than count says: refused."""
    await coord.commit("a")
    items = elements(0, 10)
    signed, chunks = coord.upload_manifest("a", items, count=11)

    code, details = await rpc_error(coord.stub("a").Upload(
        stream(*up_parts(signed, enumerate(chunks))), timeout=CALL_TIMEOUT))

    assert code == INVALID and "wrong length" in details
    await assert_nothing_stored(coord)


async def test_ragged_or_oversized_chunk_is_refused(coord):
    """A chunk not a multiple of 32 bytes, or over 1 MiB, is refused."""
    await coord.commit("a")
    items = elements(0, ELEMENTS_PER_CHUNK + 1)
    ragged = b"".join(items[:4])[:-1]
    one_chunk = b"".join(items)          # 1 MiB + 32 bytes in one chunk
    s_ragged, _ = coord.upload_manifest("a", chunks=[ragged], count=4)
    s_big, _ = coord.upload_manifest("a", items)

    code_ragged = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(s_ragged, [(0, ragged)])), timeout=CALL_TIMEOUT))
    code_big = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(s_big, [(0, one_chunk)])), timeout=CALL_TIMEOUT))

    assert code_ragged == INVALID
    assert code_big == INVALID
    await assert_nothing_stored(coord)


async def test_message_over_grpc_limit_is_resource_exhausted(coord):
    """One message over 4 MiB is refused by the transport."""
    await coord.commit("a")
    signed, _ = coord.upload_manifest("a", elements(0, 4))
    blob = bytes(GRPC_LIMIT + 64)

    code = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(signed, [(0, blob)])), timeout=CALL_TIMEOUT))

    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    await assert_nothing_published(coord)
    assert coord.stored_blob_keys() == []


async def wait_for_blobs(coord: Coordinator, settled) -> list[str]:
    """Poll the store (up to 2 s) until ``settled(keys)`` holds."""
    keys = coord.stored_blob_keys()
    for _ in range(40):
        if settled(keys):
            break
        await asyncio.sleep(0.05)
        keys = coord.stored_blob_keys()
    return keys


async def cancel_midway(coord: Coordinator, start_call) -> list[str]:
    """Start a call, wait until its first chunk is stored, cancel it while
    the coordinator's worker threads are busy, and return the chunks it
    left in the store once the workers are free again.

    The SQLite store works in the event loop's default executor; with its
    one worker busy, whatever the coordinator does after the cancellation
    has to wait in the queue, as it would under load.
    """
    before = coord.stored_blob_keys()
    call = start_call()
    seen = await wait_for_blobs(coord, lambda keys: keys != before)
    assert seen != before, "the first chunk never reached the store"
    loop = asyncio.get_running_loop()
    workers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="busy")
    loop.set_default_executor(workers)
    release = threading.Event()
    busy = workers.submit(release.wait, 10)
    try:
        call.cancel()
        assert await call.code() == grpc.StatusCode.CANCELLED
        await asyncio.sleep(0.3)
    finally:
        release.set()
    busy.result()
    left = await wait_for_blobs(coord, lambda keys: keys == before)
    return [key for key in left if key not in before]


async def test_cancelled_upload_is_pending_and_replaced_not_piled(coord):
    """A cancelled upload stays pending (resumable); a second, different
    manifest for the same epoch and kind replaces it, so abandoned
    uploads cannot pile up."""
    await coord.commit("a")
    first, chunks = coord.upload_manifest("a", elements(0, TWO_CHUNKS))

    def start_call():
        return coord.stub("a").Upload(
            stream(*up_parts(first, [(0, chunks[0])]),
                   hold_open=asyncio.Event()),
            timeout=CALL_TIMEOUT)

    left = await cancel_midway(coord, start_call)
    assert len(left) == coord.blob_key_count(1), \
        "the verified chunk of a cancelled upload is kept for resumption"
    await assert_nothing_published(coord)

    items2 = elements(TWO_CHUNKS, 2 * TWO_CHUNKS)
    second, chunks2 = coord.upload_manifest("a", items2)
    async with coord.client("a") as client:
        partial = await client.upload(second, "k2", [(1, chunks2[1])], "x")
    pending = coord.stored_meta_keys("pending/")

    assert not partial.complete and list(partial.missing) == [0]
    first_digest = wire.payload_digest(first).hex()
    assert not any(first_digest in key for key in pending)
    assert len(coord.stored_blob_keys()) == coord.blob_key_count(1)
    assert not set(coord.stored_blob_keys()) & set(left)

    async with coord.client("a") as client:
        done = await client.upload(second, "k2", [(0, chunks2[0])], "x")
    assert done.complete
    assert coord.stored_meta_keys("pending/") == []
    assert len(coord.stored_blob_keys()) == coord.blob_key_count(2)
    parts = await coord.download("b", "a")
    assert b"".join(p.chunk.data for p in parts[1:]) == b"".join(items2)


async def test_same_upload_twice_is_already_present(coord):
    """Repeating the identical upload succeeds with already_present."""
    await coord.commit("a")
    signed, chunks = coord.upload_manifest("a", elements(0, 20))

    first = await coord.send_upload("a", signed, enumerate(chunks))
    second = await coord.send_upload("a", signed, enumerate(chunks))

    assert (first.already_present, second.already_present) == (False, True)
    assert first.digest == second.digest == wire.payload_digest(signed)
    assert first.complete and second.complete
    assert len(coord.stored_blob_keys()) == coord.blob_key_count(1)
    assert coord.stored_meta_keys("up/") == [f"up/{EPOCH}/{KIND}/a"]


async def test_different_upload_same_epoch_kind_is_refused(coord):
    """A second, different set is FAILED_PRECONDITION; the first stays."""
    first = await coord.upload("a", elements(0, 20))
    blobs_before = coord.stored_blob_keys()
    other, other_chunks = coord.upload_manifest("a", elements(20, 45))

    with pytest.raises(CoordinatorError) as caught:
        await coord.send_upload("a", other, enumerate(other_chunks))

    assert caught.value.code == CLOSED
    assert coord.stored_blob_keys() == blobs_before
    own = kind_status(await coord.round("a")).own_upload
    assert own == first and _manifest(own).count == 20
    parts = await coord.download("b", "a")
    assert parts[0].manifest == first
    assert b"".join(p.chunk.data for p in parts[1:]) == b"".join(
        elements(0, 20))


async def test_concurrent_different_uploads_one_wins_whole(coord):
    """Two racing different uploads: one stored whole, one refused."""
    await coord.commit("a")
    sets = [elements(0, TWO_CHUNKS - 1),
            elements(TWO_CHUNKS - 1, TWO_CHUNKS + 40)]
    built = [coord.upload_manifest("a", items) for items in sets]

    async def one(signed, chunks):
        try:
            return await coord.send_upload("a", signed, enumerate(chunks))
        except CoordinatorError as exc:
            return exc.code

    results = await asyncio.gather(*(one(s, c) for s, c in built))

    winners = [i for i, r in enumerate(results)
               if isinstance(r, pb.UploadReceipt) and r.complete]
    assert len(winners) == 1, results
    loser = results[1 - winners[0]]
    # the loser is refused, or its pending upload was replaced mid-way
    assert loser in (CLOSED, INVALID) or (
        isinstance(loser, pb.UploadReceipt) and not loser.complete), loser
    win_signed = built[winners[0]][0]
    parts = await coord.download("b", "a")
    assert parts[0].manifest == win_signed
    assert b"".join(p.chunk.data for p in parts[1:]) == b"".join(
        sets[winners[0]])
    assert len(coord.stored_blob_keys()) == coord.blob_key_count(
        _manifest(win_signed).chunk_count)


async def test_replacing_a_pending_upload_never_deletes_a_published_one(
        coord, monkeypatch):
    """A second manifest arriving while the first upload is being
    published waits for the publication, then is refused as a different
    set; the chunks the published upload points to are never deleted.

    The interleaving is pinned: the first upload has every chunk and is
    paused between reading its chunk marks and publishing; the second,
    different manifest arrives meanwhile.
    """
    await coord.commit("a")
    first_items = elements(0, TWO_CHUNKS)
    first, chunks1 = coord.upload_manifest("a", first_items)
    second, chunks2 = coord.upload_manifest(
        "a", elements(TWO_CHUNKS, 2 * TWO_CHUNKS))
    first_digest = wire.payload_digest(first)
    real_marks = records_module.Records.chunk_marks
    reached, go_on = asyncio.Event(), asyncio.Event()

    async def paused_marks(self, owner, digest):
        marks = await real_marks(self, owner, digest)
        if digest == first_digest and len(marks) == 2 and not go_on.is_set():
            reached.set()
            await go_on.wait()
        return marks

    monkeypatch.setattr(records_module.Records, "chunk_marks", paused_marks)
    publishing = asyncio.create_task(
        coord.send_upload("a", first, enumerate(chunks1)))
    await asyncio.wait_for(reached.wait(), CALL_TIMEOUT)
    replacing = asyncio.create_task(
        coord.send_upload("a", second, [(0, chunks2[0])]))
    await asyncio.sleep(0.3)
    assert not replacing.done()      # it waits for the publication
    go_on.set()
    outcome = await asyncio.gather(publishing, replacing,
                                   return_exceptions=True)

    assert outcome[0].complete
    assert isinstance(outcome[1], Exception)
    own = kind_status(await coord.round("a")).own_upload
    assert own == first
    parts = await coord.download("b", "a")
    assert b"".join(p.chunk.data for p in parts[1:]) == b"".join(
        first_items)


async def test_same_set_other_kind_or_epoch_is_separate(coord):
    """One set uploaded under two kinds or two epochs: separate uploads."""
    items = elements(0, 6)

    await coord.upload("a", items, kind=KIND)
    await coord.upload("a", items, kind=OTHER_KIND)
    await coord.upload("a", items, epoch=TOMORROW)

    assert coord.stored_meta_keys("up/") == sorted([
        f"up/{EPOCH}/{KIND}/a", f"up/{EPOCH}/{OTHER_KIND}/a",
        f"up/{TOMORROW}/{KIND}/a"])


async def test_empty_upload_is_published(coord):
    """An empty set is a manifest with no chunks and the empty root."""
    signed = await coord.upload("a", [])
    parts = await coord.download("b", "a")

    assert [p.manifest for p in parts] == [signed]
    assert _manifest(signed).count == 0


def _manifest_defects():
    """(name, header changes, manifest changes, status expected).

    Header defects fail the signed statement's checks (PERMISSION_DENIED;
    an epoch far away fails them too, since a statement is issued inside
    its epoch's window); an enabled kind is the policy's
    (INVALID_ARGUMENT); the chunk plan is the servicer's.
    """
    return [
        ("kind not enabled", {"kind": NOT_ENABLED}, {}, INVALID),
        ("unknown kind", {"kind": "nosuch.kind.c1"}, {}, INVALID),
        ("epoch without zero padding", {"epoch": "2024-1-01"}, {}, DENIED),
        ("epoch not a date", {"epoch": "2024-02-30"}, {}, DENIED),
        ("epoch in other digits", {"epoch": "٢٠٢٤-٠١-٠١"}, {}, DENIED),
        ("epoch with time", {"epoch": EPOCH + "T00:00"}, {}, DENIED),
        ("epoch as ISO week date", {"epoch": _iso_week(EPOCH)}, {}, DENIED),
        ("epoch far in the past", {"epoch": "2001-01-01"}, {}, DENIED),
        ("epoch far in the future", {"epoch": "2999-01-01",
                                     "expires_at": _close("2999-01-01")},
         {}, DENIED),
        ("year out of range", {"epoch": "1999-12-31"}, {}, DENIED),
        ("wrong version", {"version": PROTOCOL_VERSION + 1}, {}, DENIED),
        ("wrong suite", {"suite": "CS99"}, {}, DENIED),
        ("other consortium", {"consortium_id": "0" * 16}, {}, DENIED),
        ("a recipient", {"recipient": "b"}, {}, DENIED),
        ("short nonce", {"nonce": bytes(15)}, {}, DENIED),
        ("chunk_count off by one", {}, {"chunk_count": 2}, INVALID),
        ("short chunk digest", {}, {"chunk_digests": [bytes(31)]}, INVALID),
        ("wrong merkle root", {}, {"merkle_root": bytes(32)}, INVALID),
        ("digest list and root both wrong", {},
         {"chunk_digests": [bytes(32)], "merkle_root": bytes(32)}, INVALID),
    ]


def _iso_week(epoch: str) -> str:
    year, week, day = dt.date.fromisoformat(epoch).isocalendar()
    return f"{year:04d}-W{week:02d}-{day}"


def _close(epoch: str) -> int:
    return int(wire.epoch_window(epoch)[1].timestamp())


@pytest.mark.parametrize(
    "header,change,expected",
    [pytest.param(h, c, e, id=n) for n, h, c, e in _manifest_defects()])
async def test_defective_upload_manifest_is_refused(coord, header, change,
                                                    expected):
    """Each defect in an otherwise valid upload is refused, nothing kept."""
    await coord.commit("a")
    signed, chunks = coord.upload_manifest("a", elements(0, 8),
                                           header=header, **change)

    code, details = await rpc_error(coord.stub("a").Upload(
        stream(*up_parts(signed, enumerate(chunks))),
        timeout=CALL_TIMEOUT))

    assert code == expected, details
    await assert_nothing_stored(coord)
    assert len(coord.stored_meta_keys("nonce/")) == 1   # the commitment's


async def test_key_commit_for_iso_week_epoch_is_refused_cleanly(coord):
    """An epoch written as an ISO week date (2026-W49-5) is not an epoch:
    refused as any malformed epoch, never an internal error."""
    signed = coord.key_commit("a", header={"epoch": _iso_week(EPOCH)})

    code, details = await rpc_error(coord.stub("a").PublishKeyCommit(
        pb.PublishKeyCommitRequest(commit=signed, idempotency_key="k1"),
        timeout=CALL_TIMEOUT))

    assert code in (DENIED, INVALID), (code, details)
    assert coord.stored_meta_keys("") == []


# -- DownloadUpload --------------------------------------------------------


async def test_download_returns_exact_bytes_and_signed_manifest(coord):
    """A peer gets the owner's signed manifest and the exact bytes."""
    items = elements(0, 33)
    signed = await coord.upload("a", items)

    parts = await coord.download("b", "a")
    own = await coord.round("b")

    assert parts[0].manifest == signed
    m = wire.open_message(parts[0].manifest, pb.UploadManifest,
                          coord.consortium.labs["a"].signing_key,
                          wire.Expect(coord.consortium_id, sender="a"))
    assert m.count == 33 and m.chunk_count == 1
    assert all(p.HasField("chunk") for p in parts[1:])
    assert [p.chunk.index for p in parts[1:]] == [0]
    assert b"".join(p.chunk.data for p in parts[1:]) == b"".join(items)
    assert not any(k.HasField("own_upload") for k in own.kinds)
    with pytest.raises(CoordinatorError) as caught:
        await coord.download("c", "b")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND


async def test_download_of_own_or_unknown_owner_is_refused(coord):
    """Only a peer's upload can be downloaded; none yet is NOT_FOUND."""
    await coord.upload("a", elements(0, 3))

    for owner, code in (("a", INVALID), ("mallory", INVALID), ("", INVALID),
                        ("b", grpc.StatusCode.NOT_FOUND)):
        got, sent = await stream_code(coord.stub("a").DownloadUpload(
            pb.DownloadRequest(epoch=EPOCH, kind=KIND, owner=owner),
            timeout=CALL_TIMEOUT))
        assert (got, sent) == (code, []), owner


async def test_download_bad_kind_or_epoch_is_refused(coord):
    """DownloadUpload checks the kind and the epoch's format."""
    await coord.upload("a", elements(0, 3))

    for epoch, kind in ((EPOCH, NOT_ENABLED), ("2024-13-01", KIND),
                        (_iso_week(EPOCH), KIND)):
        got, sent = await stream_code(coord.stub("b").DownloadUpload(
            pb.DownloadRequest(epoch=epoch, kind=kind, owner="a"),
            timeout=CALL_TIMEOUT))
        assert (got, sent) == (INVALID, []), (epoch, kind)


async def test_large_upload_streams_in_chunks_under_limit(coord):
    """3 × 32768 + 5 elements: 4 chunks, each under 4 MiB, round-trip."""
    items = pool(BIG_COUNT)
    await coord.commit("a")
    signed, chunks = coord.upload_manifest("a", items)
    assert _manifest(signed).chunk_count == 4 == len(chunks)
    assert all(pb.UploadPart(chunk=pb.Chunk(index=i, data=c))
               .ByteSize() < GRPC_LIMIT for i, c in enumerate(chunks))

    receipt = await coord.send_upload("a", signed, enumerate(chunks))
    parts = await coord.download("c", "a")

    assert receipt.complete and not receipt.already_present
    assert _manifest(parts[0].manifest).count == BIG_COUNT
    got = [p.chunk for p in parts[1:]]
    assert [c.index for c in got] == [0, 1, 2, 3]
    assert [len(c.data) // ELEMENT_BYTES for c in got] == [
        ELEMENTS_PER_CHUNK] * 3 + [5]
    assert all(p.ByteSize() < GRPC_LIMIT for p in parts)
    assert b"".join(c.data for c in got) == b"".join(items)


# -- SubmitEvaluation / FetchEvaluation -----------------------------------


async def test_evaluation_with_wrong_upload_digest_is_refused(coord):
    """An evaluation naming a digest other than the stored upload's."""
    up_b = await coord.upload("b", elements(0, 6))
    signed, chunks = coord.evaluation_manifest("a", "b", up_b,
                                               upload_digest=bytes(32))

    with pytest.raises(CoordinatorError) as caught:
        await coord.submit("a", signed, chunks)

    assert caught.value.code == CLOSED
    assert coord.stored_meta_keys("ev/") == []
    assert len(coord.stored_blob_keys()) == coord.blob_key_count(1)


async def test_evaluation_before_owner_uploads_is_refused(coord):
    """No upload by the owner: nothing to evaluate."""
    await coord.commit("b")
    ghost, _ = coord.upload_manifest("b", elements(0, 3))
    signed, chunks = coord.evaluation_manifest("a", "b", ghost)

    code = await rpc_code(coord.stub("a").SubmitEvaluation(
        stream(*ev_parts(signed, chunks)), timeout=CALL_TIMEOUT))

    assert code == CLOSED
    assert coord.stored_blob_keys() == []


async def test_evaluation_count_mismatch_is_refused(coord):
    """A token count other than the upload's count is refused."""
    up_b = await coord.upload("b", elements(0, 6))
    signed, chunks = coord.evaluation_manifest("a", "b", up_b,
                                               random_tokens(5))

    code = await rpc_code(coord.stub("a").SubmitEvaluation(
        stream(*ev_parts(signed, chunks)), timeout=CALL_TIMEOUT))

    assert code == INVALID
    assert coord.stored_meta_keys("ev/") == []


async def test_evaluation_of_own_upload_is_refused(coord):
    """A lab cannot evaluate itself (the recipient must be a peer)."""
    up_a = await coord.upload("a", elements(0, 6))
    signed, chunks = coord.evaluation_manifest("a", "a", up_a)

    code = await rpc_code(coord.stub("a").SubmitEvaluation(
        stream(*ev_parts(signed, chunks)), timeout=CALL_TIMEOUT))

    assert code == INVALID
    assert coord.stored_meta_keys("ev/") == []


async def test_evaluation_with_tampered_or_missing_chunk_is_refused(coord):
    """A sealed chunk that does not match its digest, a chunk sent under
    the wrong index, or no chunk at all: refused, no blob kept."""
    up_b = await coord.upload("b", elements(0, 6))
    blobs = coord.stored_blob_keys()

    async def attempt(chunk_parts):
        signed, chunks = coord.evaluation_manifest("a", "b", up_b)
        parts = ev_parts(signed, []) + [
            pb.EvaluationPart(chunk=pb.Chunk(index=i, data=d(chunks)))
            for i, d in chunk_parts]
        return await rpc_code(coord.stub("a").SubmitEvaluation(
            stream(*parts), timeout=CALL_TIMEOUT))

    def flipped(chunks):
        data = bytearray(chunks[0])
        data[-1] ^= 1
        return bytes(data)

    tampered = await attempt([(0, flipped)])
    wrong_index = await attempt([(1, lambda c: c[0])])
    truncated = await attempt([])

    assert (tampered, wrong_index, truncated) == (INVALID,) * 3
    assert coord.stored_meta_keys("ev/") == []
    assert coord.stored_blob_keys() == blobs


async def test_escrow_releases_only_when_both_sides_submitted(coord):
    """Escrow holds a→b until b→a arrives; then both open their lists."""
    up_a = await coord.upload("a", elements(0, 7))
    up_b = await coord.upload("b", elements(7, 18))
    tokens_ab = random_tokens(11)     # a's evaluation of b's upload
    tokens_ba = random_tokens(7)      # b's evaluation of a's upload

    first = await coord.evaluate("a", "b", up_b, tokens_ab)
    b_early = await coord.fetch("b", "a")
    a_early = await coord.fetch("a", "b")
    view_a, view_b = await coord.round("a"), await coord.round("b")

    assert not first.already_present
    assert b_early == (CLOSED, [])
    assert a_early == (CLOSED, [])
    pa, pb_ = peer_status(view_a, "b"), peer_status(view_b, "a")
    assert (pa.evaluated_by_me, pa.evaluated_by_peer, pa.released) == (
        True, False, False)
    assert (pb_.evaluated_by_me, pb_.evaluated_by_peer, pb_.released) == (
        False, True, False)

    await coord.evaluate("b", "a", up_a, tokens_ba)
    code_b, parts_b = await coord.fetch("b", "a")
    code_a, parts_a = await coord.fetch("a", "b")
    view_a, view_b = await coord.round("a"), await coord.round("b")

    assert (code_a, code_b) == (grpc.StatusCode.OK, grpc.StatusCode.OK)
    assert peer_status(view_a, "b").released
    assert peer_status(view_b, "a").released
    head_b = pb.EvaluationManifest.FromString(
        parts_b[0].start.manifest.payload).header
    head_a = pb.EvaluationManifest.FromString(
        parts_a[0].start.manifest.payload).header
    assert (head_b.sender, head_b.recipient) == ("a", "b")
    assert (head_a.sender, head_a.recipient) == ("b", "a")
    assert coord.open_list("b", "a", up_b, parts_b) == tokens_ab
    assert coord.open_list("a", "b", up_a, parts_a) == tokens_ba


async def test_third_lab_can_never_fetch_a_pairs_lists(coord):
    """Lab c naming a or b as evaluator gets nothing of the a–b lists."""
    up_a = await coord.upload("a", elements(0, 7))
    up_b = await coord.upload("b", elements(7, 18))
    await coord.upload("c", elements(18, 20))
    await coord.evaluate("a", "b", up_b)
    await coord.evaluate("b", "a", up_a)
    assert (await coord.fetch("b", "a"))[0] == grpc.StatusCode.OK

    for evaluator, code in (("a", CLOSED), ("b", CLOSED), ("c", INVALID),
                            ("mallory", INVALID)):
        assert await coord.fetch("c", evaluator) == (code, []), evaluator
    view_c = await coord.round("c")
    for peer in ("a", "b"):
        status = peer_status(view_c, peer)
        assert not (status.evaluated_by_me or status.evaluated_by_peer
                    or status.released)


async def test_second_evaluation_keeps_the_first(coord):
    """Resubmitting a pair's evaluation never replaces the stored list."""
    up_a = await coord.upload("a", elements(0, 5))
    up_b = await coord.upload("b", elements(5, 9))
    tokens = random_tokens(4)
    first = await coord.evaluate("a", "b", up_b, tokens)
    await coord.evaluate("b", "a", up_a)

    with pytest.raises(CoordinatorError) as caught:
        await coord.evaluate("a", "b", up_b, random_tokens(4))
    code, parts = await coord.fetch("b", "a")

    assert caught.value.code == CLOSED
    assert code == grpc.StatusCode.OK
    assert wire.payload_digest(parts[0].start.manifest) == first.digest
    assert coord.open_list("b", "a", up_b, parts) == tokens


async def test_cancelled_evaluation_leaves_nothing_stored(coord):
    """An evaluator that goes away mid-stream leaves no chunk behind."""
    count = TOKENS_PER_CHUNK + 1               # two sealed chunks
    up_b = await coord.upload("b", pool(count))
    signed, chunks = coord.evaluation_manifest("a", "b", up_b)
    assert len(chunks) == 2

    def start_call():
        return coord.stub("a").SubmitEvaluation(
            stream(*ev_parts(signed, chunks[:1]),
                   hold_open=asyncio.Event()),
            timeout=CALL_TIMEOUT)

    left = await cancel_midway(coord, start_call)

    assert left == [], "a cancelled evaluation left chunks in the store"
    assert coord.stored_meta_keys("ev/") == []
    assert len(coord.stored_blob_keys()) == coord.blob_key_count(
        _manifest(up_b).chunk_count)


async def test_empty_sets_round_trip_through_escrow(coord):
    """Empty uploads: evaluations of zero tokens are held and released."""
    up_a = await coord.upload("a", [])
    up_b = await coord.upload("b", [])
    await coord.evaluate("a", "b", up_b, [])
    await coord.evaluate("b", "a", up_a, [])

    parts = await coord.download("a", "b")
    code, sealed = await coord.fetch("a", "b")

    assert [_manifest(p.manifest).count for p in parts] == [0]
    assert code == grpc.StatusCode.OK
    assert coord.open_list("a", "b", up_a, sealed) == []


def _evaluation_defects():
    """(name, header changes, manifest changes, status expected)."""
    return [
        ("wrong version", {"version": 7}, {}, DENIED),
        ("wrong suite", {"suite": "CS02"}, {}, DENIED),
        ("kind not enabled", {"kind": NOT_ENABLED}, {}, INVALID),
        ("other kind than the upload", {"kind": OTHER_KIND}, {}, CLOSED),
        ("malformed epoch", {"epoch": "yesterday"}, {}, DENIED),
        ("epoch far in the past", {"epoch": "2001-01-01"}, {}, DENIED),
        ("recipient not a member", {"recipient": "mallory"}, {}, INVALID),
        ("recipient another peer", {"recipient": "c"}, {}, CLOSED),
        ("chunk_count wrong", {}, {"chunk_count": 2}, INVALID),
        ("short sealed key", {}, {"sealed_key": bytes(79)}, INVALID),
        ("short stream header", {}, {"stream_header": bytes(23)}, INVALID),
        ("short chunk digest", {}, {"chunk_digests": [bytes(31)]}, INVALID),
        ("wrong merkle root", {}, {"merkle_root": bytes(32)}, INVALID),
    ]


@pytest.mark.parametrize(
    "header,change,expected",
    [pytest.param(h, c, e, id=n) for n, h, c, e in _evaluation_defects()])
async def test_defective_evaluation_manifest_is_refused(coord, header,
                                                        change, expected):
    """Each defect in an otherwise valid evaluation is refused."""
    up_b = await coord.upload("b", elements(0, 6))
    await coord.upload("c", elements(6, 12))
    blobs = coord.stored_blob_keys()
    signed, chunks = coord.evaluation_manifest("a", "b", up_b,
                                               header=header, **change)

    code, details = await rpc_error(coord.stub("a").SubmitEvaluation(
        stream(*ev_parts(signed, chunks)), timeout=CALL_TIMEOUT))

    assert code == expected, details
    assert coord.stored_meta_keys("ev/") == []
    assert coord.stored_meta_keys("budget/") == []
    assert coord.stored_blob_keys() == blobs


# -- shutdown ---------------------------------------------------------------


async def test_graceful_shutdown_drains_and_closes_store(coord):
    """Stop drains an in-flight download, returns, closes the store."""
    items = elements(0, ELEMENTS_PER_CHUNK + 7)
    await coord.upload("a", items)
    async with coord.client("b") as client:
        parts = client.download_upload(EPOCH, KIND, "a")
        head = await anext(parts)
        coord.stop.set()
        await asyncio.sleep(0.2)
        rest = [p async for p in parts]
        await asyncio.wait_for(asyncio.shield(coord.task), 15)

    assert _manifest(head.manifest).count == len(items)
    assert b"".join(p.chunk.data for p in rest) == b"".join(items)
    assert coord.task.result() is None
    assert coord.closed == [True]
    if coord.backend == "sqlite":
        wal = coord.sqlite_path().with_name(coord.sqlite_path().name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
    with pytest.raises(CoordinatorError) as caught:
        await coord.round("a")
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
