"""Single IP addresses (input kind ``ip``).

Canonical form: the address as :mod:`ipaddress` prints it (dotted quad,
or compressed lower-case IPv6), after three foldings:

* a zone id (``fe80::1%eth0``) is dropped, since it names an interface
  on one host and never part of an address another lab can see;
* an IPv4-mapped IPv6 address (``::ffff:81.2.69.5``) becomes IPv4;
* nothing else: an IPv4 octet with a leading zero is refused rather than
  guessed at, because some parsers read it as octal.

Addresses outside the public unicast space are refused with the reason
``reserved-range``. The explicit network lists below pin that decision
so it does not move with the Python version's own ``is_global`` table.
"""
from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv6Address

from ..encoding import ip_message
from ..errors import IdentifierRefused

__all__ = ["KIND_V4", "KIND_V6", "KINDS", "parse", "canonical_text",
           "match_parts"]

KIND_V4 = "ip4.addr.c1"
KIND_V6 = "ip6.addr.c1"
KINDS = (KIND_V4, KIND_V6)

_REFUSED_V4 = tuple(ipaddress.IPv4Network(net) for net in (
    "0.0.0.0/8",        # "this network", unspecified
    "10.0.0.0/8",       # RFC 1918
    "100.64.0.0/10",    # RFC 6598 shared address space (CGNAT)
    "127.0.0.0/8",      # loopback
    "169.254.0.0/16",   # link-local
    "172.16.0.0/12",    # RFC 1918
    "192.0.0.0/24",     # IETF protocol assignments
    "192.0.2.0/24",     # documentation (TEST-NET-1)
    "192.168.0.0/16",   # RFC 1918
    "198.18.0.0/15",    # benchmarking
    "198.51.100.0/24",  # documentation (TEST-NET-2)
    "203.0.113.0/24",   # documentation (TEST-NET-3)
    "224.0.0.0/4",      # multicast
    "240.0.0.0/4",      # reserved, includes limited broadcast
))
_REFUSED_V6 = tuple(ipaddress.IPv6Network(net) for net in (
    "::/8",             # unspecified, loopback, IPv4-compatible
    "64:ff9b:1::/48",   # local-use IPv4/IPv6 translation
    "100::/64",         # discard-only
    "2001:db8::/32",    # documentation
    "3fff::/20",        # documentation (RFC 9637)
    "fc00::/7",         # unique local
    "fe80::/10",        # link-local
    "fec0::/10",        # site-local (deprecated)
    "ff00::/8",         # multicast
))


def parse(value: str) -> IPv4Address | IPv6Address:
    """The canonical address for ``value`` (already stripped), or raise
    :class:`IdentifierRefused`."""
    if "/" in value:
        raise IdentifierRefused(
            "not-an-address", "a range, not a single address")

    addr = _parse_address(_strip_zone(value))
    if isinstance(addr, IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if _is_reserved(addr):
        raise IdentifierRefused(
            "reserved-range",
            "address in a reserved, private or special-purpose range")

    return addr


def canonical_text(value: str) -> str:
    return str(parse(value))


def match_parts(value: str) -> tuple[tuple[str, bytes], ...]:
    """(match kind, hash-to-group message) pairs for ``value``."""
    addr = parse(value)
    kind = KIND_V4 if addr.version == 4 else KIND_V6
    message = ip_message(addr.version, addr.max_prefixlen, addr.packed)

    return ((kind, message),)


def _strip_zone(value: str) -> str:
    address, sep, zone = value.partition("%")
    if sep and (":" not in address or not zone):
        raise IdentifierRefused("invalid-ip", "not an IP address")

    return address


def _parse_address(text: str) -> IPv4Address | IPv6Address:
    if ":" not in text and _has_leading_zero_octet(text):
        raise IdentifierRefused(
            "leading-zero-octet",
            "IPv4 octet with a leading zero (octal or decimal?)")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise IdentifierRefused("invalid-ip", "not an IP address") from None


def _has_leading_zero_octet(text: str) -> bool:
    octets = text.split(".")
    if not all(part.isascii() and part.isdigit() for part in octets):
        return False

    return any(len(part) > 1 and part.startswith("0") for part in octets)


def _is_reserved(addr: IPv4Address | IPv6Address) -> bool:
    refused = _REFUSED_V4 if addr.version == 4 else _REFUSED_V6
    if any(addr in net for net in refused):
        return True

    return not addr.is_global or addr.is_multicast
