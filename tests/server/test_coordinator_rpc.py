"""The coordinator over real gRPC with real mutual TLS on loopback.

Each test starts ``labmatch.server.app.serve`` in-process on
127.0.0.1:0, once per store backend (SQLite and Redis), for a fresh
three-lab consortium. Labs talk to it through ``CoordinatorClient`` or,
to send what a well-behaved client never would, through raw stubs.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from labmatch._proto import coordinator_pb2 as pb
from labmatch._proto import coordinator_pb2_grpc as pb_grpc
from labmatch.client import pki
from labmatch.client.consortium import LabCredentials, init_consortium, \
    load_lab
from labmatch.client.transport import CoordinatorClient, CoordinatorError
from labmatch.psi.group import ELEMENT_BYTES, random_element
from labmatch.psi.hashing import PROTOCOL_VERSION, SUITE
from labmatch.psi.identifiers import match_kinds
from labmatch.psi.manifest import (
    ELEMENTS_PER_CHUNK,
    MAX_UPLOAD_ELEMENTS,
    EvaluationDigest,
    UploadDigest,
    split_elements,
)
from labmatch.psi.sealing import TokenListOpener, list_context, seal_tokens
from labmatch.psi.tokens import TOKEN_BYTES
from labmatch.server import app as server_app
from labmatch.server.app import ServerConfig, serve

LABS = ("a", "b", "c")
# "wallet" is a real input kind left out on purpose: its match kind is
# known to the code but not enabled in this consortium.
INPUT_KINDS = ("ip", "domain")
ENABLED = match_kinds(INPUT_KINDS)
NOT_ENABLED = match_kinds(["wallet"])[0]
KIND = "ip4.addr.c1"
OTHER_KIND = "domain.name.c1"
EPOCH = dt.datetime.now(dt.UTC).date().isoformat()
MiB = 1024 * 1024
GRPC_LIMIT = 4 * MiB
CALL_TIMEOUT = 10.0
BIG_COUNT = ELEMENTS_PER_CHUNK * 3 + 5

_POOL: list[bytes] = []


def pool(count: int) -> list[bytes]:
    """The first ``count`` of one sorted list of distinct valid elements."""
    if len(_POOL) < count:
        fresh = {random_element() for _ in range(count - len(_POOL) + 16)}
        fresh.difference_update(_POOL)
        _POOL[:] = sorted(set(_POOL) | fresh)
    return _POOL[:count]


def elements(start: int, stop: int) -> list[bytes]:
    """A sorted slice of the shared pool: disjoint slices, disjoint sets."""
    return pool(stop)[start:stop]


# -- messages -----------------------------------------------------------


def upload_parts(coord: Coordinator, owner: str, items: list[bytes], *,
                 epoch: str = EPOCH, kind: str = KIND,
                 ) -> tuple[pb.UploadManifest, list[bytes]]:
    """A valid manifest (digest bound to ``owner``) and its chunks."""
    chunks = split_elements(items)
    digest = UploadDigest(consortium_id=coord.consortium_id, epoch=epoch,
                          kind=kind, owner=owner, count=len(items))
    for chunk in chunks:
        digest.update(chunk)
    manifest = pb.UploadManifest(
        version=PROTOCOL_VERSION, suite=SUITE, epoch=epoch, kind=kind,
        count=len(items), chunk_count=len(chunks), digest=digest.digest())
    return manifest, chunks


def random_tokens(count: int) -> list[bytes]:
    return [secrets.token_bytes(TOKEN_BYTES) for _ in range(count)]


def evaluation_parts(coord: Coordinator, evaluator: str, owner: str,
                     upload: pb.UploadManifest, tokens: list[bytes], *,
                     upload_digest: bytes | None = None,
                     count: int | None = None,
                     ) -> tuple[pb.EvaluationManifest, list[bytes]]:
    """A token list sealed to ``owner`` exactly as client/sync.py does."""
    upload_digest = upload.digest if upload_digest is None else upload_digest
    count = len(tokens) if count is None else count
    context = list_context(
        consortium_id=coord.consortium_id, epoch=upload.epoch,
        kind=upload.kind, evaluator=evaluator, owner=owner,
        upload_digest=upload_digest, count=count)
    owner_key = coord.labs[evaluator].consortium.labs[owner].sealing_key
    sealed = seal_tokens(owner_key, context, tokens)
    chunks = list(sealed.chunks)
    digest = EvaluationDigest(context, sealed.sealed_key, sealed.header)
    for chunk in chunks:
        digest.update(chunk)
    manifest = pb.EvaluationManifest(
        version=PROTOCOL_VERSION, suite=SUITE, epoch=upload.epoch,
        kind=upload.kind, owner=owner, upload_digest=upload_digest,
        count=count, chunk_count=sealed.chunk_count,
        sealed_key=sealed.sealed_key, stream_header=sealed.header,
        digest=digest.digest())
    return manifest, chunks


async def stream(*parts, hold_open: asyncio.Event | None = None
                 ) -> AsyncIterator:
    """Yield ``parts``; then, with ``hold_open``, keep the stream open."""
    for part in parts:
        yield part
    if hold_open is not None:
        await hold_open.wait()


def up_parts(manifest: pb.UploadManifest | None,
             chunks: Iterable[tuple[int, bytes]]) -> list[pb.UploadPart]:
    out = [] if manifest is None else [pb.UploadPart(manifest=manifest)]
    out += [pb.UploadPart(chunk=pb.UploadChunk(index=i, elements=data))
            for i, data in chunks]
    return out


def ev_parts(manifest: pb.EvaluationManifest,
             chunks: Iterable[bytes]) -> list[pb.EvaluationPart]:
    return [pb.EvaluationPart(manifest=manifest)] + [
        pb.EvaluationPart(chunk=pb.SealedChunk(index=i, ciphertext=data))
        for i, data in enumerate(chunks)]


async def rpc_code(awaitable) -> grpc.StatusCode:
    """The status a call ends with (OK if it succeeds)."""
    try:
        await awaitable
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def stream_code(call) -> tuple[grpc.StatusCode, list]:
    """The status a server-streaming call ends with, and what it sent."""
    received = []
    try:
        async for part in call:
            received.append(part)
    except grpc.aio.AioRpcError as exc:
        return exc.code(), received
    return grpc.StatusCode.OK, received


# -- the coordinator under test ------------------------------------------


@dataclass
class Coordinator:
    """A running coordinator, its consortium and ways to reach it."""

    root: Path
    address: str
    backend: str
    store_url: str
    consortium_id: str
    labs: dict[str, LabCredentials]
    stop: asyncio.Event
    task: asyncio.Task
    closed: list[bool] = field(default_factory=list)
    _channels: list[grpc.aio.Channel] = field(default_factory=list)

    def client(self, lab: str) -> CoordinatorClient:
        creds = self.labs[lab]
        return CoordinatorClient(self.address, tls_key=creds.tls_key,
                                 tls_cert=creds.tls_cert,
                                 ca_cert=creds.ca_cert)

    def channel_with(self, *, key: bytes | None = None,
                     cert: bytes | None = None,
                     root: bytes | None = None) -> grpc.aio.Channel:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=root or self.labs["a"].ca_cert,
            private_key=key, certificate_chain=cert)
        channel = grpc.aio.secure_channel(self.address, credentials)
        self._channels.append(channel)
        return channel

    def stub(self, lab: str) -> pb_grpc.CoordinatorStub:
        creds = self.labs[lab]
        return pb_grpc.CoordinatorStub(self.channel_with(
            key=creds.tls_key, cert=creds.tls_cert))

    async def upload(self, lab: str, items: list[bytes], **kw
                     ) -> pb.UploadManifest:
        manifest, chunks = upload_parts(self, lab, items, **kw)
        async with self.client(lab) as client:
            receipt = await client.upload(manifest, chunks)
        assert receipt.digest == manifest.digest
        return manifest

    async def evaluate(self, evaluator: str, owner: str,
                       upload: pb.UploadManifest,
                       tokens: list[bytes]) -> pb.EvaluationReceipt:
        manifest, chunks = evaluation_parts(self, evaluator, owner, upload,
                                            tokens)
        async with self.client(evaluator) as client:
            return await client.submit_evaluation(manifest, chunks)

    async def round(self, lab: str, epoch: str = EPOCH) -> pb.RoundStatus:
        async with self.client(lab) as client:
            return await client.round(epoch)

    async def download(self, lab: str, owner: str, kind: str = KIND
                       ) -> list[pb.UploadPart]:
        async with self.client(lab) as client:
            return [p async for p in client.download_upload(EPOCH, kind,
                                                            owner)]

    # What the store holds, read around the coordinator's back.

    def sqlite_path(self) -> Path:
        return Path(self.store_url[len("sqlite:"):])

    def stored_blob_keys(self) -> list[str]:
        """Every chunk the store holds, as backend-specific names."""
        if self.backend == "sqlite":
            with sqlite3.connect(self.sqlite_path()) as conn:
                rows = conn.execute(
                    "SELECT blob_id, idx FROM chunks").fetchall()
            conn.close()
            return sorted(f"{blob}:{idx}" for blob, idx in rows)
        import redis

        client = redis.Redis.from_url(self.store_url)
        try:
            pattern = f"labmatch:{self.consortium_id}:blob:*"
            return sorted(k.decode() for k in client.scan_iter(pattern))
        finally:
            client.close()

    def stored_meta_keys(self, prefix: str) -> list[str]:
        if self.backend == "sqlite":
            with sqlite3.connect(self.sqlite_path()) as conn:
                rows = conn.execute(
                    "SELECT key FROM meta WHERE substr(key, 1, ?) = ?",
                    (len(prefix), prefix)).fetchall()
            conn.close()
            return sorted(k for (k,) in rows)
        import redis

        client = redis.Redis.from_url(self.store_url)
        try:
            head = f"labmatch:{self.consortium_id}:meta:"
            return sorted(k.decode()[len(head):]
                          for k in client.scan_iter(head + prefix + "*"))
        finally:
            client.close()

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.wait_for(asyncio.shield(self.task), 15)

    async def close_channels(self) -> None:
        for channel in self._channels:
            await channel.close()


@pytest.fixture(params=["sqlite",
                        pytest.param("redis", marks=pytest.mark.redis)])
def backend_url(request, tmp_path) -> tuple[str, str]:
    if request.param == "sqlite":
        return "sqlite", f"sqlite:{tmp_path / 'store' / 'state.sqlite3'}"
    return "redis", request.getfixturevalue("redis_url")


@pytest.fixture
async def coord(tmp_path, backend_url, monkeypatch
                ) -> AsyncIterator[Coordinator]:
    """A coordinator serving a fresh consortium of labs a, b and c."""
    backend, store_url = backend_url
    root = tmp_path / "c"
    consortium = init_consortium(root, LABS, coordinator="127.0.0.1:50999",
                                 kinds=INPUT_KINDS)
    labs = {name: load_lab(root / "labs" / name) for name in LABS}
    closed: list[bool] = []
    real_open = server_app.open_store

    def spying_open_store(url, consortium_id):
        store = real_open(url, consortium_id)
        real_close = store.aclose

        async def aclose():
            await real_close()
            closed.append(True)

        store.aclose = aclose
        return store

    monkeypatch.setattr(server_app, "open_store", spying_open_store)
    config = ServerConfig.from_files(root / "consortium.toml",
                                     listen="127.0.0.1:0",
                                     store_url=store_url)
    bound: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(config, ready=bound.set_result, stop=stop))
    done, _ = await asyncio.wait({bound, task}, timeout=10,
                                 return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    assert bound in done, "the coordinator did not report its address"
    running = Coordinator(root=root, address=bound.result(), backend=backend,
                          store_url=store_url,
                          consortium_id=consortium.consortium_id,
                          labs=labs, stop=stop, task=task, closed=closed)
    try:
        yield running
    finally:
        await running.close_channels()
        if not task.done():
            await running.shutdown()


# -- who may call ---------------------------------------------------------


def _servicer_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "labmatch.server"
            and r.getMessage().startswith("rpc method=")]


async def test_caller_without_client_certificate_is_refused(coord, caplog):
    """A channel holding only the root CA fails the handshake."""
    caplog.set_level(logging.INFO, logger="labmatch.server")
    stub = pb_grpc.CoordinatorStub(coord.channel_with())

    code = await rpc_code(stub.GetRound(pb.RoundRequest(epoch=EPOCH),
                                        timeout=CALL_TIMEOUT))

    assert code == grpc.StatusCode.UNAVAILABLE
    assert _servicer_lines(caplog) == []
    await coord.round("a")                       # control: lines do appear
    assert len(_servicer_lines(caplog)) == 1


async def test_certificate_from_another_ca_is_refused(coord, tmp_path,
                                                      caplog):
    """A lab certificate of another consortium's CA, same name, is refused."""
    caplog.set_level(logging.INFO, logger="labmatch.server")
    init_consortium(tmp_path / "other", ["a", "b"],
                    coordinator="127.0.0.1:50999")
    foreign = load_lab(tmp_path / "other" / "labs" / "a")
    stub = pb_grpc.CoordinatorStub(coord.channel_with(
        key=foreign.tls_key, cert=foreign.tls_cert))

    code = await rpc_code(stub.GetRound(pb.RoundRequest(epoch=EPOCH),
                                        timeout=CALL_TIMEOUT))

    assert code == grpc.StatusCode.UNAVAILABLE
    assert _servicer_lines(caplog) == []


