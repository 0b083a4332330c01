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


def is_public(address: IPAddress) -> bool:
    """Only globally routable unicast addresses (not loopback, private, link-local, CGNAT, multicast, reserved)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _refuse(address: IPAddress) -> TargetError:
    return TargetError(
        f"resolves to {address}, a private, loopback or link-local address; "
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
