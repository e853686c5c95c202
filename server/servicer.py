"""The Coordinator service: relays blinded uploads and sealed token lists.

Calls reach these methods only through the authorisation interceptor
(:mod:`.authz`), which has identified the caller, verified the signed
statement that opens the call and checked the round's state; what it
established is in ``CURRENT``. The servicer checks the data against the
statement (chunk digests, Merkle roots, counts, element encodings),
meters budgets, enforces idempotency keys and single-use nonces, and
stores. A refused call stores nothing and leaves earlier accepted data
untouched; an interrupted upload keeps its verified chunks so it can
resume by chunk index.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Callable

import grpc

from labmatch import wire
from labmatch._proto import coordinator_pb2 as pb
from labmatch._proto import coordinator_pb2_grpc as pb_grpc
from labmatch.psi import group
from labmatch.psi.consortium import Consortium
from labmatch.psi.errors import InvalidElement
from labmatch.psi.identifiers import match_kinds
from labmatch.psi.manifest import (
    ELEMENTS_PER_CHUNK,
    MAX_UPLOAD_ELEMENTS,
    chunk_elements,
)
from labmatch.psi.merkle import merkle_root
from labmatch.psi.rounds import check_upload
from labmatch.psi.sealing import MAX_SEALED_CHUNK_BYTES, chunk_count_for

from . import epochs
from .authz import CURRENT, Authorized, Refused
from .records import Record, Records

__all__ = ["CoordinatorServicer"]

DIGEST_BYTES = 32
SEALED_KEY_BYTES = 80      # 32-byte stream key in a libsodium sealed box
STREAM_HEADER_BYTES = 24
MAX_IDEMPOTENCY_KEY = 128
_IDEMPOTENCY_KEY = re.compile(
    rf"[\x21-\x7e]{{1,{MAX_IDEMPOTENCY_KEY}}}")


def _invalid(message: str) -> Refused:
    return Refused(grpc.StatusCode.INVALID_ARGUMENT, message)


def _state(message: str) -> Refused:
    return Refused(grpc.StatusCode.FAILED_PRECONDITION, message)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _request_digest(signed: pb.SignedMessage) -> bytes:
    return _sha256(signed.SerializeToString(deterministic=True))


class _KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits."""

    def __init__(self) -> None:
        self._locks: dict[tuple, list] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: tuple):
        entry = self._locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[key]


async def _cleanup(work) -> None:
    """Run clean-up to the end even if the call is being cancelled."""
    await asyncio.shield(asyncio.ensure_future(work))


def check_chunk_plan(chunk_count: int, expected: int, digests,
                     root: bytes) -> None:
    """Chunk count, chunk digests and the Merkle root agree."""
    if chunk_count != expected:
        raise _invalid("chunk_count does not match count")
    if len(digests) != chunk_count or any(
            len(d) != DIGEST_BYTES for d in digests):
        raise _invalid("one 32-byte digest per chunk is required")
    if merkle_root(list(digests)) != root:
        raise _invalid("merkle_root does not match the chunk digests")