async def test_coordinator_certificate_as_client_is_refused(coord):
    """The coordinator's own server certificate does not make a caller."""
    tls = coord.root / "coordinator"
    stub = pb_grpc.CoordinatorStub(coord.channel_with(
        key=(tls / "tls.key").read_bytes(),
        cert=(tls / "tls.crt").read_bytes()))

    code = await rpc_code(stub.GetRound(pb.RoundRequest(epoch=EPOCH),
                                        timeout=CALL_TIMEOUT))

    assert code in (grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.PERMISSION_DENIED)


async def test_certificate_for_non_member_is_permission_denied(coord):
    """A valid certificate of the consortium's CA for a non-member lab."""
    ca = pki.load_ca((coord.root / "ca" / "ca.key").read_bytes(),
                     (coord.root / "ca" / "ca.crt").read_bytes())
    key, cert = ca.issue_lab("mallory")
    stub = pb_grpc.CoordinatorStub(coord.channel_with(key=key, cert=cert))

    code = await rpc_code(stub.GetRound(pb.RoundRequest(epoch=EPOCH),
                                        timeout=CALL_TIMEOUT))
    down_code, sent = await stream_code(stub.DownloadUpload(
        pb.DownloadRequest(epoch=EPOCH, kind=KIND, owner="a"),
        timeout=CALL_TIMEOUT))

    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert down_code == grpc.StatusCode.PERMISSION_DENIED and sent == []


