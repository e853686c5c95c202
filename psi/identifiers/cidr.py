"""Address ranges in CIDR notation (input kind ``cidr``).

Canonical form: the network as :mod:`ipaddress` prints it
(``81.2.69.0/24``, ``2a00:1450::/32``). The address part follows the
``ip`` rules (zone id dropped, leading-zero octets refused), the prefix
length is plain decimal, and:

* host bits are masked, not refused: ``81.2.69.5/24`` is
  ``81.2.69.0/24``, with the note ``host-bits-masked`` so the summary
  can count how often a list was sloppy;
* an IPv4-mapped range (``::ffff:81.2.69.0/120``) becomes IPv4;
* a bare address is a range of one: ``/32`` or ``/128``.

A range is matched on fixed cells, never on its ancestors
(protocol.md 7: two ranges sharing a /16 share no address). It expands
*downward* into the cells of the smallest allowed level at least as long
as its own prefix: IPv4 levels /24 and /32, IPv6 levels /48, /64 and
/128. So a /22 is four /24 cells, a /27 is 32 addresses and a /40 is 256
/48 cells. A point in the ``ip`` kind emits its /24 (or /64 and /48)
cell, so it meets every range that covers that cell.

Refused, by reason:

* ``reserved-range``: any part of the range is private, shared (CGNAT),
  loopback, link-local, multicast, documentation or otherwise reserved;
* ``range-too-broad``: shorter than IPv4 /16 or IPv6 /40;
* ``too-many-cells``: more than :data:`MAX_CELLS` cells (an IPv6 /49 to
  /56 in /64 cells, say);
* ``invalid-cidr``: anything that does not parse.
"""
from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from ..errors import IdentifierRefused
from . import ip
from ._common import NOTE_HOST_BITS_MASKED, Canonical, MatchItem

__all__ = ["KINDS", "MAX_CELLS", "MIN_PREFIX", "parse", "canonical",
           "host_bits_set", "cell_items"]

KINDS = ip.KINDS
MAX_CELLS = 256
MIN_PREFIX = {4: 16, 6: 40}
# Allowed levels, coarsest first, per family.
_LEVELS = {4: (24, 32), 6: (48, 64, 128)}
_MAPPED_PREFIX = 96

Network = IPv4Network | IPv6Network


def parse(value: str) -> tuple[Network, bool]:
    """The canonical network for ``value`` (already stripped) and whether
    host bits were set, or raise :class:`IdentifierRefused`."""
    text, sep, length = value.partition("/")
    addr = _address(text)
    prefixlen = _prefixlen(length, addr) if sep else addr.max_prefixlen
    addr, prefixlen = _unmapped(addr, prefixlen)
    net = ipaddress.ip_network((addr, prefixlen), strict=False)
    _check(net)

    return net, net.network_address != addr


def canonical(value: str) -> Canonical:
    """Canonical text, cell items and notes of ``value``."""
    net, masked = parse(value)
    notes = (NOTE_HOST_BITS_MASKED,) if masked else ()

    return Canonical(str(net), cell_items(net), notes)


def host_bits_set(value: str) -> bool:
    """Whether ``value`` had host bits set (it is masked, not refused)."""
    return parse(value)[1]


def cell_items(net: Network) -> tuple[MatchItem, ...]:
    """The items of ``net`` split into cells of the nearest allowed
    level at least as long as its prefix, in address order."""
    level = next(p for p in _LEVELS[net.version] if p >= net.prefixlen)
    count = 1 << (level - net.prefixlen)
    if count > MAX_CELLS:
        raise IdentifierRefused(
            "too-many-cells",
            f"range expands to more than {MAX_CELLS} cells")

    first = int(net.network_address)
    step = 1 << (net.max_prefixlen - level)

    return tuple(ip.cell_item(net.version, first + n * step, level)
                 for n in range(count))


def _address(text: str) -> IPv4Address | IPv6Address:
    try:
        return ip.parse_address(text)
    except IdentifierRefused as exc:
        if exc.reason != "invalid-ip":
            raise
    raise IdentifierRefused(
        "invalid-cidr", "address part is not an IP address")


def _prefixlen(text: str, addr: IPv4Address | IPv6Address) -> int:
    plain = text.isascii() and text.isdigit()
    if not plain or (len(text) > 1 and text.startswith("0")):
        raise IdentifierRefused(
            "invalid-cidr", "prefix length must be a plain decimal number")

    prefixlen = int(text)
    if prefixlen > addr.max_prefixlen:
        raise IdentifierRefused(
            "invalid-cidr", "prefix length longer than the address")

    return prefixlen


def _unmapped(addr: IPv4Address | IPv6Address,
              prefixlen: int) -> tuple[IPv4Address | IPv6Address, int]:
    mapped = getattr(addr, "ipv4_mapped", None)
    if mapped is None or prefixlen < _MAPPED_PREFIX:
        return addr, prefixlen

    return mapped, prefixlen - _MAPPED_PREFIX


def _check(net: Network) -> None:
    if ip.is_reserved_network(net):
        raise IdentifierRefused(
            "reserved-range",
            "range reaches into a reserved, private or special-purpose "
            "range")
    if net.prefixlen < MIN_PREFIX[net.version]:
        raise IdentifierRefused(
            "range-too-broad",
            f"range broader than IPv4 /{MIN_PREFIX[4]} "
            f"or IPv6 /{MIN_PREFIX[6]}")
