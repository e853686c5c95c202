"""Crypto wallet addresses (input kind ``wallet``).

The asset is not part of the item: the same address listed under two
assets (an EVM address under ETH and USDT) is one item. Each family has
its own case rule, because lower-casing a case-sensitive address turns it
into a different, valid-looking one:

* EVM, ``0x`` and 40 hex digits: case-insensitive, canonical lower case.
  A mixed-case address carries an EIP-55 checksum in its letter case
  (Keccak-256 of the lower-case hex digits); one that does not verify
  is refused as ``bad-checksum``, since a mistyped digit would otherwise
  become a valid-looking, different address. All-lower and all-upper
  case carry no checksum and are accepted.
* Bech32 / bech32m segwit addresses with the human-readable part ``bc``,
  ``tb`` or ``ltc``: canonical lower case; mixed case, a bad checksum, a
  checksum variant that does not match the witness version (BIP 350) or
  a bad program length is refused.
* Base58 addresses starting ``1`` or ``3`` (Bitcoin and forks) or ``T``
  (Tron): case preserved; every character must be in the base58
  alphabet, and when the decoded bytes are 25 long their base58check
  checksum (double SHA-256) must verify.
* Anything else of 20 to 128 printable ASCII characters without spaces
  (Monero, XRP, cashaddr, ...): case preserved, accepted as opaque.

Everything else, and any other failed check, is refused as
``invalid-wallet``.
"""
from __future__ import annotations

import hashlib
import string
from typing import NoReturn

from Crypto.Hash import keccak

from ..encoding import text_message
from ..errors import IdentifierRefused
from ._common import LEVEL_EXACT, Canonical, MatchItem

__all__ = ["KIND", "KINDS", "canonical", "canonical_text"]

KIND = "wallet.addr.c1"
KINDS = (KIND,)

OPAQUE_MIN_CHARS = 20
OPAQUE_MAX_CHARS = 128

_HEX = frozenset(string.hexdigits)

_SEGWIT_HRPS = ("bc", "tb", "ltc")
_BECH32_MAX_CHARS = 90
_BECH32_ALPHABET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_VALUE = {c: i for i, c in enumerate(_BECH32_ALPHABET)}
_BECH32_GENERATOR = (
    0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3
_CHECKSUM_CHARS = 6

_BASE58_PREFIXES = ("1", "3", "T")
_BASE58_ALPHABET = (
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
_BASE58_VALUE = {c: i for i, c in enumerate(_BASE58_ALPHABET)}
_BASE58CHECK_BYTES = 25


def canonical_text(value: str) -> str:
    """The canonical address for ``value`` (already stripped), or raise
    :class:`IdentifierRefused`."""
    if value[:2] in ("0x", "0X"):
        return _evm(value)
    if value.lower().startswith(tuple(h + "1" for h in _SEGWIT_HRPS)):
        return _segwit(value)
    if not _opaque_shape(value):
        _refuse("not a recognised wallet address")
    if value.startswith(_BASE58_PREFIXES):
        _check_base58(value)

    return value


def canonical(value: str) -> Canonical:
    """Canonical text and item of ``value`` (already stripped)."""
    text = canonical_text(value)

    return Canonical(text, (MatchItem(KIND, text_message(text),
                                      LEVEL_EXACT),))


def _refuse(message: str) -> NoReturn:
    raise IdentifierRefused("invalid-wallet", message)


def _evm(value: str) -> str:
    digits = value[2:]
    if len(digits) != 40 or not _HEX.issuperset(digits):
        _refuse("an 0x address needs exactly 40 hex digits")

    lower = digits.lower()
    if digits not in (lower, digits.upper()) and digits != _eip55(lower):
        raise IdentifierRefused(
            "bad-checksum", "mixed-case EVM address fails its EIP-55 "
            "checksum")

    return "0x" + lower


def _eip55(lower: str) -> str:
    """The EIP-55 spelling: a letter is upper case where the matching
    nibble of Keccak-256(lower-case hex) is 8 or more."""
    digest = keccak.new(digest_bits=256, data=lower.encode("ascii"))
    nibbles = digest.hexdigest()

    return "".join(c.upper() if int(n, 16) >= 8 else c
                   for c, n in zip(lower, nibbles))


def _opaque_shape(value: str) -> bool:
    if not OPAQUE_MIN_CHARS <= len(value) <= OPAQUE_MAX_CHARS:
        return False

    return all("!" <= c <= "~" for c in value)


# Bech32 / bech32m (BIP 173, BIP 350).

def _segwit(value: str) -> str:
    address = value.lower()
    if value not in (address, value.upper()):
        _refuse("a bech32 address may not mix upper and lower case")
    if len(address) > _BECH32_MAX_CHARS:
        _refuse("a bech32 address is at most 90 characters")

    hrp, _, data = address.rpartition("1")
    if hrp not in _SEGWIT_HRPS or len(data) < 1 + _CHECKSUM_CHARS:
        _refuse("malformed bech32 address")
    if not all(c in _BECH32_VALUE for c in data):
        _refuse("character outside the bech32 alphabet")
    groups = [_BECH32_VALUE[c] for c in data]
    _check_witness(hrp, groups)

    return address


def _check_witness(hrp: str, groups: list[int]) -> None:
    version = groups[0]
    wanted = _BECH32_CONST if version == 0 else _BECH32M_CONST
    if version > 16 or _polymod(_hrp_groups(hrp) + groups) != wanted:
        _refuse("bech32 checksum does not verify")

    length = _program_length(groups[1:-_CHECKSUM_CHARS])
    if not 2 <= length <= 40 or (version == 0 and length not in (20, 32)):
        _refuse("bad witness program length")


def _hrp_groups(hrp: str) -> list[int]:
    """The human-readable part as checksummed: high bits, 0, low bits."""
    high = [ord(c) >> 5 for c in hrp]
    low = [ord(c) & 31 for c in hrp]

    return high + [0] + low


def _polymod(groups: list[int]) -> int:
    """BCH checksum over GF(32): the remainder after dividing by the
    generator; a valid string leaves the variant's constant."""
    residue = 1
    for group in groups:
        top = residue >> 25
        residue = (residue & 0x1FFFFFF) << 5 ^ group
        for bit, term in enumerate(_BECH32_GENERATOR):
            if top >> bit & 1:
                residue ^= term

    return residue


def _program_length(groups: list[int]) -> int:
    """Bytes carried by 5-bit ``groups``; -1 if the padding is invalid
    (more than 4 bits, or not all zero)."""
    length, pad = divmod(len(groups) * 5, 8)
    if pad > 4 or (groups and groups[-1] & ((1 << pad) - 1)):
        return -1

    return length


# Base58 and base58check.

def _check_base58(value: str) -> None:
    if not all(c in _BASE58_VALUE for c in value):
        _refuse("character outside the base58 alphabet")

    raw = _base58_bytes(value)
    if len(raw) != _BASE58CHECK_BYTES:
        return
    payload, checksum = raw[:-4], raw[-4:]
    digest = hashlib.sha256(hashlib.sha256(payload).digest()).digest()
    if digest[:4] != checksum:
        _refuse("base58check checksum does not verify")


def _base58_bytes(value: str) -> bytes:
    number = 0
    for c in value:
        number = number * 58 + _BASE58_VALUE[c]
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    zeros = len(value) - len(value.lstrip("1"))

    return bytes(zeros) + body