async def test_expired_member_certificate_is_refused(coord, caplog):
    """A certificate of the right CA for lab a, but expired, is refused."""
    caplog.set_level(logging.INFO, logger="labmatch.server")
    ca = pki.load_ca((coord.root / "ca" / "ca.key").read_bytes(),
                     (coord.root / "ca" / "ca.crt").read_bytes())
    past = dt.datetime.now(dt.UTC) - pki.CERT_LIFETIME - dt.timedelta(days=2)
    key, cert = ca.issue_lab("a", now=past)
    stub = pb_grpc.CoordinatorStub(coord.channel_with(key=key, cert=cert))

    code = await rpc_code(stub.GetRound(pb.RoundRequest(epoch=EPOCH),
                                        timeout=CALL_TIMEOUT))

    assert code == grpc.StatusCode.UNAVAILABLE
    assert _servicer_lines(caplog) == []


async def test_health_service_answers_serving(coord):
    """grpc.health.v1 reports SERVING for the server and the service."""
    creds = coord.labs["b"]
    health = health_pb2_grpc.HealthStub(coord.channel_with(
        key=creds.tls_key, cert=creds.tls_cert))

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
    await coord.evaluate("b", "c", up_c, random_tokens(7))
    await coord.evaluate("c", "b", up_b, random_tokens(5))

    status = await coord.round("a")
    seen_by_b = await coord.round("b")

    assert status.lab == pki.lab_name_from_cert(coord.labs["a"].tls_cert)
    assert status.lab == "a" and status.epoch == EPOCH
    assert [k.kind for k in status.kinds] == list(ENABLED)
    for kind_status in status.kinds:
        assert not kind_status.HasField("own_upload")
        assert sorted(p.peer for p in kind_status.peers) == ["b", "c"]
        for peer in kind_status.peers:
            assert not (peer.evaluated_by_me or peer.evaluated_by_peer
                        or peer.released)
    ip4 = next(k for k in status.kinds if k.kind == KIND)
    uploads = {p.peer: p.upload for p in ip4.peers}
    assert uploads["b"].digest == up_b.digest and uploads["b"].owner == "b"
    assert uploads["c"].digest == up_c.digest and uploads["c"].owner == "c"
    # control: b does see its pair with c released
    b_ip4 = next(k for k in seen_by_b.kinds if k.kind == KIND)
    b_peers = {p.peer: p for p in b_ip4.peers}
    assert seen_by_b.lab == "b" and sorted(b_peers) == ["a", "c"]
    assert b_peers["c"].released and not b_peers["a"].released


