"""The Coordinator service: relays blinded uploads and sealed token lists.

The coordinator checks shapes, sizes, digests and who may do what; it
cannot check group elements' meaning or open token lists (it holds no
key). Each refusal raises :class:`Refused`, which the servicer maps to a
gRPC status in one place (:func:`_refusals`); nothing is stored by a
refused call.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable

import grpc

from labmatch._proto import coordinator_pb2 as pb
from labmatch._proto import coordinator_pb2_grpc as pb_grpc
from labmatch.psi.consortium import Consortium
from labmatch.psi.group import ELEMENT_BYTES
from labmatch.psi.hashing import PROTOCOL_VERSION, SUITE
from labmatch.psi.identifiers import match_kinds
from labmatch.psi.manifest import (
    ELEMENTS_PER_CHUNK,
    MAX_UPLOAD_ELEMENTS,
    EvaluationDigest,
    UploadDigest,
)
from labmatch.psi.sealing import (
    MAX_SEALED_CHUNK_BYTES,
    chunk_count_for,
    list_context,
)

from . import epochs
from .identity import lab_from_auth_context
from .records import Record, Records
from .store.base import Store

__all__ = ["Refused", "CoordinatorServicer"]

log = logging.getLogger("labmatch.server")

DIGEST_BYTES = 32
SEALED_KEY_BYTES = 80      # 32-byte stream key in a libsodium sealed box
STREAM_HEADER_BYTES = 24
MAX_CHUNK_BYTES = ELEMENTS_PER_CHUNK * ELEMENT_BYTES


class Refused(Exception):
    """A call the coordinator turns down, with the status to send."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@contextlib.asynccontextmanager
async def _refusals(context: grpc.aio.ServicerContext, method: str,
                    lab: Callable[[], str]):
    """Map refusals to status codes and log one line per call."""
    started = time.monotonic()
    status = "OK"
    try:
        yield
    except Refused as exc:
        status = exc.code.name
        await context.abort(exc.code, str(exc))
    except Exception:
        status = "INTERNAL"
        log.exception("rpc.failed method=%s", method)
        await context.abort(grpc.StatusCode.INTERNAL,
                            "internal error in the coordinator")
    finally:
        log.info("rpc method=%s lab=%s status=%s ms=%d", method, lab(),
                 status, (time.monotonic() - started) * 1000)