class CoordinatorServicer(pb_grpc.CoordinatorServicer):
    def __init__(self, consortium: Consortium, records: Records, *,
                 clock: Callable[[], dt.datetime]) -> None:
        self._consortium = consortium
        self._records = records
        self._clock = clock
        # Beginning and publishing an upload of one lab for one (epoch,
        # kind) take turns, so a new manifest never replaces a pending
        # upload while it is being published. (One coordinator process;
        # replicas would need a lock in the store.)
        self._upload_locks = _KeyedLocks()

    def _ttl(self, epoch: str) -> int:
        return epochs.ttl_seconds(epoch, self._clock())

    async def _replayed(self, caller: str, key: str,
                        request: bytes) -> bytes | None:
        """The stored response for a repeated idempotency key, if any."""
        if not _IDEMPOTENCY_KEY.fullmatch(key or ""):
            raise _invalid("an idempotency key of 1 to 128 printable "
                           "characters is required")
        stored = await self._records.idempotent(caller, key)
        if stored is None:
            return None
        if stored[0] != request:
            raise Refused(grpc.StatusCode.ALREADY_EXISTS,
                          "this idempotency key was used for a different "
                          "request")
        return stored[1]

    async def _fresh_nonce(self, caller: str, header: pb.Header) -> None:
        if not await self._records.use_nonce(caller, header.nonce,
                                             self._ttl(header.epoch)):
            raise Refused(grpc.StatusCode.ALREADY_EXISTS,
                          "this signed statement's nonce was already used "
                          "(a replay?)")

    # -- GetRound -------------------------------------------------------

    async def GetRound(self, request, context):
        caller = CURRENT.get().caller
        status = pb.RoundStatus(epoch=request.epoch, lab=caller)
        for kind in match_kinds(self._consortium.kinds):
            status.kinds.append(
                await self._kind_status(request.epoch, kind, caller))
        return status

    async def _kind_status(self, epoch: str, kind: str,
                           caller: str) -> pb.KindStatus:
        r = self._records
        out = pb.KindStatus(kind=kind, budget=self._consortium.budget(kind))
        commit = await r.key_commit(epoch, kind, caller)
        if commit is not None:
            out.own_key_commit.CopyFrom(commit.signed)
        own = await r.upload(epoch, kind, caller)
        if own is not None:
            out.own_upload.CopyFrom(own.signed)
        for peer in self._consortium.peers(caller):
            status = pb.PeerStatus(peer=peer)
            commit = await r.key_commit(epoch, kind, peer)
            if commit is not None:
                status.key_commit.CopyFrom(commit.signed)
            upload = await r.upload(epoch, kind, peer)
            if upload is not None:
                status.upload.CopyFrom(upload.signed)
            mine = await r.evaluation(epoch, kind, caller, peer)
            theirs = await r.evaluation(epoch, kind, peer, caller)
            status.evaluated_by_me = mine is not None
            status.evaluated_by_peer = theirs is not None
            status.released = (mine is not None and theirs is not None
                               and epochs.is_open(epoch, self._clock()))
            status.budget_used = await r.budget_used(epoch, kind, peer,
                                                     caller)
            out.peers.append(status)

        return out

    # -- PublishKeyCommit -----------------------------------------------

    async def PublishKeyCommit(self, request, context):
        auth = CURRENT.get()
        m: pb.KeyCommit = auth.statement
        h = m.header
        digest = _request_digest(request.commit)
        replay = await self._replayed(auth.caller, request.idempotency_key,
                                      digest)
        if replay is not None:
            return pb.PublishReceipt.FromString(replay)
        try:
            group.validate_element(m.public_key)
        except InvalidElement:
            raise _invalid("key commitment holds no valid public key") \
                from None
        existing = await self._records.key_commit(h.epoch, h.kind,
                                                  auth.caller)
        if existing is None:
            await self._fresh_nonce(auth.caller, h)
            existing = await self._records.add_key_commit(
                h.epoch, h.kind, auth.caller, Record(request.commit),
                self._ttl(h.epoch))
        if existing is not None:
            old = pb.KeyCommit.FromString(existing.signed.payload)
            if old.public_key != m.public_key:
                raise _state(f"{auth.caller} already committed to another "
                             f"key for {h.kind} in epoch {h.epoch}")
        receipt = pb.PublishReceipt(
            digest=wire.payload_digest(existing.signed if existing
                                       else request.commit),
            already_present=existing is not None)
        await self._records.remember(auth.caller, request.idempotency_key,
                                     digest, receipt.SerializeToString())
        return receipt

    # -- Upload ---------------------------------------------------------

    async def Upload(self, request_iterator, context):
        auth = CURRENT.get()
        m: pb.UploadManifest = auth.statement
        start = auth.first.start
        request = _request_digest(start.manifest)
        replay = await self._replayed(auth.caller, start.idempotency_key,
                                      request)
        if replay is not None:
            return pb.UploadReceipt.FromString(replay)
        self._check_upload_manifest(m)
        digest = wire.payload_digest(start.manifest)
        lock = (auth.caller, m.header.epoch, m.header.kind)
        async with self._upload_locks.hold(lock):
            published = await self._records.upload(
                m.header.epoch, m.header.kind, auth.caller)
            if published is not None:
                return await self._already_uploaded(auth, published, m,
                                                    start, request)
            pending = await self._open_pending(auth, m, digest,
                                               start.manifest)
        await self._receive_upload_chunks(auth, m, digest, pending,
                                          request_iterator)
        async with self._upload_locks.hold(lock):
            return await self._finish_upload(auth, m, digest, pending,
                                             start, request)

    def _check_upload_manifest(self, m: pb.UploadManifest) -> None:
        budget = self._consortium.budget(m.header.kind)
        if m.count > MAX_UPLOAD_ELEMENTS or m.count > budget:
            raise Refused(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"upload of {m.count} elements is over the cap "
                          f"({min(budget, MAX_UPLOAD_ELEMENTS)} for "
                          f"{m.header.kind})")
        check_chunk_plan(m.chunk_count, -(-m.count // ELEMENTS_PER_CHUNK),
                         m.chunk_digests, m.merkle_root)

    async def _already_uploaded(self, auth, published, m, start, request):
        old = pb.UploadManifest.FromString(published.signed.payload)
        if old.merkle_root != m.merkle_root or old.count != m.count:
            raise _state(f"{auth.caller} already uploaded a different set "
                         f"for {m.header.kind} in epoch {m.header.epoch}; "
                         f"changing the input within an epoch is not "
                         f"supported yet")
        receipt = pb.UploadReceipt(
            digest=wire.payload_digest(published.signed), complete=True,
            already_present=True)
        await self._records.remember(auth.caller, start.idempotency_key,
                                     request, receipt.SerializeToString())
        return receipt

    async def _open_pending(self, auth, m, digest, signed) -> Record:
        """The pending upload for this manifest: resumed, or begun anew
        (replacing any other pending upload of this lab, epoch and kind).
        """
        pending = await self._records.pending(auth.caller, digest)
        if pending is not None:
            return pending
        h = m.header
        await self._fresh_nonce(auth.caller, h)
        previous = await self._records.current_pending(auth.caller, h.epoch,
                                                       h.kind)
        if previous is not None and previous != digest:
            await _cleanup(self._records.drop_pending(
                auth.caller, previous, keep_blob=False))
        record = Record(signed, secrets.token_hex(16))
        existing = await self._records.add_pending(
            auth.caller, digest, record, self._ttl(h.epoch))
        await self._records.set_current_pending(
            auth.caller, h.epoch, h.kind, digest, self._ttl(h.epoch))
        return existing or record

    async def _receive_upload_chunks(self, auth: Authorized, m, digest,
                                     pending: Record,
                                     parts: AsyncIterator) -> None:
        ttl = self._ttl(m.header.epoch)
        async for part in parts:
            if not part.HasField("chunk"):
                raise _invalid("only chunks may follow the start of an "
                               "upload")
            index, data = part.chunk.index, part.chunk.data
            try:
                bounds = self._check_upload_chunk(m, index, data)
            except Refused:
                await _cleanup(self._records.drop_pending(
                    auth.caller, digest, keep_blob=False))
                raise
            await self._records.blobs.put_chunk(pending.blob_id, index, data,
                                                ttl)
            await self._records.mark_chunk(auth.caller, digest, index,
                                           bounds, ttl)

    @staticmethod
    def _check_upload_chunk(m: pb.UploadManifest, index: int,
                            data: bytes) -> bytes:
        if index >= m.chunk_count:
            raise _invalid(f"upload chunk {index}: beyond chunk_count")
        last = index == m.chunk_count - 1
        expected = (m.count - index * ELEMENTS_PER_CHUNK if last
                    else ELEMENTS_PER_CHUNK) * group.ELEMENT_BYTES
        if len(data) != expected:
            raise _invalid(f"upload chunk {index}: wrong length")
        if _sha256(data) != m.chunk_digests[index]:
            raise _invalid(f"upload chunk {index}: does not match its "
                           f"digest in the signed manifest")
        try:
            check_upload(chunk_elements(data))
        except InvalidElement:
            raise _invalid(f"upload chunk {index}: holds an invalid, "
                           f"repeated or unsorted element") from None
        return data[:group.ELEMENT_BYTES] + data[-group.ELEMENT_BYTES:]

    async def _finish_upload(self, auth, m, digest, pending, start,
                             request) -> pb.UploadReceipt:
        h = m.header
        current = await self._records.current_pending(auth.caller, h.epoch,
                                                       h.kind)
        if current != digest:
            published = await self._records.upload(h.epoch, h.kind,
                                                   auth.caller)
            if published is not None:
                return await self._already_uploaded(auth, published, m,
                                                    start, request)
            raise _state("this upload was replaced by a newer manifest of "
                         "the same lab, epoch and kind")
        marks = await self._records.chunk_marks(auth.caller, digest)
        missing = [i for i in range(m.chunk_count) if i not in marks]
        if missing:
            return pb.UploadReceipt(digest=digest, complete=False,
                                    missing=missing)
        for i in range(1, m.chunk_count):
            if marks[i - 1][group.ELEMENT_BYTES:] >= \
                    marks[i][:group.ELEMENT_BYTES]:
                await _cleanup(self._records.drop_pending(
                    auth.caller, digest, keep_blob=False))
                raise _invalid(f"upload chunks {i - 1} and {i} are not in "
                               f"ascending order")
        record = Record(start.manifest, pending.blob_id)
        existing = await self._records.add_upload(
            m.header.epoch, m.header.kind, auth.caller, record,
            self._ttl(m.header.epoch))
        await _cleanup(self._records.drop_pending(
            auth.caller, digest, keep_blob=existing is None))
        if existing is not None:
            return await self._already_uploaded(auth, existing, m, start,
                                                request)
        receipt = pb.UploadReceipt(digest=digest, complete=True)
        await self._records.remember(auth.caller, start.idempotency_key,
                                     request, receipt.SerializeToString())
        return receipt

    # -- DownloadUpload -------------------------------------------------

    async def DownloadUpload(self, request, context):
        record: Record = CURRENT.get().extra["record"]
        m = pb.UploadManifest.FromString(record.signed.payload)
        yield pb.DownloadPart(manifest=record.signed)
        for index in range(m.chunk_count):
            data = await self._records.blobs.get_chunk(record.blob_id, index)
            yield pb.DownloadPart(chunk=pb.Chunk(index=index, data=data))

    # -- SubmitEvaluation -----------------------------------------------

    async def SubmitEvaluation(self, request_iterator, context):
        auth = CURRENT.get()
        m: pb.EvaluationManifest = auth.statement
        start = auth.first.start
        h = m.header
        request = _request_digest(start.manifest)
        replay = await self._replayed(auth.caller, start.idempotency_key,
                                      request)
        if replay is not None:
            return pb.EvaluationReceipt.FromString(replay)
        self._check_evaluation_manifest(m, auth.extra["upload"])
        existing = await self._records.evaluation(h.epoch, h.kind,
                                                  auth.caller, h.recipient)
        if existing is not None:
            raise _state(f"{auth.caller} already evaluated "
                         f"{h.recipient}'s {h.kind} upload in epoch "
                         f"{h.epoch}")
        await self._fresh_nonce(auth.caller, h)
        blob_id = secrets.token_hex(16)
        try:
            await self._receive_sealed_chunks(m, blob_id, request_iterator)
            existing = await self._records.add_evaluation(
                h.epoch, h.kind, auth.caller, h.recipient,
                Record(start.manifest, blob_id), self._ttl(h.epoch))
        except BaseException:
            await _cleanup(self._records.blobs.delete_blob(blob_id))
            raise
        if existing is not None:
            await _cleanup(self._records.blobs.delete_blob(blob_id))
            raise _state(f"{auth.caller} already evaluated "
                         f"{h.recipient}'s {h.kind} upload")
        await self._records.charge(h.epoch, h.kind, auth.caller,
                                   h.recipient, m.count, self._ttl(h.epoch))
        receipt = pb.EvaluationReceipt(digest=wire.payload_digest(
            start.manifest))
        await self._records.remember(auth.caller, start.idempotency_key,
                                     request, receipt.SerializeToString())
        return receipt

    def _check_evaluation_manifest(self, m: pb.EvaluationManifest,
                                   upload: Record) -> None:
        owner_manifest = pb.UploadManifest.FromString(upload.signed.payload)
        if m.count != owner_manifest.count:
            raise _invalid("token count differs from the upload's count")
        budget = self._consortium.budget(m.header.kind)
        if m.count > budget:
            raise Refused(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"evaluating {m.count} items is beyond the "
                          f"budget of {budget} for {m.header.kind}")
        check_chunk_plan(m.chunk_count, chunk_count_for(m.count),
                         m.chunk_digests, m.merkle_root)
        if (len(m.sealed_key) != SEALED_KEY_BYTES
                or len(m.stream_header) != STREAM_HEADER_BYTES):
            raise _invalid("sealed key or stream header has the wrong "
                           "length")

    async def _receive_sealed_chunks(self, m: pb.EvaluationManifest,
                                     blob_id: str,
                                     parts: AsyncIterator) -> None:
        index = 0
        async for part in parts:
            chunk = part.chunk
            if (not part.HasField("chunk") or chunk.index != index
                    or index >= m.chunk_count
                    or len(chunk.data) > MAX_SEALED_CHUNK_BYTES):
                raise _invalid(f"sealed chunk {index}: missing, out of "
                               f"order, too long or beyond chunk_count")
            if _sha256(chunk.data) != m.chunk_digests[index]:
                raise _invalid(f"sealed chunk {index}: does not match its "
                               f"digest in the signed manifest")
            await self._records.blobs.put_chunk(
                blob_id, index, chunk.data, self._ttl(m.header.epoch))
            index += 1
        if index != m.chunk_count:
            raise _invalid(f"evaluation truncated: {index} of "
                           f"{m.chunk_count} chunks")

    # -- FetchEvaluation ------------------------------------------------

    async def FetchEvaluation(self, request, context):
        record: Record = CURRENT.get().extra["record"]
        m = pb.EvaluationManifest.FromString(record.signed.payload)
        yield pb.EvaluationPart(start=pb.EvaluationStart(
            manifest=record.signed))
        for index in range(m.chunk_count):
            data = await self._records.blobs.get_chunk(record.blob_id, index)
            yield pb.EvaluationPart(chunk=pb.Chunk(index=index, data=data))