async def test_get_round_malformed_epoch_is_invalid_argument(coord):
    """GetRound with an epoch not written YYYY-MM-DD is refused."""
    for epoch in ("", "2024-1-01", "2024-02-30", "٢٠٢٤-٠١-٠١"):
        with pytest.raises(CoordinatorError) as caught:
            await coord.round("a", epoch)
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT, epoch


# -- Upload -------------------------------------------------------------------


def blob_key_count(coord: Coordinator, *chunk_counts: int) -> int:
    """Backend names for blobs of these sizes (Redis adds an index set)."""
    extra = 0 if coord.backend == "sqlite" else 1
    return sum(n + extra for n in chunk_counts if n)


async def assert_nothing_stored(coord: Coordinator, lab: str = "a") -> None:
    status = await coord.round(lab)
    assert not any(k.HasField("own_upload") for k in status.kinds)
    assert coord.stored_blob_keys() == []
    assert coord.stored_meta_keys("up/") == []


async def test_upload_must_start_with_manifest(coord):
    """A stream whose first part is a chunk is refused, nothing stored."""
    manifest, chunks = upload_parts(coord, "a", elements(0, 4))
    parts = up_parts(None, enumerate(chunks)) + [
        pb.UploadPart(manifest=manifest)]

    code = await rpc_code(coord.stub("a").Upload(stream(*parts),
                                                 timeout=CALL_TIMEOUT))
    empty = await rpc_code(coord.stub("a").Upload(stream(),
                                                  timeout=CALL_TIMEOUT))

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert empty == grpc.StatusCode.INVALID_ARGUMENT
    await assert_nothing_stored(coord)


async def test_upload_chunks_out_of_order_are_refused(coord):
    """Chunks sent 1 then 0 are refused and nothing is stored."""
    manifest, chunks = upload_parts(coord, "a",
                                    elements(0, ELEMENTS_PER_CHUNK + 3))
    assert len(chunks) == 2

    swapped = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(manifest, [(1, chunks[1]), (0, chunks[0])])),
        timeout=CALL_TIMEOUT))
    repeated = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(manifest, [(0, chunks[0]), (0, chunks[0])])),
        timeout=CALL_TIMEOUT))
    extra = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(manifest, [*enumerate(chunks), (2, chunks[1])])),
        timeout=CALL_TIMEOUT))

    assert swapped == grpc.StatusCode.INVALID_ARGUMENT
    assert repeated == grpc.StatusCode.INVALID_ARGUMENT
    assert extra == grpc.StatusCode.INVALID_ARGUMENT
    await assert_nothing_stored(coord)


async def test_upload_with_wrong_digest_is_refused_and_not_stored(coord):
    """A digest that does not cover the chunks: refused, no blob kept."""
    manifest, chunks = upload_parts(coord, "a", elements(0, 9))
    flipped = bytearray(manifest.digest)
    flipped[0] ^= 1
    manifest.digest = bytes(flipped)

    with pytest.raises(CoordinatorError) as caught:
        async with coord.client("a") as client:
            await client.upload(manifest, chunks)

    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    await assert_nothing_stored(coord)
    b_view = await coord.round("b")
    assert not any(p.HasField("upload") for k in b_view.kinds
                   for p in k.peers)


async def test_upload_digest_bound_to_another_owner_is_refused(coord):
    """A digest computed for lab b does not verify for caller a."""
    manifest, chunks = upload_parts(coord, "b", elements(0, 9))

    with pytest.raises(CoordinatorError) as caught:
        async with coord.client("a") as client:
            await client.upload(manifest, chunks)

    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    await assert_nothing_stored(coord)


async def test_upload_over_limit_refused_before_any_element(coord):
    """count > MAX_UPLOAD_ELEMENTS: RESOURCE_EXHAUSTED on the manifest."""
    count = MAX_UPLOAD_ELEMENTS + 1
    manifest = pb.UploadManifest(
        version=PROTOCOL_VERSION, suite=SUITE, epoch=EPOCH, kind=KIND,
        count=count, chunk_count=-(-count // ELEMENTS_PER_CHUNK),
        digest=bytes(32))
    never = asyncio.Event()

    code = await rpc_code(coord.stub("a").Upload(
        stream(pb.UploadPart(manifest=manifest), hold_open=never),
        timeout=CALL_TIMEOUT))

    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    await assert_nothing_stored(coord)


async def test_truncated_upload_is_refused(coord):
    """Fewer chunks, or fewer elements, than the manifest says: refused."""
    manifest, chunks = upload_parts(coord, "a",
                                    elements(0, ELEMENTS_PER_CHUNK + 3))
    short, short_chunks = upload_parts(coord, "a", elements(0, 10))
    short.count = 11          # one element more than the chunk carries

    missing_chunk = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(manifest, [(0, chunks[0])])),
        timeout=CALL_TIMEOUT))
    missing_element = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(short, enumerate(short_chunks))),
        timeout=CALL_TIMEOUT))
    no_chunks = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(manifest, [])), timeout=CALL_TIMEOUT))

    assert missing_chunk == grpc.StatusCode.INVALID_ARGUMENT
    assert missing_element == grpc.StatusCode.INVALID_ARGUMENT
    assert no_chunks == grpc.StatusCode.INVALID_ARGUMENT
    await assert_nothing_stored(coord)


