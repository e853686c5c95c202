"""Signed protocol messages: the one module both sides use to make and
check them, and the only one outside ``_proto`` that knows their types.

A signed message is the serialized payload of a typed message (KeyCommit,
UploadManifest, EvaluationManifest) plus an Ed25519 signature over a
labelled encoding of those exact bytes (:mod:`labmatch.psi.signing`). A
receiver verifies the signature over the bytes it received, then parses
them, then checks the header: protocol version, suite, consortium,
sender, recipient, epoch, kind, a 16-byte nonce and the validity window.
Every failure raises :class:`WireError` with a reason a human can act
on; cryptographic failures say only that verification failed.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import DecodeError, Message
from nacl.signing import SigningKey

from labmatch._proto import coordinator_pb2 as pb
from labmatch.psi import signing
from labmatch.psi.errors import BadSignature, LabmatchError
from labmatch.psi.hashing import PROTOCOL_VERSION, SUITE

__all__ = [
    "WireError",
    "NONCE_BYTES",
    "MAX_SKEW",
    "Expect",
    "new_header",
    "sign_message",
    "open_message",
    "payload_digest",
    "epoch_window",
]

NONCE_BYTES = 16
MAX_SKEW = dt.timedelta(minutes=2)
# Batch statements stay valid from the day before their epoch until the
# epoch's grace period ends, so a peer syncing later still accepts them.
EARLY = dt.timedelta(days=1)
GRACE = dt.timedelta(hours=48)
MAX_SIGNED_BYTES = 64 * 1024
MIN_YEAR, MAX_YEAR = 2000, 9998
_EPOCH = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

M = TypeVar("M", bound=Message)

_TYPES: dict[type, str] = {
    pb.KeyCommit: signing.KEY_COMMIT,
    pb.UploadManifest: signing.UPLOAD_MANIFEST,
    pb.EvaluationManifest: signing.EVALUATION_MANIFEST,
}


class WireError(LabmatchError, ValueError):
    """A signed message is malformed, forged, stale, or not for us."""


def epoch_window(epoch: str) -> tuple[dt.datetime, dt.datetime]:
    """(opens, closes) of an epoch named YYYY-MM-DD, in UTC.

    One spelling per day: ISO week dates and other forms are refused, so
    an epoch's keys, nonces and budgets cannot be taken twice.
    """
    if not isinstance(epoch, str) or not _EPOCH.fullmatch(epoch):
        raise WireError("epoch must be a date written YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(epoch)
    except ValueError:
        raise WireError("epoch must be a date written YYYY-MM-DD") from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise WireError(f"epoch must lie in the years {MIN_YEAR} to "
                        f"{MAX_YEAR}")
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)

    return start - EARLY, start + dt.timedelta(days=1) + GRACE


def new_header(*, consortium_id: str, sender: str, epoch: str, kind: str,
               recipient: str = "", now: dt.datetime | None = None,
               nonce: bytes | None = None) -> pb.Header:
    """A header valid until the epoch's grace period ends."""
    now = now or dt.datetime.now(dt.UTC)
    _, closes = epoch_window(epoch)

    return pb.Header(
        version=PROTOCOL_VERSION, suite=SUITE, consortium_id=consortium_id,
        sender=sender, recipient=recipient, epoch=epoch, kind=kind,
        nonce=nonce if nonce is not None else os.urandom(NONCE_BYTES),
        issued_at=int(now.timestamp()), expires_at=int(closes.timestamp()))


def sign_message(key: SigningKey, message: Message) -> pb.SignedMessage:
    payload = message.SerializeToString(deterministic=True)
    signature = signing.sign(key, _TYPES[type(message)], payload)

    return pb.SignedMessage(payload=payload, signature=signature)


def payload_digest(signed: pb.SignedMessage) -> bytes:
    """What other messages cite: SHA-256 of the signed payload bytes."""
    return hashlib.sha256(signed.payload).digest()


@dataclass(frozen=True)
class Expect:
    """What the receiver requires of a header."""

    consortium_id: str
    epoch: str | None = None
    kind: str | None = None
    sender: str | None = None
    recipient: str | None = None


def open_message(signed: pb.SignedMessage, message_type: type[M],
                 signer_key: bytes, expect: Expect,
                 now: dt.datetime | None = None) -> M:
    """Verify, parse and check; returns the typed message."""
    if len(signed.payload) > MAX_SIGNED_BYTES:
        raise WireError("signed message too large")
    try:
        signing.verify(signer_key, _TYPES[message_type], signed.payload,
                       signed.signature)
    except BadSignature:
        raise WireError("signature verification failed") from None
    try:
        message = message_type.FromString(signed.payload)
    except DecodeError:
        raise WireError("signed payload does not parse") from None
    check_header(message.header, expect, now or dt.datetime.now(dt.UTC))

    return message


def check_header(h: pb.Header, expect: Expect, now: dt.datetime) -> None:
    if h.version != PROTOCOL_VERSION or h.suite != SUITE:
        raise WireError(f"unsupported protocol version or suite (v{h.version} "
                        f"{h.suite!r}; this side speaks v{PROTOCOL_VERSION} "
                        f"{SUITE})")
    wanted = {
        "consortium": (h.consortium_id, expect.consortium_id),
        "epoch": (h.epoch, expect.epoch),
        "kind": (h.kind, expect.kind),
        "sender": (h.sender, expect.sender),
        "recipient": (h.recipient, expect.recipient),
    }
    for field, (got, want) in wanted.items():
        if want is not None and got != want:
            raise WireError(f"signed message names the wrong {field}")
    if len(h.nonce) != NONCE_BYTES:
        raise WireError("signed message has no valid nonce")
    opens, closes = epoch_window(h.epoch)
    stamp = int(now.timestamp())
    if h.expires_at <= stamp:
        raise WireError("signed message has expired")
    if h.issued_at > stamp + MAX_SKEW.total_seconds():
        raise WireError("signed message is issued in the future")
    if h.issued_at < int(opens.timestamp()) or h.issued_at > h.expires_at:
        raise WireError("signed message is issued outside its epoch's "
                        "window")
    if h.expires_at > int(closes.timestamp()):
        raise WireError("signed message outlives its epoch's grace period")
