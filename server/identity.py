"""Who is calling: read from the TLS client certificate, nothing else.

The coordinator takes a lab's identity only from the verified peer
certificate in the call's auth context (its URI SAN
``urn:labmatch:lab:NAME``), never from a request field.
"""
from __future__ import annotations

import functools

from cryptography import x509

__all__ = ["LAB_URI_PREFIX", "lab_from_pem", "lab_from_auth_context"]

LAB_URI_PREFIX = "urn:labmatch:lab:"


@functools.lru_cache(maxsize=256)
def lab_from_pem(pem: bytes) -> str | None:
    """The lab name a certificate carries, or None."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
        san = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    names = [
        uri[len(LAB_URI_PREFIX):]
        for uri in san.get_values_for_type(x509.UniformResourceIdentifier)
        if uri.startswith(LAB_URI_PREFIX)
    ]

    return names[0] if len(names) == 1 else None


def lab_from_auth_context(auth: dict[str, list[bytes]]) -> str | None:
    pems = auth.get("x509_pem_cert") or []
    if len(pems) != 1:
        return None

    return lab_from_pem(pems[0])
