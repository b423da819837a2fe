"""Which addresses a webhook may reach: public ones, and loopback where its setting allows it (tests,
local receivers). A host is judged by what a client would dial: an IP literal in any spelling the
resolver reads (2852039166, 0xa9fea9fe, 0251.0376.0251.0376 and 169.254.43518 are all
169.254.169.254), an IPv6 address by the IPv4 address inside it, a name by every address it resolves
to. Checked when the URL is set and again, on the addresses then dialled, at every delivery."""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# AWS, Azure, GCP and Oracle on 169.254.169.254, AWS over IPv6, Alibaba Cloud (in 100.64.0.0/10)
_METADATA = frozenset(ipaddress.ip_address(text) for text in ("169.254.169.254", "fd00:ec2::254",
                                                               "100.100.100.200"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv4 through a NAT64 gateway (RFC 6052)
KINDS = {"loopback": "a loopback address", "metadata": "the cloud instance metadata address",
         "unspecified": "an unspecified address", "link-local": "a link-local address",
         "multicast": "a multicast address", "shared": "a shared (carrier-grade NAT) address",
         "reserved": "a reserved address", "private": "a private address"}


class RefusedAddress(ValueError):
    """A host that is, or resolves to, an address webhooks may not reach."""

    def __init__(self, host: str, address: IPAddress | None, kind: str) -> None:
        self.kind = kind  # a key of KINDS: what logs and batch errors say, never the address
        shown = address is not None and str(address) != host  # a spelling or a name: say what it is
        super().__init__(f"{host!r} is {address}, {KINDS[kind]}" if shown else f"{host!r} is {KINDS[kind]}")


def refusal(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why webhooks may not reach `address` (a key of KINDS), or None when they may."""
    address = _embedded_ipv4(address) or address
    if address.is_loopback:
        return None if allow_loopback else "loopback"
    if address in _METADATA:
        return "metadata"
    if address.is_unspecified:
        return "unspecified"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address in _SHARED:
        return "shared"
    if address.is_reserved:
        return "reserved"
    if address.is_private or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local):
        return "private"
    return None if address.is_global else "reserved"


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one reaches: IPv4-mapped, 6to4 or NAT64."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.ipv4_mapped or address.sixtofour


def literal(host: str) -> IPAddress | None:
    """The address a URL's host is by itself, or None for a name. IPv4 is read as the resolver,
    browsers and curl read it (inet_aton: decimal, hex, octal, fewer than four parts, a final dot)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host.removesuffix(".")))
    except (OSError, ValueError):
        return None


def is_loopback_host(host: str) -> bool:
    """localhost and *.localhost (loopback by definition, RFC 6761), or a loopback literal."""
    name = host.lower().removesuffix(".")
    address = literal(host)
    return (name == "localhost" or name.endswith(".localhost")
            or (address is not None and refusal(address) == "loopback"))


def resolve(host: str, port: int, *, allow_loopback: bool = False) -> list[IPAddress]:
    """Every address `host` stands for, in the resolver's order, each one allowed. RefusedAddress for
    the first that is not; socket.gaierror (an OSError) when a name does not resolve."""
    address = literal(host)
    if is_loopback_host(host) and not allow_loopback:
        raise RefusedAddress(host, address, "loopback")
    if address is not None:
        addresses = [address]
    else:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))
    for address in addresses:
        kind = refusal(address, allow_loopback=allow_loopback)
        if kind is not None:
            raise RefusedAddress(host, address, kind)
    return addresses