async def test_ragged_or_oversized_chunk_is_refused(coord):
    """A chunk not a multiple of 32 bytes, or over 1 MiB, is refused."""
    items = elements(0, ELEMENTS_PER_CHUNK + 1)
    ragged, ragged_chunks = upload_parts(coord, "a", items[:4])
    big, _ = upload_parts(coord, "a", items)
    one_chunk = b"".join(items)          # 1 MiB + 32 bytes in one chunk

    code_ragged = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(ragged, [(0, ragged_chunks[0][:-1])])),
        timeout=CALL_TIMEOUT))
    code_big = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(big, [(0, one_chunk)])), timeout=CALL_TIMEOUT))

    assert code_ragged == grpc.StatusCode.INVALID_ARGUMENT
    assert code_big == grpc.StatusCode.INVALID_ARGUMENT
    await assert_nothing_stored(coord)


async def test_message_over_grpc_limit_is_resource_exhausted(coord):
    """One message over 4 MiB is refused by the transport."""
    manifest, _ = upload_parts(coord, "a", elements(0, 4))
    blob = bytes(GRPC_LIMIT + 64)

    code = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(manifest, [(0, blob)])), timeout=CALL_TIMEOUT))

    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    await assert_nothing_stored(coord)


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


async def test_cancelled_upload_leaves_nothing_stored(coord):
    """A client that goes away mid-stream leaves no chunk behind."""
    manifest, chunks = upload_parts(coord, "a",
                                    elements(0, ELEMENTS_PER_CHUNK + 3))

    def start_call():
        return coord.stub("a").Upload(
            stream(*up_parts(manifest, [(0, chunks[0])]),
                   hold_open=asyncio.Event()),
            timeout=CALL_TIMEOUT)

    left = await cancel_midway(coord, start_call)

    assert left == [], "a cancelled upload left chunks in the store"
    await assert_nothing_stored(coord)


async def test_same_upload_twice_is_already_present(coord):
    """Repeating the identical upload succeeds with already_present."""
    manifest, chunks = upload_parts(coord, "a", elements(0, 20))

    async with coord.client("a") as client:
        first = await client.upload(manifest, chunks)
        second = await client.upload(manifest, chunks)

    assert (first.already_present, second.already_present) == (False, True)
    assert first.digest == second.digest == manifest.digest
    assert len(coord.stored_blob_keys()) == blob_key_count(coord, 1)
    assert coord.stored_meta_keys("up/") == [f"up/{EPOCH}/{KIND}/a"]


async def test_different_upload_same_epoch_kind_is_refused(coord):
    """A second, different set is FAILED_PRECONDITION; the first stays."""
    first = await coord.upload("a", elements(0, 20))
    blobs_before = coord.stored_blob_keys()
    other, other_chunks = upload_parts(coord, "a", elements(20, 45))

    with pytest.raises(CoordinatorError) as caught:
        async with coord.client("a") as client:
            await client.upload(other, other_chunks)

    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert coord.stored_blob_keys() == blobs_before
    status = await coord.round("a")
    own = next(k for k in status.kinds if k.kind == KIND).own_upload
    assert own.digest == first.digest and own.count == 20
    parts = await coord.download("b", "a")
    assert parts[0].manifest.digest == first.digest
    assert b"".join(p.chunk.elements for p in parts[1:]) == b"".join(
        elements(0, 20))


async def test_concurrent_different_uploads_one_wins_whole(coord):
    """Two racing different uploads: one stored whole, one refused."""
    sets = [elements(0, ELEMENTS_PER_CHUNK + 2),
            elements(ELEMENTS_PER_CHUNK + 2, ELEMENTS_PER_CHUNK + 40)]
    built = [upload_parts(coord, "a", items) for items in sets]

    async def one(manifest, chunks):
        async with coord.client("a") as client:
            try:
                return await client.upload(manifest, chunks)
            except CoordinatorError as exc:
                return exc.code

    results = await asyncio.gather(*(one(m, c) for m, c in built))

    winners = [i for i, r in enumerate(results)
               if isinstance(r, pb.UploadReceipt)]
    assert len(winners) == 1, results
    assert results[1 - winners[0]] == grpc.StatusCode.FAILED_PRECONDITION
    parts = await coord.download("b", "a")
    assert parts[0].manifest.digest == built[winners[0]][0].digest
    assert b"".join(p.chunk.elements for p in parts[1:]) == b"".join(
        sets[winners[0]])
    assert len(coord.stored_blob_keys()) == blob_key_count(
        coord, built[winners[0]][0].chunk_count)


async def test_same_set_other_kind_or_epoch_is_separate(coord):
    """One set uploaded under two kinds is two independent uploads."""
    items = elements(0, 6)
    tomorrow = (dt.date.fromisoformat(EPOCH)
                + dt.timedelta(days=1)).isoformat()

    await coord.upload("a", items, kind=KIND)
    await coord.upload("a", items, kind=OTHER_KIND)
    await coord.upload("a", items, epoch=tomorrow)

    assert coord.stored_meta_keys("up/") == sorted([
        f"up/{EPOCH}/{KIND}/a", f"up/{EPOCH}/{OTHER_KIND}/a",
        f"up/{tomorrow}/{KIND}/a"])


def _manifest_defects():
    """(name, change to a valid manifest, status code expected)."""
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    closed = grpc.StatusCode.FAILED_PRECONDITION
    return [
        ("kind not enabled", {"kind": NOT_ENABLED}, invalid),
        ("unknown kind", {"kind": "nosuch.kind.c1"}, invalid),
        ("epoch without zero padding", {"epoch": "2024-1-01"}, invalid),
        ("epoch not a date", {"epoch": "2024-02-30"}, invalid),
        ("epoch in other digits", {"epoch": "٢٠٢٤-٠١-٠١"}, invalid),
        ("epoch with time", {"epoch": EPOCH + "T00:00"}, invalid),
        ("epoch far in the past", {"epoch": "2001-01-01"}, closed),
        ("epoch far in the future", {"epoch": "2999-01-01"}, closed),
        ("wrong version", {"version": PROTOCOL_VERSION + 1}, invalid),
        ("wrong suite", {"suite": "CS99"}, invalid),
        ("chunk_count off by one", {"chunk_count": 2}, invalid),
        ("short digest", {"digest": bytes(31)}, invalid),
    ]


