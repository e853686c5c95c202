"""The coordinator over real gRPC and mutual TLS on loopback, for tests.

``make_coord`` starts ``labmatch.server.app.serve`` in-process on
127.0.0.1:0 for a fresh consortium (labs a, b and c by default), once per
store backend: SQLite, and Redis through the ``redis_url`` fixture.
``coord`` is one such coordinator with the defaults.

The :class:`Coordinator` object also carries a small honest client kit:
it signs key commitments, upload manifests and evaluation manifests with
a lab's pinned Ed25519 key (``labmatch.wire``), computes chunk digests and
Merkle roots, and seals token lists exactly as ``client/sync.py`` does.
Every piece takes overrides, so a test can craft the malicious variant of
any message. Store helpers read what the coordinator stored, around its
back, per backend.

Test modules import the kit with ``from tests.server.conftest import ...``.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from labmatch import wire
from labmatch._proto import coordinator_pb2 as pb
from labmatch._proto import coordinator_pb2_grpc as pb_grpc
from labmatch.client.consortium import LabCredentials, init_consortium, \
    load_lab
from labmatch.client.inputs import read_inputs
from labmatch.client.progress import Progress
from labmatch.client.state import LabState
from labmatch.client.sync import SyncEngine, group_items
from labmatch.client.transport import CoordinatorClient
from labmatch.psi.consortium import Consortium
from labmatch.psi.group import ELEMENT_BYTES, random_element
from labmatch.psi.identifiers import match_kinds
from labmatch.psi.manifest import split_elements
from labmatch.psi.merkle import merkle_root
from labmatch.psi.sealing import TokenListOpener, list_context, seal_tokens
from labmatch.psi.tokens import TOKEN_BYTES
from labmatch.server import app as server_app
from labmatch.server.app import ServerConfig, serve

LABS = ("a", "b", "c")
# "wallet" is a real input kind left out on purpose: its match kind is
# known to the code but not enabled in these consortia.
INPUT_KINDS = ("ip", "domain")
ENABLED = match_kinds(INPUT_KINDS)
NOT_ENABLED = match_kinds(["wallet"])[0]
KIND = "ip4.addr.c1"
OTHER_KIND = "domain.name.c1"
EPOCH = dt.datetime.now(dt.UTC).date().isoformat()
TOMORROW = (dt.date.fromisoformat(EPOCH) + dt.timedelta(days=1)).isoformat()
CALL_TIMEOUT = 10.0
COORDINATOR_IN_FILE = "127.0.0.1:50999"   # overridden: tests listen on :0

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


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def random_tokens(count: int) -> list[bytes]:
    return [secrets.token_bytes(TOKEN_BYTES) for _ in range(count)]


def new_key() -> str:
    """A fresh idempotency key."""
    return secrets.token_hex(16)


def _set(message, name: str, value) -> None:
    """Set a field, repeated fields included, on a protobuf message."""
    target = getattr(message, name)
    if hasattr(target, "extend") and not isinstance(target, (bytes, str)):
        message.ClearField(name)
        getattr(message, name).extend(value)
    else:
        setattr(message, name, value)


# -- raw calls ------------------------------------------------------------


async def stream(*parts, hold_open: asyncio.Event | None = None
                 ) -> AsyncIterator:
    """Yield ``parts``; then, with ``hold_open``, keep the stream open."""
    for part in parts:
        yield part
    if hold_open is not None:
        await hold_open.wait()


def up_parts(signed: pb.SignedMessage | None,
             chunks: Iterable[tuple[int, bytes]], key: str | None = None
             ) -> list[pb.UploadPart]:
    out = [] if signed is None else [pb.UploadPart(start=pb.UploadStart(
        manifest=signed, idempotency_key=key or new_key()))]
    out += [pb.UploadPart(chunk=pb.Chunk(index=i, data=data))
            for i, data in chunks]
    return out


def ev_parts(signed: pb.SignedMessage | None, chunks: Iterable[bytes],
             key: str | None = None) -> list[pb.EvaluationPart]:
    out = [] if signed is None else [pb.EvaluationPart(
        start=pb.EvaluationStart(manifest=signed,
                                 idempotency_key=key or new_key()))]
    out += [pb.EvaluationPart(chunk=pb.Chunk(index=i, data=data))
            for i, data in enumerate(chunks)]
    return out


async def rpc_error(awaitable) -> tuple[grpc.StatusCode, str]:
    """The status a call ends with (OK if it succeeds), and its details."""
    try:
        await awaitable
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


async def rpc_code(awaitable) -> grpc.StatusCode:
    return (await rpc_error(awaitable))[0]


async def stream_code(call) -> tuple[grpc.StatusCode, list]:
    """The status a server-streaming call ends with, and what it sent."""
    received = []
    try:
        async for part in call:
            received.append(part)
    except grpc.aio.AioRpcError as exc:
        return exc.code(), received
    return grpc.StatusCode.OK, received


def peer_status(status: pb.RoundStatus, peer: str, kind: str = KIND
                ) -> pb.PeerStatus:
    ks = next(k for k in status.kinds if k.kind == kind)
    return next(p for p in ks.peers if p.peer == peer)


def kind_status(status: pb.RoundStatus, kind: str = KIND) -> pb.KindStatus:
    return next(k for k in status.kinds if k.kind == kind)


# -- the coordinator under test ------------------------------------------


@dataclass
class Coordinator:
    """A running coordinator, its consortium and ways to reach it."""

    root: Path
    address: str
    backend: str
    store_url: str
    consortium: Consortium
    labs: dict[str, LabCredentials]
    stop: asyncio.Event
    task: asyncio.Task
    closed: list[bool] = field(default_factory=list)
    commits: dict[tuple, pb.SignedMessage] = field(default_factory=dict)
    _channels: list[grpc.aio.Channel] = field(default_factory=list)

    @property
    def consortium_id(self) -> str:
        return self.consortium.consortium_id

    # -- channels ---------------------------------------------------------

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

    def lab_channel(self, lab: str) -> grpc.aio.Channel:
        creds = self.labs[lab]
        return self.channel_with(key=creds.tls_key, cert=creds.tls_cert)

    def stub(self, lab: str) -> pb_grpc.CoordinatorStub:
        return pb_grpc.CoordinatorStub(self.lab_channel(lab))

    # -- the honest client kit: signed statements ---------------------

    def header(self, lab: str, *, kind: str = KIND, epoch: str = EPOCH,
               recipient: str = "", changes: dict | None = None
               ) -> pb.Header:
        """A valid header from ``lab``; ``changes`` override fields."""
        h = wire.new_header(consortium_id=self.consortium_id, sender=lab,
                            epoch=epoch, kind=kind, recipient=recipient)
        for name, value in (changes or {}).items():
            setattr(h, name, value)
        return h

    def sign(self, lab: str, message) -> pb.SignedMessage:
        return wire.sign_message(self.labs[lab].signing_key, message)

    def key_commit(self, lab: str, *, kind: str = KIND, epoch: str = EPOCH,
                   public_key: bytes | None = None,
                   header: dict | None = None) -> pb.SignedMessage:
        m = pb.KeyCommit(
            header=self.header(lab, kind=kind, epoch=epoch, changes=header),
            public_key=public_key or random_element())
        return self.sign(lab, m)

    def upload_manifest(self, lab: str, items: Sequence[bytes] = (), *,
                        kind: str = KIND, epoch: str = EPOCH,
                        chunks: list[bytes] | None = None,
                        commit: pb.SignedMessage | None = None,
                        header: dict | None = None,
                        signer: str | None = None, **fields
                        ) -> tuple[pb.SignedMessage, list[bytes]]:
        """A signed manifest over ``items`` (or raw ``chunks``) citing the
        lab's published key commitment; ``fields`` override the manifest,
        ``header`` the header, ``signer`` whose key signs it."""
        if chunks is None:
            chunks = split_elements(list(items))
        digests = [sha256(c) for c in chunks]
        if commit is None:
            commit = self.commits.get((lab, epoch, kind))
        m = pb.UploadManifest(
            header=self.header(lab, kind=kind, epoch=epoch, changes=header),
            count=sum(len(c) for c in chunks) // ELEMENT_BYTES,
            chunk_count=len(chunks), chunk_digests=digests,
            merkle_root=merkle_root(digests),
            key_commit_digest=(bytes(32) if commit is None
                               else wire.payload_digest(commit)))
        for name, value in fields.items():
            _set(m, name, value)
        return self.sign(signer or lab, m), chunks

    def evaluation_manifest(self, evaluator: str, owner: str,
                            upload: pb.SignedMessage,
                            tokens: list[bytes] | None = None, *,
                            header: dict | None = None,
                            upload_digest: bytes | None = None,
                            count: int | None = None, **fields
                            ) -> tuple[pb.SignedMessage, list[bytes]]:
        """``tokens`` (random ones by default) sealed to ``owner`` over
        its ``upload``, exactly as client/sync.py seals them."""
        um = pb.UploadManifest.FromString(upload.payload)
        kind, epoch = um.header.kind, um.header.epoch
        tokens = random_tokens(um.count) if tokens is None else tokens
        upload_digest = (wire.payload_digest(upload)
                         if upload_digest is None else upload_digest)
        count = len(tokens) if count is None else count
        context = list_context(
            consortium_id=self.consortium_id, epoch=epoch, kind=kind,
            evaluator=evaluator, owner=owner, upload_digest=upload_digest,
            count=count)
        sealed = seal_tokens(self.consortium.labs[owner].sealing_key,
                             context, tokens)
        chunks = list(sealed.chunks)
        digests = [sha256(c) for c in chunks]
        m = pb.EvaluationManifest(
            header=self.header(evaluator, kind=kind, epoch=epoch,
                               recipient=owner, changes=header),
            upload_digest=upload_digest, count=count,
            chunk_count=sealed.chunk_count, chunk_digests=digests,
            merkle_root=merkle_root(digests), sealed_key=sealed.sealed_key,
            stream_header=sealed.header)
        for name, value in fields.items():
            _set(m, name, value)
        return self.sign(evaluator, m), chunks

    def open_list(self, owner: str, evaluator: str,
                  upload: pb.SignedMessage,
                  parts: list[pb.EvaluationPart]) -> list[bytes]:
        """What ``owner`` reads in a fetched list (raises if it fails)."""
        um = pb.UploadManifest.FromString(upload.payload)
        head = pb.EvaluationManifest.FromString(
            parts[0].start.manifest.payload)
        context = list_context(
            consortium_id=self.consortium_id, epoch=um.header.epoch,
            kind=um.header.kind, evaluator=evaluator, owner=owner,
            upload_digest=wire.payload_digest(upload), count=um.count)
        opener = TokenListOpener(self.labs[owner].sealing_key, context,
                                 head.sealed_key, head.stream_header,
                                 count=um.count)
        tokens = []
        for part in parts[1:]:
            tokens += opener.open_chunk(part.chunk.data)
        opener.finish()
        return tokens

    # -- the honest client kit: calls -----------------------------------

    async def publish(self, lab: str, signed: pb.SignedMessage,
                      key: str | None = None) -> pb.PublishReceipt:
        async with self.client(lab) as client:
            return await client.publish_key_commit(signed, key or new_key())

    async def commit(self, lab: str, *, kind: str = KIND,
                     epoch: str = EPOCH) -> pb.SignedMessage:
        """The lab's key commitment for (epoch, kind), published once."""
        have = self.commits.get((lab, epoch, kind))
        if have is None:
            have = self.key_commit(lab, kind=kind, epoch=epoch)
            await self.publish(lab, have)
            self.commits[(lab, epoch, kind)] = have
        return have

    async def send_upload(self, lab: str, signed: pb.SignedMessage,
                          chunks: Iterable[tuple[int, bytes]],
                          key: str | None = None) -> pb.UploadReceipt:
        async with self.client(lab) as client:
            return await client.upload(signed, key or new_key(), chunks,
                                       "test upload")

    async def upload(self, lab: str, items: Sequence[bytes], *,
                     kind: str = KIND, epoch: str = EPOCH
                     ) -> pb.SignedMessage:
        """Commit (once) and upload ``items``; the signed manifest."""
        await self.commit(lab, kind=kind, epoch=epoch)
        signed, chunks = self.upload_manifest(lab, items, kind=kind,
                                              epoch=epoch)
        receipt = await self.send_upload(lab, signed, enumerate(chunks))
        assert receipt.complete and not receipt.missing
        assert receipt.digest == wire.payload_digest(signed)
        return signed

    async def submit(self, evaluator: str, signed: pb.SignedMessage,
                     chunks: list[bytes], key: str | None = None
                     ) -> pb.EvaluationReceipt:
        async with self.client(evaluator) as client:
            return await client.submit_evaluation(
                signed, key or new_key(), chunks, "test evaluation")

    async def evaluate(self, evaluator: str, owner: str,
                       upload: pb.SignedMessage,
                       tokens: list[bytes] | None = None
                       ) -> pb.EvaluationReceipt:
        signed, chunks = self.evaluation_manifest(evaluator, owner, upload,
                                                  tokens)
        return await self.submit(evaluator, signed, chunks)

    async def round(self, lab: str, epoch: str = EPOCH) -> pb.RoundStatus:
        async with self.client(lab) as client:
            return await client.round(epoch)

    async def download(self, lab: str, owner: str, kind: str = KIND
                       ) -> list[pb.DownloadPart]:
        async with self.client(lab) as client:
            return [p async for p in client.download_upload(EPOCH, kind,
                                                            owner)]

    async def fetch(self, lab: str, evaluator: str, kind: str = KIND
                    ) -> tuple[grpc.StatusCode, list[pb.EvaluationPart]]:
        return await stream_code(self.stub(lab).FetchEvaluation(
            pb.FetchRequest(epoch=EPOCH, kind=kind, evaluator=evaluator),
            timeout=CALL_TIMEOUT))

    # -- what the store holds, read around the coordinator's back ------

    def sqlite_path(self) -> Path:
        return Path(self.store_url[len("sqlite:"):])

    def _redis(self):
        import redis

        return redis.Redis.from_url(self.store_url)

    def stored_blob_keys(self) -> list[str]:
        """Every chunk the store holds, as backend-specific names."""
        if self.backend == "sqlite":
            conn = sqlite3.connect(self.sqlite_path())
            try:
                rows = conn.execute(
                    "SELECT blob_id, idx FROM chunks").fetchall()
            finally:
                conn.close()
            return sorted(f"{blob}:{idx}" for blob, idx in rows)
        client = self._redis()
        try:
            pattern = f"labmatch:{self.consortium_id}:blob:*"
            return sorted(k.decode() for k in client.scan_iter(pattern))
        finally:
            client.close()

    def stored_meta_keys(self, prefix: str) -> list[str]:
        if self.backend == "sqlite":
            conn = sqlite3.connect(self.sqlite_path())
            try:
                rows = conn.execute(
                    "SELECT key FROM meta WHERE substr(key, 1, ?) = ?",
                    (len(prefix), prefix)).fetchall()
            finally:
                conn.close()
            return sorted(k for (k,) in rows)
        client = self._redis()
        try:
            head = f"labmatch:{self.consortium_id}:meta:"
            return sorted(k.decode()[len(head):]
                          for k in client.scan_iter(head + prefix + "*"))
        finally:
            client.close()

    def blob_key_count(self, *chunk_counts: int) -> int:
        """Backend names for blobs of these sizes (Redis adds an index)."""
        extra = 0 if self.backend == "sqlite" else 1
        return sum(n + extra for n in chunk_counts if n)

    def dump_store(self) -> bytes:
        """Every byte the store holds: the SQLite files (with -wal and
        -shm), or every Redis key and value in the test database."""
        if self.backend == "sqlite":
            path = self.sqlite_path()
            out = b""
            for suffix in ("", "-wal", "-shm", "-journal"):
                candidate = path.with_name(path.name + suffix)
                if candidate.exists():
                    out += candidate.read_bytes()
            return out
        client = self._redis()
        out = []
        try:
            for key in client.scan_iter("*"):
                out.append(key)
                kind = client.type(key).decode()
                if kind == "string":
                    out.append(client.get(key) or b"")
                elif kind == "set":
                    out.extend(client.smembers(key))
                elif kind == "hash":
                    for k, v in client.hgetall(key).items():
                        out += [k, v]
                elif kind == "list":
                    out.extend(client.lrange(key, 0, -1))
                elif kind == "zset":
                    out.extend(m for m, _ in client.zrange(
                        key, 0, -1, withscores=True))
                else:
                    raise AssertionError(f"unexpected Redis type {kind}")
        finally:
            client.close()
        return b"\n".join(out)

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.wait_for(asyncio.shield(self.task), 15)

    async def close_channels(self) -> None:
        for channel in self._channels:
            await channel.close()
        self._channels.clear()


