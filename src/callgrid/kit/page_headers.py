"""The headers of every HTML page Callgrid serves (rooms, replays, booking pages, /docs,
/redoc, not-found pages, the picker), added to whatever text/html response passes by:

- `Content-Security-Policy`: the page's own (each page says what it loads), or, for a page
  that gives none, one that loads nothing but this origin's styles and images; either way with
  `frame-ancestors` from `CALLGRID_FRAME_ANCESTORS` (default `'self'`: no other site frames a
  page; list origins to embed booking pages in them).
- `X-Frame-Options` for browsers without `frame-ancestors`, when it can say the same.
- `X-Content-Type-Options: nosniff`, and `Referrer-Policy: no-referrer`: tokens in a page's
  address (join, manage, booking tokens, `?token=`, `?key=`) never leave in a `Referer`.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_FRAME_ANCESTORS = "'self'"
# Loads nothing but this origin's styles and images, runs nothing.
FALLBACK_POLICY = "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'"

def _frame_options(frame_ancestors: str) -> bytes | None:
    return {"'none'": b"DENY", "'self'": b"SAMEORIGIN"}.get(frame_ancestors)


class PageHeaders:
    """ASGI middleware: the headers above on every text/html response."""

    def __init__(self, app: ASGIApp, frame_ancestors: str = DEFAULT_FRAME_ANCESTORS):
        self.app = app
        self.frame_ancestors = frame_ancestors  # checked by the settings (callgrid.config)
        self.frame_options = _frame_options(self.frame_ancestors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                if any(name.lower() == b"content-type" and value.startswith(b"text/html") for name, value in headers):
                    message["headers"] = self.page_headers(headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def page_headers(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        given = {name.lower(): value for name, value in headers}
        kept = [(name, value) for name, value in headers if name.lower() != b"content-security-policy"]
        policy = given.get(b"content-security-policy", FALLBACK_POLICY.encode()).decode("latin-1").strip().rstrip(";")
        if "frame-ancestors" not in policy:
            policy = f"{policy}; frame-ancestors {self.frame_ancestors}"
        kept.append((b"content-security-policy", policy.encode("latin-1")))
        if b"x-frame-options" not in given and self.frame_options is not None:
            kept.append((b"x-frame-options", self.frame_options))
        if b"x-content-type-options" not in given:
            kept.append((b"x-content-type-options", b"nosniff"))
        if b"referrer-policy" not in given:
            kept.append((b"referrer-policy", b"no-referrer"))
        return kept