@pytest.mark.parametrize(
    "change,expected",
    [pytest.param(c, e, id=n) for n, c, e in _manifest_defects()])
async def test_defective_upload_manifest_is_refused(coord, change, expected):
    """Each defect in an otherwise valid upload is refused, nothing kept."""
    fields = {k: v for k, v in change.items() if k in ("epoch", "kind")}
    manifest, chunks = upload_parts(coord, "a", elements(0, 8), **fields)
    for name, value in change.items():
        setattr(manifest, name, value)

    code = await rpc_code(coord.stub("a").Upload(
        stream(*up_parts(manifest, enumerate(chunks))),
        timeout=CALL_TIMEOUT))

    assert code == expected
    assert coord.stored_blob_keys() == []
    assert coord.stored_meta_keys("") == []


# -- DownloadUpload --------------------------------------------------------


async def test_download_returns_exact_bytes_owner_from_certificate(coord):
    """A peer gets the bytes back; owner is the uploader's certificate."""
    items = elements(0, 33)
    manifest, chunks = upload_parts(coord, "a", items)
    manifest.owner = "b"                 # a tries to pass as b

    async with coord.client("a") as client:
        await client.upload(manifest, chunks)
    parts = await coord.download("b", "a")
    own = await coord.round("b")

    head = parts[0].manifest
    assert head.owner == "a"
    assert head.digest == manifest.digest and head.count == 33
    assert head.chunk_count == 1 and all(
        p.HasField("chunk") for p in parts[1:])
    assert [p.chunk.index for p in parts[1:]] == [0]
    assert b"".join(p.chunk.elements for p in parts[1:]) == b"".join(items)
    assert not any(k.HasField("own_upload") for k in own.kinds)
    with pytest.raises(CoordinatorError) as caught:
        await coord.download("c", "b")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND


async def test_download_of_own_or_unknown_owner_is_refused(coord):
    """Only a peer's upload can be downloaded; none yet is NOT_FOUND."""
    await coord.upload("a", elements(0, 3))

    for owner, code in (("a", grpc.StatusCode.INVALID_ARGUMENT),
                        ("mallory", grpc.StatusCode.INVALID_ARGUMENT),
                        ("", grpc.StatusCode.INVALID_ARGUMENT),
                        ("b", grpc.StatusCode.NOT_FOUND)):
        got, sent = await stream_code(coord.stub("a").DownloadUpload(
            pb.DownloadRequest(epoch=EPOCH, kind=KIND, owner=owner),
            timeout=CALL_TIMEOUT))
        assert (got, sent) == (code, []), owner


async def test_download_bad_kind_or_epoch_is_refused(coord):
    """DownloadUpload checks the kind and the epoch's format."""
    await coord.upload("a", elements(0, 3))

    for epoch, kind in ((EPOCH, NOT_ENABLED), ("2024-13-01", KIND)):
        got, sent = await stream_code(coord.stub("b").DownloadUpload(
            pb.DownloadRequest(epoch=epoch, kind=kind, owner="a"),
            timeout=CALL_TIMEOUT))
        assert (got, sent) == (grpc.StatusCode.INVALID_ARGUMENT, [])


async def test_large_upload_streams_in_chunks_under_limit(coord):
    """3 × 32768 + 5 elements: 4 chunks, each under 4 MiB, round-trip."""
    items = pool(BIG_COUNT)
    manifest, chunks = upload_parts(coord, "a", items)
    assert manifest.chunk_count == 4 == len(chunks)
    assert all(pb.UploadPart(chunk=pb.UploadChunk(index=i, elements=c))
               .ByteSize() < GRPC_LIMIT for i, c in enumerate(chunks))

    async with coord.client("a") as client:
        receipt = await client.upload(manifest, chunks)
    parts = await coord.download("c", "a")

    assert not receipt.already_present
    assert parts[0].manifest.count == BIG_COUNT
    got = [p.chunk for p in parts[1:]]
    assert [c.index for c in got] == [0, 1, 2, 3]
    assert [len(c.elements) // ELEMENT_BYTES for c in got] == [
        ELEMENTS_PER_CHUNK] * 3 + [5]
    assert all(p.ByteSize() < GRPC_LIMIT for p in parts)
    assert b"".join(c.elements for c in got) == b"".join(items)


# -- SubmitEvaluation / FetchEvaluation -----------------------------------


async def test_evaluation_with_wrong_upload_digest_is_refused(coord):
    """An evaluation naming a digest other than the stored upload's."""
    up_b = await coord.upload("b", elements(0, 6))
    manifest, chunks = evaluation_parts(
        coord, "a", "b", up_b, random_tokens(6), upload_digest=bytes(32))

    with pytest.raises(CoordinatorError) as caught:
        async with coord.client("a") as client:
            await client.submit_evaluation(manifest, chunks)

    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert coord.stored_meta_keys("ev/") == []
    assert len(coord.stored_blob_keys()) == blob_key_count(coord, 1)


async def test_evaluation_before_owner_uploads_is_refused(coord):
    """No upload by the owner: nothing to evaluate."""
    ghost = pb.UploadManifest(epoch=EPOCH, kind=KIND, count=3,
                              digest=bytes(32))
    manifest, chunks = evaluation_parts(coord, "a", "b", ghost,
                                        random_tokens(3))

    code = await rpc_code(coord.stub("a").SubmitEvaluation(
        stream(*ev_parts(manifest, chunks)), timeout=CALL_TIMEOUT))

    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert coord.stored_blob_keys() == []


