"""ristretto255 (RFC 9496) through libsodium, by way of ``rbcl``.

The only module that touches the group library, so it can be swapped.
Elements and scalars are 32-byte strings. Every element that arrives from
another party goes through :func:`validate_element` before any use.
"""
from __future__ import annotations

import hmac

import rbcl

from .errors import InvalidElement

__all__ = [
    "ELEMENT_BYTES",
    "SCALAR_BYTES",
    "UNIFORM_BYTES",
    "IDENTITY",
    "element_from_uniform",
    "validate_element",
    "scalar_from_wide",
    "scalarmult",
    "scalarmult_base",
    "scalar_invert",
    "scalar_mul",
    "random_element",
]

ELEMENT_BYTES = 32
SCALAR_BYTES = 32
UNIFORM_BYTES = 64
WIDE_SCALAR_BYTES = 64
IDENTITY = bytes(ELEMENT_BYTES)
_ZERO_SCALAR = bytes(SCALAR_BYTES)


def element_from_uniform(uniform: bytes) -> bytes:
    """RFC 9496 element derivation from 64 uniform bytes."""
    if len(uniform) != UNIFORM_BYTES:
        raise ValueError(f"element derivation needs {UNIFORM_BYTES} bytes")

    return rbcl.crypto_core_ristretto255_from_hash(uniform)


def validate_element(data: bytes) -> bytes:
    """Return ``data`` if it is a canonical, non-identity element.

    Checks, in order: exactly 32 bytes; top bit clear (libsodium ignores
    it, so two encodings would name one element); canonical encoding of a
    point; not the identity. Any failure raises the same opaque error.
    """
    if (not isinstance(data, bytes) or len(data) != ELEMENT_BYTES
            or data[-1] & 0x80
            or not rbcl.crypto_core_ristretto255_is_valid_point(data)
            or hmac.compare_digest(data, IDENTITY)):
        raise InvalidElement("invalid group element")

    return data


def scalar_from_wide(wide: bytes) -> bytes:
    """Reduce 64 uniform bytes mod the group order; zero is refused."""
    if len(wide) != WIDE_SCALAR_BYTES:
        raise ValueError(f"scalar derivation needs {WIDE_SCALAR_BYTES} bytes")
    scalar = rbcl.crypto_core_ristretto255_scalar_reduce(wide)
    if hmac.compare_digest(scalar, _ZERO_SCALAR):
        raise ValueError("derived scalar is zero")

    return scalar


def scalarmult(scalar: bytes, element: bytes) -> bytes:
    """``scalar · element``; the caller has validated ``element``."""
    try:
        return rbcl.crypto_scalarmult_ristretto255(scalar, element)
    except RuntimeError:
        raise InvalidElement("invalid group element") from None


def scalarmult_base(scalar: bytes) -> bytes:
    return rbcl.crypto_scalarmult_ristretto255_base(scalar)


def scalar_invert(scalar: bytes) -> bytes:
    return rbcl.crypto_core_ristretto255_scalar_invert(scalar)


def scalar_mul(a: bytes, b: bytes) -> bytes:
    return rbcl.crypto_core_ristretto255_scalar_mul(a, b)


def random_element() -> bytes:
    """A uniformly random element (for padding in later protocol steps)."""
    return rbcl.crypto_core_ristretto255_random()
