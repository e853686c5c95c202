"""Single IP addresses (input kind ``ip``).

Canonical form: the address as :mod:`ipaddress` prints it (dotted quad,
or compressed lower-case IPv6), after three foldings:

* a zone id (``fe80::1%eth0``) is dropped, since it names an interface
  on one host and never part of an address another lab can see;
* an IPv4-mapped IPv6 address (``::ffff:81.2.69.5``) becomes IPv4;
* nothing else: an IPv4 octet with a leading zero is refused rather than
  guessed at, because some parsers read it as octal.

An address is matched on itself (level ``exact``) and on the fixed cells
it lies in (protocol.md 7): its /24 for IPv4, its /64 and /48 for IPv6.
Each cell is its own match kind, and the report says which level
matched: "same /24" is not "same address".

Addresses outside the public unicast space are refused with the reason
``reserved-range``. The decision rests on the network lists below alone,
not on the running Python's ``is_global`` table, which has changed
between releases: two labs on different Pythons must refuse the same
addresses, or one would upload items the other never can.
"""
from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from ..encoding import ip_message
from ..errors import IdentifierRefused
from ._common import (
    LEVEL_EXACT,
    LEVEL_IP4_24,
    LEVEL_IP6_48,
    LEVEL_IP6_64,
    Canonical,
    MatchItem,
)

__all__ = [
    "KIND_V4", "KIND_V4_CELL24", "KIND_V6", "KIND_V6_CELL64",
    "KIND_V6_CELL48", "KINDS", "CELL_PREFIXES", "parse", "parse_address",
    "canonical", "canonical_text", "point_items", "cell_item",
    "is_reserved_network",
]

KIND_V4 = "ip4.addr.c1"
KIND_V4_CELL24 = "ip4.cell24.c1"
KIND_V6 = "ip6.addr.c1"
KIND_V6_CELL64 = "ip6.cell64.c1"
KIND_V6_CELL48 = "ip6.cell48.c1"
KINDS = (KIND_V4, KIND_V4_CELL24, KIND_V6, KIND_V6_CELL64, KIND_V6_CELL48)

# (family, prefix length) -> (match kind, level), for every allowed level.
_LEVEL_KINDS = {
    (4, 32): (KIND_V4, LEVEL_EXACT),
    (4, 24): (KIND_V4_CELL24, LEVEL_IP4_24),
    (6, 128): (KIND_V6, LEVEL_EXACT),
    (6, 64): (KIND_V6_CELL64, LEVEL_IP6_64),
    (6, 48): (KIND_V6_CELL48, LEVEL_IP6_48),
}
# The cells a single address lies in, per family.
CELL_PREFIXES = {4: (24,), 6: (64, 48)}
_BITS = {4: 32, 6: 128}

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
    "::/8",             # unspecified, loopback, IPv4-compatible, mapped
    "64:ff9b:1::/48",   # local-use IPv4/IPv6 translation
    "100::/64",         # discard-only
    "2001::/23",        # IETF protocol assignments (Teredo, ORCHID, ...)
    "2001:db8::/32",    # documentation
    "3fff::/20",        # documentation (RFC 9637)
    "fc00::/7",         # unique local
    "fe80::/10",        # link-local
    "fec0::/10",        # site-local (deprecated)
    "ff00::/8",         # multicast
))
# The same as first and last address, as integers: checking a network
# against them is the hot path of reading an address list.
_REFUSED_SPANS = {
    version: tuple((int(n.network_address), int(n.broadcast_address))
                   for n in nets)
    for version, nets in ((4, _REFUSED_V4), (6, _REFUSED_V6))
}


def parse(value: str) -> IPv4Address | IPv6Address:
    """The canonical address for ``value`` (already stripped), or raise
    :class:`IdentifierRefused`."""
    if "/" in value:
        raise IdentifierRefused(
            "not-an-address", "a range, not a single address")

    addr = parse_address(value)
    if isinstance(addr, IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if _overlaps_refused(addr.version, int(addr), int(addr)):
        raise IdentifierRefused(
            "reserved-range",
            "address in a reserved, private or special-purpose range")

    return addr


def canonical(value: str) -> Canonical:
    """Canonical text and items of ``value`` (already stripped)."""
    addr = parse(value)

    return Canonical(str(addr), point_items(addr))


def canonical_text(value: str) -> str:
    return str(parse(value))


def point_items(addr: IPv4Address | IPv6Address) -> tuple[MatchItem, ...]:
    """The address item, then one item per cell it lies in."""
    prefixes = (addr.max_prefixlen, *CELL_PREFIXES[addr.version])

    return tuple(cell_item(addr.version, int(addr), prefixlen)
                 for prefixlen in prefixes)


def cell_item(version: int, address: int, prefixlen: int) -> MatchItem:
    """The item of the cell (or, at full length, the address) of the
    given allowed prefix length that holds ``address``."""
    kind, level = _LEVEL_KINDS[(version, prefixlen)]
    host_bits = _BITS[version] - prefixlen
    network = address >> host_bits << host_bits
    packed = network.to_bytes(_BITS[version] // 8, "big")

    return MatchItem(kind, ip_message(version, prefixlen, packed), level)


def parse_address(text: str) -> IPv4Address | IPv6Address:
    """An address without folding or range checks: zone id dropped,
    leading-zero octets refused."""
    address = _strip_zone(text)
    if ":" not in address and _has_leading_zero_octet(address):
        raise IdentifierRefused(
            "leading-zero-octet",
            "IPv4 octet with a leading zero (octal or decimal?)")
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        raise IdentifierRefused("invalid-ip", "not an IP address") from None


def is_reserved_network(net: IPv4Network | IPv6Network) -> bool:
    """Whether any part of ``net`` is outside public unicast space."""
    return _overlaps_refused(net.version, int(net.network_address),
                             int(net.broadcast_address))


def _overlaps_refused(version: int, first: int, last: int) -> bool:
    return any(first <= high and low <= last
               for low, high in _REFUSED_SPANS[version])


def _strip_zone(value: str) -> str:
    address, sep, zone = value.partition("%")
    if sep and (":" not in address or not zone):
        raise IdentifierRefused("invalid-ip", "not an IP address")

    return address


def _has_leading_zero_octet(text: str) -> bool:
    octets = text.split(".")
    if not all(part.isascii() and part.isdigit() for part in octets):
        return False

    return any(len(part) > 1 and part.startswith("0") for part in octets)