async def test_evaluation_count_mismatch_is_refused(coord):
    """A token count other than the upload's count is refused."""
    up_b = await coord.upload("b", elements(0, 6))
    manifest, chunks = evaluation_parts(coord, "a", "b", up_b,
                                        random_tokens(5))

    code = await rpc_code(coord.stub("a").SubmitEvaluation(
        stream(*ev_parts(manifest, chunks)), timeout=CALL_TIMEOUT))

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert coord.stored_meta_keys("ev/") == []


async def test_evaluation_of_own_upload_is_refused(coord):
    """A lab cannot evaluate itself (owner must be a peer)."""
    up_a = await coord.upload("a", elements(0, 6))
    manifest, chunks = evaluation_parts(coord, "b", "a", up_a,
                                        random_tokens(6))

    code = await rpc_code(coord.stub("a").SubmitEvaluation(
        stream(*ev_parts(manifest, chunks)), timeout=CALL_TIMEOUT))

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert coord.stored_meta_keys("ev/") == []


async def test_evaluation_with_tampered_chunk_is_refused(coord):
    """A ciphertext chunk that does not match the digest is refused."""
    up_b = await coord.upload("b", elements(0, 6))
    manifest, chunks = evaluation_parts(coord, "a", "b", up_b,
                                        random_tokens(6))
    tampered = bytearray(chunks[0])
    tampered[-1] ^= 1

    code = await rpc_code(coord.stub("a").SubmitEvaluation(
        stream(*ev_parts(manifest, [bytes(tampered)])),
        timeout=CALL_TIMEOUT))
    truncated = await rpc_code(coord.stub("a").SubmitEvaluation(
        stream(*ev_parts(manifest, [])), timeout=CALL_TIMEOUT))

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert truncated == grpc.StatusCode.INVALID_ARGUMENT
    assert coord.stored_meta_keys("ev/") == []


def _peer(status: pb.RoundStatus, peer: str, kind: str = KIND
          ) -> pb.PeerStatus:
    ks = next(k for k in status.kinds if k.kind == kind)
    return next(p for p in ks.peers if p.peer == peer)


async def fetch(coord: Coordinator, lab: str, evaluator: str
                ) -> tuple[grpc.StatusCode, list[pb.EvaluationPart]]:
    return await stream_code(coord.stub(lab).FetchEvaluation(
        pb.FetchRequest(epoch=EPOCH, kind=KIND, evaluator=evaluator),
        timeout=CALL_TIMEOUT))


def open_list(coord: Coordinator, owner: str, evaluator: str,
              upload: pb.UploadManifest,
              parts: list[pb.EvaluationPart]) -> list[bytes]:
    head = parts[0].manifest
    context = list_context(
        consortium_id=coord.consortium_id, epoch=EPOCH, kind=KIND,
        evaluator=evaluator, owner=owner, upload_digest=upload.digest,
        count=upload.count)
    opener = TokenListOpener(coord.labs[owner].sealing_key, context,
                             head.sealed_key, head.stream_header,
                             count=upload.count)
    tokens = []
    for part in parts[1:]:
        tokens += opener.open_chunk(part.chunk.ciphertext)
    opener.finish()
    return tokens


async def test_escrow_releases_only_when_both_sides_submitted(coord):
    """Escrow holds a→b until b→a arrives; then both open their lists."""
    up_a = await coord.upload("a", elements(0, 7))
    up_b = await coord.upload("b", elements(7, 18))
    tokens_ab = random_tokens(11)     # a's evaluation of b's upload
    tokens_ba = random_tokens(7)      # b's evaluation of a's upload

    first = await coord.evaluate("a", "b", up_b, tokens_ab)
    b_early = await fetch(coord, "b", "a")
    a_early = await fetch(coord, "a", "b")
    view_a, view_b = await coord.round("a"), await coord.round("b")

    assert not first.already_present
    assert b_early == (grpc.StatusCode.FAILED_PRECONDITION, [])
    assert a_early == (grpc.StatusCode.FAILED_PRECONDITION, [])
    pa, pb_ = _peer(view_a, "b"), _peer(view_b, "a")
    assert (pa.evaluated_by_me, pa.evaluated_by_peer, pa.released) == (
        True, False, False)
    assert (pb_.evaluated_by_me, pb_.evaluated_by_peer, pb_.released) == (
        False, True, False)

    await coord.evaluate("b", "a", up_a, tokens_ba)
    code_b, parts_b = await fetch(coord, "b", "a")
    code_a, parts_a = await fetch(coord, "a", "b")
    view_a, view_b = await coord.round("a"), await coord.round("b")

    assert (code_a, code_b) == (grpc.StatusCode.OK, grpc.StatusCode.OK)
    assert _peer(view_a, "b").released and _peer(view_b, "a").released
    assert parts_b[0].manifest.evaluator == "a"
    assert parts_b[0].manifest.owner == "b"
    assert parts_a[0].manifest.evaluator == "b"
    assert open_list(coord, "b", "a", up_b, parts_b) == tokens_ab
    assert open_list(coord, "a", "b", up_a, parts_a) == tokens_ba


async def test_third_lab_can_never_fetch_a_pairs_lists(coord):
    """Lab c naming a or b as evaluator gets nothing of the a–b lists."""
    up_a = await coord.upload("a", elements(0, 7))
    up_b = await coord.upload("b", elements(7, 18))
    await coord.upload("c", elements(18, 20))
    await coord.evaluate("a", "b", up_b, random_tokens(11))
    await coord.evaluate("b", "a", up_a, random_tokens(7))
    assert (await fetch(coord, "b", "a"))[0] == grpc.StatusCode.OK

    for evaluator, code in (("a", grpc.StatusCode.FAILED_PRECONDITION),
                            ("b", grpc.StatusCode.FAILED_PRECONDITION),
                            ("c", grpc.StatusCode.INVALID_ARGUMENT),
                            ("mallory", grpc.StatusCode.INVALID_ARGUMENT)):
        assert await fetch(coord, "c", evaluator) == (code, []), evaluator
    view_c = await coord.round("c")
    for peer in ("a", "b"):
        status = _peer(view_c, peer)
        assert not (status.evaluated_by_me or status.evaluated_by_peer
                    or status.released)


