"""Which budget a request spends, and whose: decided from the path, the method and the
`Authorization` header alone (before routing, authentication or the body), so that a refused
request costs nothing else.

| budget | whose | requests |
| --- | --- | --- |
| `joins` | address | a room's live socket (`/v1/rooms/{id}/live`) |
| `bookings` | address | the public booking writes: `POST /book/...`, `POST /bookings/{token}/...` |
| `public` | address | booking pages and their slots, `/bookings/{token}`, room and replay pages, a room's `join-info` and `replay` data, and any request without an API key |
| `tokens` | API key | `POST /v1/rooms/{id}/join-tokens`, `.../replay-tokens`, `POST /api/v1/api-keys` |
| `api` | API key | every other request with a key |

Probes, metrics, static files and the API documents spend nothing.
"""

import hashlib
import ipaddress
from dataclasses import dataclass

from limits import RateLimitItem, parse_many

BUDGETS = ("api", "tokens", "public", "bookings", "joins")

UNCOUNTED = ("/static/", "/docs", "/redoc", "/openapi.json", "/healthz", "/readyz", "/metrics")
# GET /v1/rooms/{id}/<these>: read with a join or replay token, no API key.
PUBLIC_ROOM_READS = frozenset({"join-info", "replay"})
# POST /v1/rooms/{id}/<these>: tokens handed out.
ROOM_TOKENS = frozenset({"join-tokens", "replay-tokens"})


@dataclass(frozen=True, slots=True)
class Budget:
    name: str
    windows: tuple[RateLimitItem, ...]
    # `RateLimit-Policy`: every window of the budget, `100;w=1, 3000;w=60`.
    policy: bytes
    # Each window's key after whose it is, and its period: `limits`' own key (`key_for`) made
    # with one format instead of its joins.
    tails: tuple[tuple[str, int], ...]

    def keys(self, whose: str) -> list[tuple[str, int]]:
        return [(f"{self.name}/{whose}/{tail}", period) for tail, period in self.tails]


def parse_windows(text: str) -> tuple[RateLimitItem, ...]:
    """`"100/second;3000/minute"` (the `limits` notation) -> its windows; `""`: none."""
    return tuple(parse_many(text)) if text.strip() else ()


def make_budget(name: str, text: str) -> Budget | None:
    windows = parse_windows(text)
    if not windows:
        return None
    # Each window's counters are named by the budget (`limits`' namespace) and the amount.
    windows = tuple(type(item)(item.amount, item.multiples, namespace=name) for item in windows)
    policy = ", ".join(f"{item.amount};w={item.get_expiry()}" for item in windows).encode()
    tails = tuple((item.key_for("").partition("//")[2], item.get_expiry()) for item in windows)
    return Budget(name, windows, policy, tails)


def spender(scope) -> tuple[str, str] | None:
    """(budget, whose) for a request, or None when it spends nothing."""
    path: str = scope["path"]
    if scope["type"] == "websocket":
        return "joins", client_address(scope)
    method = scope["method"]
    if path.startswith(("/book/", "/bookings/")):
        return ("bookings" if method == "POST" else "public"), client_address(scope)
    if path.startswith("/rooms/"):
        return "public", client_address(scope)
    if path.startswith("/v1/rooms/"):
        parts = path.split("/")  # "", "v1", "rooms", id, what
        if len(parts) == 5:
            if parts[4] in PUBLIC_ROOM_READS and method in ("GET", "HEAD"):
                return "public", client_address(scope)
            if parts[4] in ROOM_TOKENS and method == "POST":
                return _by_key(scope, "tokens")
    elif path.startswith(UNCOUNTED):
        return None
    elif method == "POST" and path.rstrip("/") == "/api/v1/api-keys":
        return _by_key(scope, "tokens")
    return _by_key(scope, "api")


def _by_key(scope, budget: str) -> tuple[str, str]:
    key = api_key_id(scope)
    # Without a key the request is refused (401); its address pays for it.
    return (budget, key) if key is not None else ("public", client_address(scope))


def api_key_id(scope) -> str | None:
    """A name for the request's API key (`Authorization: Bearer <key>` or the key alone, as
    authentication reads it): a digest, so that no key reaches Redis."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if not token:
                scheme, token = b"bearer", scheme
            token = token.strip()
            if scheme.lower() != b"bearer" or not token:
                return None
            return hashlib.sha256(token).hexdigest()[:32]
    return None


def client_address(scope) -> str:
    """The client's address as the server saw it: behind a proxy, uvicorn has put the
    forwarded one there when the proxy is trusted (`FORWARDED_ALLOW_IPS`). IPv6 clients are
    counted by their /64, which one subscriber usually holds whole."""
    client = scope.get("client")
    host = client[0] if client else "unknown"
    if ":" in host:
        try:
            address = ipaddress.IPv6Address(host.partition("%")[0])
        except ValueError:
            return host
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return f"{ipaddress.IPv6Network((address, 64), strict=False).network_address}/64"
    return host