class CoordinatorServicer(pb_grpc.CoordinatorServicer):
    def __init__(self, consortium: Consortium, store: Store, *,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self._consortium = consortium
        self._store = store
        self._records = Records(store)
        self._kinds = set(match_kinds(consortium.kinds))
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    # -- checks shared by every call ------------------------------------

    def _caller(self, context: grpc.aio.ServicerContext) -> str:
        lab = lab_from_auth_context(context.auth_context())
        if lab is None or lab not in self._consortium.labs:
            raise Refused(grpc.StatusCode.PERMISSION_DENIED,
                          "caller's certificate names no member lab")
        return lab

    def _epoch_kind(self, epoch: str, kind: str | None) -> None:
        try:
            epochs.parse_epoch(epoch)
        except ValueError as exc:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        if kind is not None and kind not in self._kinds:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                          f"kind {kind!r} is not enabled in this consortium")

    def _open_window(self, epoch: str) -> None:
        if not epochs.is_open(epoch, self._clock()):
            raise Refused(grpc.StatusCode.FAILED_PRECONDITION,
                          f"epoch {epoch} is not open for work now")

    def _peer(self, caller: str, name: str) -> str:
        if name == caller or name not in self._consortium.labs:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                          f"{name!r} is not a peer of {caller}")
        return name

    @staticmethod
    def _protocol(manifest) -> None:
        if manifest.version != PROTOCOL_VERSION or manifest.suite != SUITE:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                          f"unsupported protocol version or suite "
                          f"(this coordinator speaks v{PROTOCOL_VERSION} "
                          f"{SUITE})")

    def _ttl(self, epoch: str) -> int:
        return epochs.ttl_seconds(epoch, self._clock())

    async def _released(self, epoch: str, kind: str, a: str, b: str) -> bool:
        """Escrow: both sides' lists are held and the window is open."""
        if not epochs.is_open(epoch, self._clock()):
            return False
        mine = await self._records.evaluation(epoch, kind, a, b)
        theirs = await self._records.evaluation(epoch, kind, b, a)

        return mine is not None and theirs is not None

    # -- GetRound -------------------------------------------------------

    async def GetRound(self, request, context):
        caller = ""
        async with _refusals(context, "GetRound", lambda: caller):
            caller = self._caller(context)
            self._epoch_kind(request.epoch, None)
            status = pb.RoundStatus(epoch=request.epoch, lab=caller)
            for kind in sorted(self._kinds):
                status.kinds.append(
                    await self._kind_status(request.epoch, kind, caller))
            return status

    async def _kind_status(self, epoch: str, kind: str,
                           caller: str) -> pb.KindStatus:
        out = pb.KindStatus(kind=kind)
        own = await self._records.upload(epoch, kind, caller)
        if own is not None:
            out.own_upload.CopyFrom(own.manifest)
        for peer in self._consortium.peers(caller):
            status = pb.PeerStatus(peer=peer)
            upload = await self._records.upload(epoch, kind, peer)
            if upload is not None:
                status.upload.CopyFrom(upload.manifest)
            mine = await self._records.evaluation(epoch, kind, caller, peer)
            theirs = await self._records.evaluation(epoch, kind, peer, caller)
            status.evaluated_by_me = mine is not None
            status.evaluated_by_peer = theirs is not None
            status.released = (
                mine is not None and theirs is not None
                and epochs.is_open(epoch, self._clock()))
            out.peers.append(status)

        return out

    # -- Upload ---------------------------------------------------------

    async def Upload(self, request_iterator, context):
        caller = ""
        async with _refusals(context, "Upload", lambda: caller):
            caller = self._caller(context)
            return await self._upload(caller, aiter(request_iterator))

    async def _upload(self, caller: str, parts: AsyncIterator) -> pb.UploadReceipt:
        first = await anext(parts, None)
        if first is None or not first.HasField("manifest"):
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                          "an upload starts with its manifest")
        m = pb.UploadManifest()
        m.CopyFrom(first.manifest)
        m.owner = caller
        self._check_upload_manifest(m)
        blob_id = secrets.token_hex(16)
        try:
            await self._receive_upload_chunks(m, blob_id, parts)
            existing = await self._records.add_upload(
                Record(m, blob_id), self._ttl(m.epoch))
        except BaseException:
            await self._store.blobs.delete_blob(blob_id)
            raise
        if existing is None:
            return pb.UploadReceipt(digest=m.digest)
        await self._store.blobs.delete_blob(blob_id)
        if existing.manifest.digest != m.digest:
            raise Refused(grpc.StatusCode.FAILED_PRECONDITION,
                          f"{caller} already uploaded a different set for "
                          f"{m.kind} in epoch {m.epoch}; changing the "
                          f"input within an epoch is not supported yet")

        return pb.UploadReceipt(digest=m.digest, already_present=True)

    def _check_upload_manifest(self, m: pb.UploadManifest) -> None:
        self._protocol(m)
        self._epoch_kind(m.epoch, m.kind)
        self._open_window(m.epoch)
        if m.count > MAX_UPLOAD_ELEMENTS:
            raise Refused(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"upload of {m.count} elements is over the limit "
                          f"of {MAX_UPLOAD_ELEMENTS}")
        if m.chunk_count != -(-m.count // ELEMENTS_PER_CHUNK):
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                          "chunk_count does not match count")
        if len(m.digest) != DIGEST_BYTES:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                          "upload digest must be 32 bytes")

    async def _receive_upload_chunks(self, m: pb.UploadManifest,
                                     blob_id: str,
                                     parts: AsyncIterator) -> None:
        digest = UploadDigest(
            consortium_id=self._consortium.consortium_id, epoch=m.epoch,
            kind=m.kind, owner=m.owner, count=m.count)
        received = 0
        index = 0
        async for part in parts:
            chunk = part.chunk
            if (not part.HasField("chunk") or chunk.index != index
                    or index >= m.chunk_count):
                raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                              f"upload chunk {index}: missing, out of order "
                              f"or beyond chunk_count")
            size = len(chunk.elements)
            if size == 0 or size > MAX_CHUNK_BYTES or size % ELEMENT_BYTES:
                raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                              f"upload chunk {index}: bad length")
            digest.update(chunk.elements)
            await self._store.blobs.put_chunk(
                blob_id, index, chunk.elements, self._ttl(m.epoch))
            received += size // ELEMENT_BYTES
            index += 1
        if index != m.chunk_count or received != m.count:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                          f"upload truncated: {index} of {m.chunk_count} "
                          f"chunks")
        if digest.digest() != m.digest:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                          "upload digest does not match its chunks")

    # -- DownloadUpload -------------------------------------------------

    async def DownloadUpload(self, request, context):
        caller = ""
        async with _refusals(context, "DownloadUpload", lambda: caller):
            caller = self._caller(context)
            self._epoch_kind(request.epoch, request.kind)
            owner = self._peer(caller, request.owner)
            record = await self._records.upload(
                request.epoch, request.kind, owner)
            if record is None:
                raise Refused(grpc.StatusCode.NOT_FOUND,
                              f"{owner} has no upload for {request.kind} in "
                              f"epoch {request.epoch}")
            yield pb.UploadPart(manifest=record.manifest)
            for index in range(record.manifest.chunk_count):
                data = await self._store.blobs.get_chunk(
                    record.blob_id, index)
                yield pb.UploadPart(
                    chunk=pb.UploadChunk(index=index, elements=data))

    # -- SubmitEvaluation -----------------------------------------------

    async def SubmitEvaluation(self, request_iterator, context):
        caller = ""
        async with _refusals(context, "SubmitEvaluation", lambda: caller):
            caller = self._caller(context)
            return await self._evaluation(caller, aiter(request_iterator))

    async def _evaluation(self, caller: str,
                          parts: AsyncIterator) -> pb.EvaluationReceipt:
        first = await anext(parts, None)
        if first is None or not first.HasField("manifest"):
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                          "an evaluation starts with its manifest")
        m = pb.EvaluationManifest()
        m.CopyFrom(first.manifest)
        m.evaluator = caller
        await self._check_evaluation_manifest(m)
        blob_id = secrets.token_hex(16)
        try:
            await self._receive_sealed_chunks(m, blob_id, parts)
            existing = await self._records.add_evaluation(
                Record(m, blob_id), self._ttl(m.epoch))
        except BaseException:
            await self._store.blobs.delete_blob(blob_id)
            raise
        if existing is not None:
            await self._store.blobs.delete_blob(blob_id)
            return pb.EvaluationReceipt(digest=existing.manifest.digest,
                                        already_present=True)

        return pb.EvaluationReceipt(digest=m.digest)

    async def _check_evaluation_manifest(self,
                                         m: pb.EvaluationManifest) -> None:
        self._protocol(m)
        self._epoch_kind(m.epoch, m.kind)
        self._open_window(m.epoch)
        self._peer(m.evaluator, m.owner)
        upload = await self._records.upload(m.epoch, m.kind, m.owner)
        if upload is None or upload.manifest.digest != m.upload_digest:
            raise Refused(grpc.StatusCode.FAILED_PRECONDITION,
                          f"the evaluated upload is not {m.owner}'s stored "
                          f"upload for {m.kind} in epoch {m.epoch}")
        if m.count != upload.manifest.count:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                          "token count differs from the upload's count")
        if m.chunk_count != chunk_count_for(m.count):
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                          "chunk_count does not match count")
        if (len(m.sealed_key) != SEALED_KEY_BYTES
                or len(m.stream_header) != STREAM_HEADER_BYTES
                or len(m.digest) != DIGEST_BYTES):
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                          "sealed key, stream header or digest has the "
                          "wrong length")

    async def _receive_sealed_chunks(self, m: pb.EvaluationManifest,
                                     blob_id: str,
                                     parts: AsyncIterator) -> None:
        context = list_context(
            consortium_id=self._consortium.consortium_id, epoch=m.epoch,
            kind=m.kind, evaluator=m.evaluator, owner=m.owner,
            upload_digest=m.upload_digest, count=m.count)
        digest = EvaluationDigest(context, m.sealed_key, m.stream_header)
        index = 0
        async for part in parts:
            chunk = part.chunk
            if (not part.HasField("chunk") or chunk.index != index
                    or index >= m.chunk_count
                    or len(chunk.ciphertext) > MAX_SEALED_CHUNK_BYTES):
                raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                              f"sealed chunk {index}: missing, out of "
                              f"order, too long or beyond chunk_count")
            digest.update(chunk.ciphertext)
            await self._store.blobs.put_chunk(
                blob_id, index, chunk.ciphertext, self._ttl(m.epoch))
            index += 1
        if index != m.chunk_count:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                          f"evaluation truncated: {index} of "
                          f"{m.chunk_count} chunks")
        if digest.digest() != m.digest:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                          "evaluation digest does not match its chunks")

    # -- FetchEvaluation ------------------------------------------------

    async def FetchEvaluation(self, request, context):
        caller = ""
        async with _refusals(context, "FetchEvaluation", lambda: caller):
            caller = self._caller(context)
            self._epoch_kind(request.epoch, request.kind)
            evaluator = self._peer(caller, request.evaluator)
            if not await self._released(request.epoch, request.kind,
                                        caller, evaluator):
                raise Refused(grpc.StatusCode.FAILED_PRECONDITION,
                              f"escrow has not released {evaluator}'s "
                              f"evaluation for {request.kind}: both sides "
                              f"must have submitted theirs")
            record = await self._records.evaluation(
                request.epoch, request.kind, evaluator, caller)
            yield pb.EvaluationPart(manifest=record.manifest)
            for index in range(record.manifest.chunk_count):
                data = await self._store.blobs.get_chunk(
                    record.blob_id, index)
                yield pb.EvaluationPart(
                    chunk=pb.SealedChunk(index=index, ciphertext=data))