async def test_evaluator_field_is_taken_from_certificate(coord):
    """A manifest naming another evaluator is stored under the caller."""
    up_a = await coord.upload("a", elements(0, 4))
    up_c = await coord.upload("c", elements(4, 9))
    # c builds a list claiming to be b's evaluation of a's upload
    manifest, chunks = evaluation_parts(coord, "c", "a", up_a,
                                        random_tokens(4))
    manifest.evaluator = "b"

    async with coord.client("c") as client:
        await client.submit_evaluation(manifest, chunks)
    await coord.evaluate("a", "c", up_c, random_tokens(5))

    assert coord.stored_meta_keys("ev/") == sorted([
        f"ev/{EPOCH}/{KIND}/c/a", f"ev/{EPOCH}/{KIND}/a/c"])
    view_a = await coord.round("a")
    assert not _peer(view_a, "b").evaluated_by_peer
    assert _peer(view_a, "c").released
    code, parts = await fetch(coord, "a", "c")
    assert code == grpc.StatusCode.OK
    assert parts[0].manifest.evaluator == "c"


async def test_second_evaluation_keeps_the_first(coord):
    """Resubmitting a pair's evaluation never replaces the stored list."""
    up_a = await coord.upload("a", elements(0, 5))
    up_b = await coord.upload("b", elements(5, 9))
    tokens = random_tokens(4)
    first = await coord.evaluate("a", "b", up_b, tokens)
    await coord.evaluate("b", "a", up_a, random_tokens(5))

    second = None
    try:
        second = await coord.evaluate("a", "b", up_b, random_tokens(4))
    except CoordinatorError as exc:
        assert exc.code == grpc.StatusCode.FAILED_PRECONDITION
    code, parts = await fetch(coord, "b", "a")

    if second is not None:
        assert second.already_present and second.digest == first.digest
    assert code == grpc.StatusCode.OK
    assert parts[0].manifest.digest == first.digest
    assert open_list(coord, "b", "a", up_b, parts) == tokens


async def test_cancelled_evaluation_leaves_nothing_stored(coord):
    """An evaluator that goes away mid-stream leaves no chunk behind."""
    count = 2 * 32768 + 1             # two sealed chunks
    up_b = await coord.upload("b", elements(0, count))
    manifest, chunks = evaluation_parts(coord, "a", "b", up_b,
                                        random_tokens(count))
    assert len(chunks) == 2

    def start_call():
        return coord.stub("a").SubmitEvaluation(
            stream(*ev_parts(manifest, chunks[:1]),
                   hold_open=asyncio.Event()),
            timeout=CALL_TIMEOUT)

    left = await cancel_midway(coord, start_call)

    assert left == [], "a cancelled evaluation left chunks in the store"
    assert coord.stored_meta_keys("ev/") == []
    assert len(coord.stored_blob_keys()) == blob_key_count(
        coord, up_b.chunk_count)


async def test_empty_sets_round_trip_through_escrow(coord):
    """Empty uploads: evaluations of zero tokens are held and released."""
    up_a = await coord.upload("a", [])
    up_b = await coord.upload("b", [])
    await coord.evaluate("a", "b", up_b, [])
    await coord.evaluate("b", "a", up_a, [])

    parts = await coord.download("a", "b")
    code, sealed = await fetch(coord, "a", "b")

    assert [p.manifest.count for p in parts] == [0]
    assert code == grpc.StatusCode.OK
    assert open_list(coord, "a", "b", up_a, sealed) == []


def _evaluation_defects():
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    return [
        ("wrong version", {"version": 7}, invalid),
        ("wrong suite", {"suite": "CS02"}, invalid),
        ("kind not enabled", {"kind": NOT_ENABLED}, invalid),
        ("malformed epoch", {"epoch": "yesterday"}, invalid),
        ("epoch far in the past", {"epoch": "2001-01-01"},
         grpc.StatusCode.FAILED_PRECONDITION),
        ("owner not a member", {"owner": "mallory"}, invalid),
        ("chunk_count wrong", {"chunk_count": 2}, invalid),
        ("short sealed key", {"sealed_key": bytes(79)}, invalid),
        ("short stream header", {"stream_header": bytes(23)}, invalid),
        ("short digest", {"digest": bytes(31)}, invalid),
        ("wrong digest", {"digest": bytes(32)}, invalid),
    ]


@pytest.mark.parametrize(
    "change,expected",
    [pytest.param(c, e, id=n) for n, c, e in _evaluation_defects()])
async def test_defective_evaluation_manifest_is_refused(coord, change,
                                                        expected):
    """Each defect in an otherwise valid evaluation is refused."""
    up_b = await coord.upload("b", elements(0, 6))
    blobs = coord.stored_blob_keys()
    manifest, chunks = evaluation_parts(coord, "a", "b", up_b,
                                        random_tokens(6))
    for name, value in change.items():
        setattr(manifest, name, value)

    code = await rpc_code(coord.stub("a").SubmitEvaluation(
        stream(*ev_parts(manifest, chunks)), timeout=CALL_TIMEOUT))

    assert code == expected
    assert coord.stored_meta_keys("ev/") == []
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

    assert head.manifest.count == len(items)
    assert b"".join(p.chunk.elements for p in rest) == b"".join(items)
    assert coord.task.result() is None
    assert coord.closed == [True]
    if coord.backend == "sqlite":
        wal = coord.sqlite_path().with_name(coord.sqlite_path().name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
    with pytest.raises(CoordinatorError) as caught:
        await coord.round("a")
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