_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}")


def haystack(dump: bytes) -> bytes:
    """``dump`` plus every base64 run in it decoded (stored records are
    JSON with base64 fields), so a search sees through that encoding."""
    decoded = []
    for run in _BASE64_RUN.findall(dump):
        with contextlib.suppress(ValueError):
            decoded.append(base64.b64decode(run + b"=" * (-len(run) % 4)))
    return dump + b"\n".join(decoded)


def write_consortium(root: Path, consortium: Consortium) -> None:
    """The definition into the coordinator's file and every lab's copy."""
    text = consortium.to_toml()
    (root / "consortium.toml").write_text(text, encoding="utf-8")
    for lab in consortium.labs:
        (root / "labs" / lab / "consortium.toml").write_text(
            text, encoding="utf-8")


@contextlib.asynccontextmanager
async def honest_engine(coord: Coordinator, lab: str, input_csv: Path, *,
                        consortium: Consortium | None = None,
                        epoch: str = EPOCH):
    """The real sync engine of ``lab`` (client/sync.py) on ``input_csv``."""
    creds = coord.labs[lab]
    consortium = consortium or creds.consortium
    rows, _ = read_inputs([input_csv], kinds=consortium.kinds)
    kinds = match_kinds(consortium.kinds)
    with LabState(creds.directory) as state:
        async with coord.client(lab) as client:
            engine = SyncEngine(
                lab=lab, consortium=consortium,
                signing_key=creds.signing_key,
                sealing_key=creds.sealing_key, state=state, client=client,
                epoch=epoch, progress=Progress(io.StringIO(), quiet=True),
                kinds=kinds)
            engine.prepare(group_items(rows, kinds))
            yield engine


