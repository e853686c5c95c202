"""The lab's connection to the coordinator: mutual TLS and typed errors.

Every gRPC failure is translated here, once, into
:class:`CoordinatorError` carrying the status code and the coordinator's
message (which never holds identifiers). Every call has a deadline.
"""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable

import grpc

from labmatch._proto import coordinator_pb2 as pb
from labmatch._proto import coordinator_pb2_grpc as pb_grpc
from labmatch.psi.errors import LabmatchError

__all__ = ["CoordinatorError", "CoordinatorClient", "MAX_MESSAGE_BYTES"]

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
CALL_DEADLINE = 60.0          # seconds, for small calls
TRANSFER_DEADLINE = 1800.0    # seconds, for a whole bulk stream


class CoordinatorError(LabmatchError):
    """A call to the coordinator failed; ``code`` is the gRPC status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def retryable(self) -> bool:
        return self.code in (grpc.StatusCode.UNAVAILABLE,
                             grpc.StatusCode.DEADLINE_EXCEEDED)


@contextlib.contextmanager
def _translated(what: str):
    try:
        yield
    except grpc.RpcError as exc:
        code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
        detail = exc.details() if hasattr(exc, "details") else ""
        raise CoordinatorError(
            code, f"{what}: {code.name}: {detail}") from None


class CoordinatorClient:
    """Async client of one lab; use ``async with``."""

    def __init__(self, address: str, *, tls_key: bytes, tls_cert: bytes,
                 ca_cert: bytes) -> None:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=ca_cert, private_key=tls_key,
            certificate_chain=tls_cert)
        self.address = address
        self._channel = grpc.aio.secure_channel(address, credentials, options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ])
        self._stub = pb_grpc.CoordinatorStub(self._channel)

    async def __aenter__(self) -> CoordinatorClient:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._channel.close()

    async def round(self, epoch: str) -> pb.RoundStatus:
        with _translated("round status"):
            return await self._stub.GetRound(
                pb.RoundRequest(epoch=epoch), timeout=CALL_DEADLINE,
                wait_for_ready=False)

    async def publish_key_commit(self, commit: pb.SignedMessage,
                                 idempotency_key: str) -> pb.PublishReceipt:
        with _translated("publishing a key commitment"):
            return await self._stub.PublishKeyCommit(
                pb.PublishKeyCommitRequest(
                    commit=commit, idempotency_key=idempotency_key),
                timeout=CALL_DEADLINE)

    async def upload(self, manifest: pb.SignedMessage, idempotency_key: str,
                     chunks: Iterable[tuple[int, bytes]],
                     what: str) -> pb.UploadReceipt:
        """Send the signed manifest, then the given (index, data) chunks."""
        def parts():
            yield pb.UploadPart(start=pb.UploadStart(
                manifest=manifest, idempotency_key=idempotency_key))
            for index, data in chunks:
                yield pb.UploadPart(chunk=pb.Chunk(index=index, data=data))

        with _translated(f"upload of {what}"):
            return await self._stub.Upload(parts(), timeout=TRANSFER_DEADLINE)

    async def download_upload(self, epoch: str, kind: str,
                              owner: str) -> AsyncIterator[pb.DownloadPart]:
        call = self._stub.DownloadUpload(
            pb.DownloadRequest(epoch=epoch, kind=kind, owner=owner),
            timeout=TRANSFER_DEADLINE)
        with _translated(f"download of {owner}'s {kind} upload"):
            async for part in call:
                yield part

    async def submit_evaluation(
        self, manifest: pb.SignedMessage, idempotency_key: str,
        chunks: Iterable[bytes], what: str,
    ) -> pb.EvaluationReceipt:
        def parts():
            yield pb.EvaluationPart(start=pb.EvaluationStart(
                manifest=manifest, idempotency_key=idempotency_key))
            for index, data in enumerate(chunks):
                yield pb.EvaluationPart(chunk=pb.Chunk(index=index, data=data))

        with _translated(f"evaluation of {what}"):
            return await self._stub.SubmitEvaluation(
                parts(), timeout=TRANSFER_DEADLINE)

    async def fetch_evaluation(
        self, epoch: str, kind: str, evaluator: str,
    ) -> AsyncIterator[pb.EvaluationPart]:
        call = self._stub.FetchEvaluation(
            pb.FetchRequest(epoch=epoch, kind=kind, evaluator=evaluator),
            timeout=TRANSFER_DEADLINE)
        with _translated(f"fetch of {evaluator}'s {kind} evaluation"):
            async for part in call:
                yield part
