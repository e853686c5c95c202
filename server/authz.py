"""Authorisation in one place: an interceptor decides every call.

For each call the interceptor (1) takes the caller's identity from its
TLS certificate and refuses non-members and certificates whose bound
signing key is not the one pinned for that lab; (2) asks the
:class:`Policy` whether this caller may make this call now: a well-formed
epoch that is open, an enabled kind, a peer that is a member and not the
caller, signed statements signed by the caller about itself, and a round
in the state the call needs (a key commitment before an upload, an upload
before its evaluation, both evaluations before a release); (3) maps every
:class:`Refused`, from the policy or the servicer, to its gRPC status and
logs one line per call (method, lab, status, time; never data).

What the policy parsed (the caller, the verified statement) reaches the
servicer through the ``CURRENT`` context variable.
"""
from __future__ import annotations

import contextvars
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from grpc.aio import AbortError
from google.protobuf.message import DecodeError, Message

from labmatch import wire
from labmatch._proto import coordinator_pb2 as pb
from labmatch.psi.consortium import Consortium
from labmatch.psi.identifiers import match_kinds

from .identity import lab_from_auth_context, signing_key_from_auth_context
from .records import Records

__all__ = ["Refused", "Authorized", "CURRENT", "Policy",
           "AuthorizationInterceptor"]

log = logging.getLogger("labmatch.server")

SERVICE = "/labmatch.v1.Coordinator/"