def write_csv(path: Path, rows: Iterable[tuple[str, str]]) -> Path:
    lines = ["kind,value"] + [f"{kind},{value}" for kind, value in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- fixtures ---------------------------------------------------------------


@pytest.fixture(params=["sqlite",
                        pytest.param("redis", marks=pytest.mark.redis)])
def backend_url(request, tmp_path) -> tuple[str, str]:
    if request.param == "sqlite":
        return "sqlite", f"sqlite:{tmp_path / 'store' / 'state.sqlite3'}"
    return "redis", request.getfixturevalue("redis_url")


@pytest.fixture
async def make_coord(tmp_path, backend_url, monkeypatch):
    """Start coordinators: ``await make_coord(...)`` returns a running
    :class:`Coordinator`; all are stopped at the end of the test.

    ``budgets`` writes a ``[budgets]`` table into the consortium file and
    every lab's copy. ``again=coord`` starts another coordinator on the
    same directory and store (after ``coord.shutdown()``), optionally
    with ``consortium`` in place of the file's.
    """
    backend, store_url = backend_url
    started: list[Coordinator] = []
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

    async def start(*, labs: Sequence[str] = LABS,
                    kinds: Sequence[str] = INPUT_KINDS,
                    budgets: dict[str, int] | None = None,
                    again: Coordinator | None = None,
                    consortium: Consortium | None = None,
                    name: str = "c") -> Coordinator:
        if again is None:
            root = tmp_path / name
            defined = init_consortium(root, labs,
                                      coordinator=COORDINATOR_IN_FILE,
                                      kinds=kinds)
            if budgets:
                defined = dataclasses.replace(defined, budgets=budgets)
                write_consortium(root, defined)
        else:
            root = again.root
        creds = {n: load_lab(root / "labs" / n)
                 for n in sorted(p.name for p in (root / "labs").iterdir())}
        config = ServerConfig.from_files(root / "consortium.toml",
                                         listen="127.0.0.1:0",
                                         store_url=store_url)
        if consortium is not None:
            config = dataclasses.replace(config, consortium=consortium)
        bound: asyncio.Future[str] = \
            asyncio.get_running_loop().create_future()
        stop = asyncio.Event()
        task = asyncio.create_task(
            serve(config, ready=bound.set_result, stop=stop))
        done, _ = await asyncio.wait({bound, task}, timeout=10,
                                     return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
        assert bound in done, "the coordinator did not report its address"
        running = Coordinator(
            root=root, address=bound.result(), backend=backend,
            store_url=store_url, consortium=config.consortium, labs=creds,
            stop=stop, task=task, closed=closed,
            commits=dict(again.commits) if again else {})
        started.append(running)
        return running

    try:
        yield start
    finally:
        for running in started:
            await running.close_channels()
            if not running.task.done():
                await running.shutdown()


@pytest.fixture
async def coord(make_coord) -> Coordinator:
    """A coordinator serving a fresh consortium of labs a, b and c."""
    return await make_coord()
