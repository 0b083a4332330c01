"""The rate limits' ASGI middleware: spends a request's budget before anything else runs,
refuses it over budget, and tells the client where it stands.

Headers (the IETF draft `RateLimit` header fields, draft-ietf-httpapi-ratelimit-headers-06):
`RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds) of the budget's
window nearest exhaustion, and `RateLimit-Policy` listing every window (`100;w=1, 3000;w=60`),
on every counted answer. Over budget: `429` in the API's own error shape, with `Retry-After`.

If Redis fails, requests pass uncounted (logged once, retried after a second): a limit is
not worth an outage.
"""

import logging
import math
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callgrid.errors import ErrorRenderers
from callgrid.ratelimits.budgets import BUDGETS, Budget, client_address, make_budget, spender
from callgrid.ratelimits.guessing import Guessing
from callgrid.ratelimits.counters import MemoryCounters, RedisCounters

log = logging.getLogger("callgrid.ratelimits")

WHOSE = {"api": "API key", "tokens": "API key", "public": "address", "bookings": "address", "joins": "address"}
WHAT = {"api": "requests", "tokens": "token creations", "public": "requests", "bookings": "bookings", "joins": "joins"}
UNITS = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}
# Budgets spent by an API key (the others by an address).
KEY_BUDGETS = frozenset({"api", "tokens"})
# After Redis failed, requests pass uncounted this long before it is tried again.
PAUSE_AFTER_FAILURE = 1.0


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    headers: list[tuple[bytes, bytes]]
    detail: str = ""


class Limiter:
    def __init__(self, settings):
        texts = {name: getattr(settings, f"rate_limit_{name}") for name in BUDGETS}
        self.budgets: dict[str, Budget] = {
            name: budget for name, text in texts.items() if (budget := make_budget(name, text)) is not None
        }
        self.counters = (
            RedisCounters(settings.redis_url, settings.redis_prefix) if settings.redis_url else MemoryCounters()
        )
        self._paused_until = 0.0
        self._failing = False

    async def spend(self, budget_name: str, whose: str) -> Verdict | None:
        """The verdict on one more request of `whose` in the budget; None: not counted."""
        budget = self.budgets.get(budget_name)
        if budget is None:
            return None
        if self._paused_until and time.monotonic() < self._paused_until:
            return None
        try:
            counts = await self.counters.hit(budget.keys(whose))
        except RedisCounters.failures as exc:
            self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
            if not self._failing:
                self._failing = True
                log.warning("rate limits: Redis failed (%s: %s); requests pass uncounted until it answers",
                            type(exc).__name__, exc)
            return None
        if self._failing:
            self._failing, self._paused_until = False, 0.0
            log.warning("rate limits: Redis answers again; requests are counted")
        return verdict(budget, counts)

    async def close(self) -> None:
        await self.counters.close()


def verdict(budget: Budget, counts: list[tuple[int, float]]) -> Verdict:
    # The window nearest exhaustion is the one reported; of those over budget, the one that
    # resets last is the one to wait for.
    shown, over = None, None
    for item, (count, reset) in zip(budget.windows, counts):
        remaining = item.amount - count
        if shown is None or remaining < shown[1] or (remaining == shown[1] and reset > shown[2]):
            shown = (item, remaining, reset)
        if remaining < 0 and (over is None or reset > over[2]):
            over = (item, remaining, reset)
    item, remaining, reset = over or shown
    wait = max(1, math.ceil(reset))
    headers = [
        (b"ratelimit-limit", str(item.amount).encode()),
        (b"ratelimit-remaining", str(max(remaining, 0)).encode()),
        (b"ratelimit-reset", str(wait).encode()),
        (b"ratelimit-policy", budget.policy),
    ]
    if over is None:
        return Verdict(True, headers)
    headers.append((b"retry-after", str(wait).encode()))
    period = item.get_expiry()
    per = UNITS.get(period, f"{period} seconds")
    detail = (
        f"rate limit exceeded: at most {item.amount} {WHAT[budget.name]} per {per} for this "
        f"{WHOSE[budget.name]}; retry in {wait} second{'s' if wait != 1 else ''}"
    )
    return Verdict(False, headers, detail)


class RateLimits:
    def __init__(self, app: ASGIApp, *, limiter: Limiter, renderers: ErrorRenderers):
        self.app = app
        self.limiter = limiter
        self.renderers = renderers
        self.guessing = Guessing()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or (spent := spender(scope)) is None:
            return await self.app(scope, receive, send)
        budget, whose = spent
        by_key = budget in KEY_BUDGETS
        if by_key and (guessed := self.guessing.refusal(client_address(scope), whose)) is not None:
            return await self._refuse(scope, receive, send, Verdict(False, *guessed))
        found = await self.limiter.spend(budget, whose)
        if found is not None and not found.allowed:
            return await self._refuse(scope, receive, send, found)
        if scope["type"] == "websocket" or (found is None and not by_key):
            return await self.app(scope, receive, send)
        headers = found.headers if found is not None else []
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if headers:
                    message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)
        if by_key:
            await self._judge_key(scope, whose, status)

    async def _judge_key(self, scope: Scope, key: str, status: int) -> None:
        """A refused key spends its address's `public` budget (`guessing`)."""
        if status != 401:
            self.guessing.accepted(key)
            return
        address = client_address(scope)
        found = await self.limiter.spend("public", address)
        if found is not None and not found.allowed:
            seconds = int(dict(found.headers)[b"retry-after"])
            self.guessing.refuse(address, seconds, found.headers, found.detail.replace("requests per", "refused API keys per", 1))

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, found: Verdict) -> None:
        render = self.renderers.for_path(scope.get("path", ""))
        request_id = (scope.get("state") or {}).get("request_id")
        response = render(429, found.detail, [], {"request_id": request_id} if request_id is not None else {})
        headers = [*response.raw_headers, *found.headers]
        if scope["type"] == "http":
            response.raw_headers = headers
            return await response(scope, receive, send)
        # A socket is refused before its handshake, with an HTTP answer where the server can
        # send one (the ASGI denial response), else closed with 1013 (try again later).
        if "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": 429, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": response.body})
        else:
            await send({"type": "websocket.close", "code": 1013, "reason": "rate limit exceeded"})
