"""Ed25519 signatures over labelled payloads.

Every signed payload is prefixed with ``LABMATCH-V1-SIG/<type>`` and a
zero byte before signing (PyNaCl's Ed25519 has no context parameter), so
a signature made for one message type can never verify as another. The
payload itself carries the protocol version and suite id.
"""
from __future__ import annotations

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from .errors import BadSignature

__all__ = [
    "SIGNATURE_BYTES",
    "KEY_COMMIT",
    "UPLOAD_MANIFEST",
    "EVALUATION_MANIFEST",
    "signed_bytes",
    "sign",
    "verify",
]

SIGNATURE_BYTES = 64
SIG_PREFIX = b"LABMATCH-V1-SIG/"
KEY_COMMIT = "key-commit"
UPLOAD_MANIFEST = "upload-manifest"
EVALUATION_MANIFEST = "evaluation-manifest"
MESSAGE_TYPES = frozenset({KEY_COMMIT, UPLOAD_MANIFEST, EVALUATION_MANIFEST})


def signed_bytes(message_type: str, payload: bytes) -> bytes:
    if message_type not in MESSAGE_TYPES:
        raise ValueError(f"unknown message type {message_type!r}")

    return SIG_PREFIX + message_type.encode("ascii") + b"\x00" + payload


def sign(key: SigningKey, message_type: str, payload: bytes) -> bytes:
    return key.sign(signed_bytes(message_type, payload)).signature


def verify(public_key: bytes, message_type: str, payload: bytes,
           signature: bytes) -> None:
    """Raise BadSignature unless ``signature`` is valid; says no more."""
    message = signed_bytes(message_type, payload)   # ValueError if unknown
    try:
        if len(signature) != SIGNATURE_BYTES or len(public_key) != 32:
            raise BadSignatureError
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError, TypeError):
        raise BadSignature("signature verification failed") from None
