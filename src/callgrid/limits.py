"""Bounds every request before it reaches an API: body size, and text a database can store.

NUL (U+0000) and lone UTF-16 surrogates are refused everywhere because PostgreSQL cannot
store them in text: without this, one request would succeed on SQLite and fail on PostgreSQL.
"""

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callgrid.errors import ErrorRenderers, field_name

# JSON escapes that may spell unstorable text: `\u0000`, or a surrogate `\uD800`..`\uDFFF`.
SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
UNSTORABLE = "must not contain NUL characters or unpaired surrogates"


def storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unstorable_path(value: Any, path: tuple = ()) -> tuple | None:
    """Where in a parsed JSON document the first unstorable string (key or value) is."""
    if isinstance(value, str):
        return None if storable(value) else path
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (found := unstorable_path(item, (*path, index))) is not None:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            if not storable(key):
                return (*path, key.encode("utf-8", "replace").decode())
            if (found := unstorable_path(item, (*path, key))) is not None:
                return found
    return None


class RequestGuard:
    def __init__(self, app: ASGIApp, *, max_bytes: int, renderers: ErrorRenderers):
        self.app = app
        self.max_bytes = max_bytes
        self.renderers = renderers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        query = scope.get("query_string", b"")
        if b"%00" in query:
            names = [name for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if "\x00" in name + value]
            return await self._refuse(scope, receive, send, 400, names[0] if names else "query", UNSTORABLE)
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                return await self._refuse(scope, receive, send, 413, "body", f"must be at most {self.max_bytes} bytes")

        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await self._refuse(scope, receive, send, 413, "body", f"must be at most {self.max_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if SUSPECT_ESCAPE.search(body):
            try:
                path = unstorable_path(json.loads(body))
            except ValueError:
                path = None  # not JSON: the API says so itself
            if path is not None:
                return await self._refuse(scope, receive, send, 400, field_name(path), UNSTORABLE)

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, field: str, message: str) -> None:
        render = self.renderers.for_path(scope.get("path", ""))
        request_id = (scope.get("state") or {}).get("request_id")
        extra = {"request_id": request_id} if request_id is not None else {}
        response = render(status, f"{field}: {message}", [{"field": field, "message": message}], extra)
        await response(scope, receive, send)
