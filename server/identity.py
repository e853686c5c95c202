"""Who is calling: read from the TLS client certificate, nothing else.

The coordinator takes a lab's identity only from the verified peer
certificate in the call's auth context (its URI SAN
``urn:labmatch:lab:NAME``), never from a request field.
"""
from __future__ import annotations

import functools

from cryptography import x509

__all__ = ["LAB_URI_PREFIX", "lab_from_pem", "lab_from_auth_context",
           "signing_key_from_auth_context"]

LAB_URI_PREFIX = "urn:labmatch:lab:"
SIGNING_KEY_URI_PREFIX = "urn:labmatch:signing-key:ed25519:"


@functools.lru_cache(maxsize=256)
def _uris(pem: bytes, prefix: str) -> tuple[str, ...]:
    try:
        cert = x509.load_pem_x509_certificate(pem)
        san = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return ()
    return tuple(
        uri[len(prefix):]
        for uri in san.get_values_for_type(x509.UniformResourceIdentifier)
        if uri.startswith(prefix))


def lab_from_pem(pem: bytes) -> str | None:
    """The lab name a certificate carries, or None."""
    names = _uris(pem, LAB_URI_PREFIX)
    return names[0] if len(names) == 1 else None


def signing_key_from_pem(pem: bytes) -> bytes | None:
    """The Ed25519 key bound to the certificate at enrolment, or None."""
    keys = _uris(pem, SIGNING_KEY_URI_PREFIX)
    if len(keys) != 1:
        return None
    try:
        key = bytes.fromhex(keys[0])
    except ValueError:
        return None
    return key if len(key) == 32 else None


def _pem(auth: dict[str, list[bytes]]) -> bytes | None:
    pems = auth.get("x509_pem_cert") or []
    return pems[0] if len(pems) == 1 else None


def lab_from_auth_context(auth: dict[str, list[bytes]]) -> str | None:
    pem = _pem(auth)
    return None if pem is None else lab_from_pem(pem)


def signing_key_from_auth_context(auth: dict[str, list[bytes]]):
    pem = _pem(auth)
    return None if pem is None else signing_key_from_pem(pem)
