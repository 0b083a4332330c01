"""The outermost middleware (pure ASGI: it adds a few microseconds to a request, no more):

- the request id: the client's `X-Request-ID` when it is a sane token (1 to 128 characters of
  letters, digits and `._:-`), else a new one; in `scope["state"]["request_id"]` (error bodies
  take it from there), in a context variable (every log record of the request carries it),
  and in the response's `X-Request-ID`;
- one log line when the response is sent: method, route template, status, duration in ms,
  organization id (set by authentication in `scope["state"]`), request id. Probes (`/healthz`,
  `/readyz`, `/metrics`) that succeed are logged at DEBUG;
- the request metrics (`observability.metrics`);
- every 401 gets `WWW-Authenticate: Bearer`;
- an exception no handler took becomes a 500 in the API's error shape, with the request id,
  and its traceback is logged with the request id.
"""

import logging
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callgrid.errors import ErrorRenderers
from callgrid.observability.logs import redact, request_id_var
from callgrid.observability.metrics import UNMATCHED, HttpMetrics

log = logging.getLogger("callgrid.http")

HEADER = b"x-request-id"
VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
WWW_AUTHENTICATE = (b"www-authenticate", b"Bearer")


def new_request_id() -> str:
    return os.urandom(16).hex()


def accepted_request_id(value: bytes | None) -> str | None:
    """The client's id when it is sane (and not something that looks like a secret)."""
    if not value or len(value) > 128:
        return None
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        return None
    if VALID.fullmatch(text) is None or redact(text) != text:
        return None
    return text


def route_template(scope: Scope) -> str | None:
    route = scope.get("route")
    return getattr(route, "path", None) if route is not None else None


# A path no route matched is logged with its long segments hidden: they may be tokens
# (`/bookings/<manage token>/nope`). A matched one is logged by its template.
_LONG_SEGMENT = re.compile(r"[^/]{16,}")


def logged_path(scope: Scope) -> str:
    return route_template(scope) or _LONG_SEGMENT.sub("***", scope["path"])


class RequestContext:
    def __init__(self, app: ASGIApp, *, renderers: ErrorRenderers, metrics: bool = True):
        self.app = app
        self.renderers = renderers
        self.metrics = HttpMetrics() if metrics else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        incoming = None
        for name, value in scope["headers"]:
            if name == HEADER:
                incoming = value
                break
        request_id = accepted_request_id(incoming) if incoming is not None else None
        if request_id is None:
            request_id = new_request_id()
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = request_id
        token = request_id_var.set(request_id)
        id_header = (HEADER, request_id.encode("ascii"))
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", ()))
                headers.append(id_header)
                if status == 401 and not any(name.lower() == b"www-authenticate" for name, _ in headers):
                    headers.append(WWW_AUTHENTICATE)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], logged_path(scope))
            if response_started:
                raise
            render = self.renderers.for_path(scope.get("path", ""))
            response = render(500, "internal server error", [], {"request_id": request_id})
            await response(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            method = scope["method"]
            if self.metrics is not None:
                self.metrics.observe(method, route or UNMATCHED, status, seconds)
            path = logged_path(scope)
            level = logging.DEBUG if status < 400 and path in PROBES else logging.INFO
            if log.isEnabledFor(level):
                organization = state.get("organization_id")
                log.log(
                    level,
                    "%s %s %d",
                    method,
                    path,
                    status,
                    extra={
                        "request_id": request_id,
                        "fields": {
                            "duration_ms": round(seconds * 1000, 1),
                            "organization_id": str(organization) if organization is not None else None,
                        },
                        "json_fields": {"method": method, "route": path, "status": status},
                    },
                )
            request_id_var.reset(token)