class Refused(Exception):
    """A call the coordinator turns down, with the status to send."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Authorized:
    """What the policy established about the current call."""

    caller: str
    statement: Message | None = None   # the verified signed payload
    signed: pb.SignedMessage | None = None
    first: Message | None = None       # first message of a client stream
    extra: dict = field(default_factory=dict)


CURRENT: contextvars.ContextVar[Authorized] = contextvars.ContextVar(
    "labmatch_authorized")


def _denied(message: str) -> Refused:
    return Refused(grpc.StatusCode.PERMISSION_DENIED, message)


def _invalid(message: str) -> Refused:
    return Refused(grpc.StatusCode.INVALID_ARGUMENT, message)


def _state(message: str) -> Refused:
    return Refused(grpc.StatusCode.FAILED_PRECONDITION, message)


class Policy:
    """Who may do what, when. Raises Refused; returns Authorized."""

    def __init__(self, consortium: Consortium, records: Records,
                 clock: Callable[[], dt.datetime]) -> None:
        self.consortium = consortium
        self.records = records
        self.clock = clock
        self.kinds = frozenset(match_kinds(consortium.kinds))

    # -- the pieces -----------------------------------------------------

    def epoch(self, epoch: str, *, must_be_open: bool) -> None:
        try:
            opens, closes = wire.epoch_window(epoch)
        except wire.WireError as exc:
            raise _invalid(str(exc)) from None
        if must_be_open and not opens <= self.clock() < closes:
            raise _state(f"epoch {epoch} is not open for work now")

    def kind(self, kind: str) -> None:
        if kind not in self.kinds:
            raise _invalid(f"kind {kind!r} is not enabled in this consortium")

    def peer(self, caller: str, name: str) -> str:
        if name == caller or name not in self.consortium.labs:
            raise _invalid(f"{name!r} is not a peer of {caller}")
        return name

    def statement(self, caller: str, signed: pb.SignedMessage | None,
                  message_type, recipient: str | None) -> Message:
        """A statement signed by the caller, about the caller."""
        if signed is None or not signed.payload:
            raise _invalid("the call must start with a signed statement")
        expect = wire.Expect(self.consortium.consortium_id, sender=caller,
                             recipient=recipient)
        try:
            message = wire.open_message(
                signed, message_type,
                self.consortium.labs[caller].signing_key, expect,
                now=self.clock())
        except wire.WireError as exc:
            raise _denied(f"signed statement refused: {exc}") from None
        self.kind(message.header.kind)
        self.epoch(message.header.epoch, must_be_open=True)
        return message

    # -- per call -------------------------------------------------------

    async def authorize(self, method: str, caller: str,
                        request: Message | None) -> Authorized:
        check = getattr(self, f"_{method}", None)
        if check is None:
            raise Refused(grpc.StatusCode.UNIMPLEMENTED,
                          f"unknown method {method}")
        return await check(Authorized(caller), request)

    async def _GetRound(self, auth: Authorized, request) -> Authorized:
        self.epoch(request.epoch, must_be_open=False)
        return auth

    async def _PublishKeyCommit(self, auth: Authorized, request):
        auth.statement = self.statement(auth.caller, request.commit,
                                        pb.KeyCommit, recipient="")
        auth.signed = request.commit
        return auth

    async def _Upload(self, auth: Authorized, first) -> Authorized:
        if first is None or not first.HasField("start"):
            raise _invalid("an upload starts with its signed manifest")
        m = self.statement(auth.caller, first.start.manifest,
                           pb.UploadManifest, recipient="")
        commit = await self.records.key_commit(
            m.header.epoch, m.header.kind, auth.caller)
        if commit is None:
            raise _state(f"publish a key commitment for {m.header.kind} "
                         f"before uploading")
        if wire.payload_digest(commit.signed) != m.key_commit_digest:
            raise _invalid("the manifest cites another key commitment")
        auth.statement, auth.signed, auth.first = (
            m, first.start.manifest, first)
        return auth

    async def _DownloadUpload(self, auth: Authorized, request):
        self.epoch(request.epoch, must_be_open=False)
        self.kind(request.kind)
        owner = self.peer(auth.caller, request.owner)
        record = await self.records.upload(request.epoch, request.kind,
                                           owner)
        if record is None:
            raise Refused(grpc.StatusCode.NOT_FOUND,
                          f"{owner} has no complete upload for "
                          f"{request.kind} in epoch {request.epoch}")
        auth.extra["record"] = record
        return auth

    async def _SubmitEvaluation(self, auth: Authorized, first):
        if first is None or not first.HasField("start"):
            raise _invalid("an evaluation starts with its signed manifest")
        signed = first.start.manifest
        try:
            header = pb.EvaluationManifest.FromString(signed.payload).header
        except Exception:
            raise _invalid("evaluation manifest does not parse") from None
        owner = self.peer(auth.caller, header.recipient)
        m = self.statement(auth.caller, signed, pb.EvaluationManifest,
                           recipient=owner)
        upload = await self.records.upload(m.header.epoch, m.header.kind,
                                           owner)
        if upload is None or wire.payload_digest(
                upload.signed) != m.upload_digest:
            raise _state(f"the evaluated upload is not {owner}'s complete "
                         f"upload for {m.header.kind} in epoch "
                         f"{m.header.epoch}")
        auth.statement, auth.signed, auth.first = m, signed, first
        auth.extra["upload"] = upload
        return auth

    async def _FetchEvaluation(self, auth: Authorized, request):
        self.epoch(request.epoch, must_be_open=True)
        self.kind(request.kind)
        evaluator = self.peer(auth.caller, request.evaluator)
        theirs = await self.records.evaluation(
            request.epoch, request.kind, evaluator, auth.caller)
        mine = await self.records.evaluation(
            request.epoch, request.kind, auth.caller, evaluator)
        if theirs is None or mine is None:
            raise _state(f"escrow has not released {evaluator}'s "
                         f"evaluation for {request.kind}: both sides must "
                         f"have submitted theirs")
        auth.extra["record"] = theirs
        return auth


class AuthorizationInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or not details.method.startswith(SERVICE):
            return handler
        method = details.method[len(SERVICE):]
        wrap = {
            "unary_unary": self._unary_unary,
            "unary_stream": self._unary_stream,
            "stream_unary": self._stream_unary,
        }
        for kind, wrapper in wrap.items():
            inner = getattr(handler, kind)
            if inner is not None:
                factory = getattr(grpc, f"{kind}_rpc_method_handler")
                return factory(
                    wrapper(method, inner),
                    request_deserializer=_tolerant(
                        handler.request_deserializer),
                    response_serializer=handler.response_serializer)
        return handler

    def _identify(self, context) -> str:
        auth = context.auth_context()
        lab = lab_from_auth_context(auth)
        if lab is None or lab not in self._policy.consortium.labs:
            raise Refused(grpc.StatusCode.PERMISSION_DENIED,
                          "caller's certificate names no member lab (a "
                          "newly enrolled lab needs the coordinator "
                          "restarted with the new consortium.toml)")
        bound = signing_key_from_auth_context(auth)
        pinned = self._policy.consortium.labs[lab].signing_key
        if bound is None or bound != pinned:
            raise Refused(grpc.StatusCode.PERMISSION_DENIED,
                          "caller's certificate binds a signing key that "
                          "is not the one pinned for it")
        return lab

    def _unary_unary(self, method, inner):
        async def behaviour(request, context):
            async with _mapped(context, method) as call:
                call.lab = self._identify(context)
                CURRENT.set(await self._policy.authorize(
                    method, call.lab, _parsed(request)))
                return await inner(request, context)
        return behaviour

    def _unary_stream(self, method, inner):
        async def behaviour(request, context):
            async with _mapped(context, method) as call:
                call.lab = self._identify(context)
                CURRENT.set(await self._policy.authorize(
                    method, call.lab, _parsed(request)))
                async for response in inner(request, context):
                    yield response
        return behaviour

    def _stream_unary(self, method, inner):
        async def behaviour(request_iterator, context):
            async with _mapped(context, method) as call:
                call.lab = self._identify(context)
                parts = _parsed_stream(request_iterator)
                first = await anext(parts, None)
                CURRENT.set(await self._policy.authorize(
                    method, call.lab, first))
                return await inner(parts, context)
        return behaviour


class _Unparseable:
    """Stands for request bytes that are not the expected message."""


UNPARSEABLE = _Unparseable()


def _tolerant(deserializer):
    """A deserializer that hands bad bytes to the handler, which refuses
    them with INVALID_ARGUMENT (instead of gRPC's bare UNKNOWN)."""
    if deserializer is None:
        return None

    def deserialize(data: bytes):
        try:
            return deserializer(data)
        except DecodeError:
            return UNPARSEABLE
    return deserialize


def _parsed(request):
    if request is UNPARSEABLE:
        raise _invalid("the request does not parse")
    return request


async def _parsed_stream(request_iterator):
    async for request in request_iterator:
        yield _parsed(request)


@dataclass
class _Call:
    lab: str = "-"


class _mapped:
    """Map Refused to a status, hide internal errors, log one line."""

    def __init__(self, context, method: str) -> None:
        self._context = context
        self._method = method
        self._call = _Call()
        self._started = time.monotonic()

    async def __aenter__(self) -> _Call:
        return self._call

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        status = "OK"
        try:
            if isinstance(exc, Refused):
                status = exc.code.name
                await self._context.abort(exc.code, str(exc))
            elif exc is not None and isinstance(exc, Exception) and not \
                    isinstance(exc, AbortError):
                status = "INTERNAL"
                log.error("rpc.failed method=%s lab=%s error=%s",
                          self._method, self._call.lab,
                          type(exc).__name__)
                await self._context.abort(grpc.StatusCode.INTERNAL,
                                          "internal error in the coordinator")
            elif exc is not None:
                status = type(exc).__name__
        finally:
            log.info("rpc method=%s lab=%s status=%s ms=%d", self._method,
                     self._call.lab, status,
                     (time.monotonic() - self._started) * 1000)
        return False
