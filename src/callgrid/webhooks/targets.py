"""Webhook target URLs: syntax, and the refusal of private, loopback and link-local addresses.

Checked when an endpoint is created or its URL changed, and again before every delivery
after resolving the name, whose answer the request is then pinned to (so a name cannot
resolve to a public address for the check and a private one for the connection).
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetError(ValueError):
    pass


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # a name, or an address without brackets
    port: int


def parse_url(url: str) -> Target:
    """A syntactically valid http(s) target, or TargetError saying why not."""
    if any(c.isspace() for c in url):
        raise TargetError("must not contain whitespace")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise TargetError("must be an http or https URL")
    if not parts.hostname:
        raise TargetError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise TargetError("must not carry credentials; send them in `headers` instead")
    if parts.fragment:
        raise TargetError("must not have a #fragment")
    return Target(parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80))


def ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


# IPv6 prefixes whose last 32 bits are an IPv4 address that the packet reaches: IPv4-compatible
# (::a.b.c.d, deprecated), IPv4-translated (SIIT) and NAT64's well-known prefix.
_CARRY_LAST_32 = tuple(
    ipaddress.IPv6Network(n) for n in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96")
)
# NAT64's local-use prefix (RFC 8215): where its IPv4 sits depends on the operator's prefix length.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def carried_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address embeds and leads to: IPv4-mapped, IPv4-compatible,
    IPv4-translated, NAT64 (64:ff9b::/96), 6to4 (2002::/16) and Teredo's server and client."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    if any(address in network for network in _CARRY_LAST_32):
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []


def is_public(address: IPAddress) -> bool:
    """Only globally routable unicast addresses (not loopback, private, link-local, CGNAT,
    multicast, reserved); an IPv6 address that carries an IPv4 one is judged by that one too."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _LOCAL_NAT64:
            return False
        carried = carried_ipv4(address)
        if carried:
            return all(is_public(inner) for inner in carried)
    return address.is_global and not address.is_multicast


def _refuse(address: IPAddress) -> TargetError:
    carried = carried_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else []
    shown = f"{address} (which carries {', '.join(map(str, carried))})" if carried else str(address)
    return TargetError(
        f"resolves to {shown}, a private, loopback or link-local address; "
        "set CALLGRID_WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow such targets"
    )


async def resolve(host: str, port: int, timeout: float) -> list[IPAddress]:
    literal = ip_literal(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if address not in seen:
            seen.append(address)
    return seen


async def check_at_creation(target: Target) -> None:
    """Refuse a target that is or resolves to a non-public address.

    A name that does not resolve now is accepted: it is resolved and checked again before
    every delivery.
    """
    if target.host == "localhost" or target.host.endswith(".localhost"):
        raise TargetError("is a loopback name; set CALLGRID_WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow such targets")
    try:
        addresses = await resolve(target.host, target.port, timeout=2.0)
    except (OSError, TimeoutError, UnicodeError):
        return
    for address in addresses:
        if not is_public(address):
            raise _refuse(address)


async def resolve_for_delivery(target: Target, timeout: float) -> IPAddress:
    """The address to connect to: every address the name resolves to must be public."""
    try:
        addresses = await resolve(target.host, target.port, timeout)
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise TargetError(f"cannot resolve {target.host}: {exc or type(exc).__name__}") from None
    if not addresses:
        raise TargetError(f"cannot resolve {target.host}")
    for address in addresses:
        if not is_public(address):
            raise _refuse(address)
    return addresses[0]
