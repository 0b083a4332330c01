from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callgrid.errors import PayloadTooLarge


class BodySizeLimit:
    """Refuses request bodies over `max_bytes` with 413, whether announced or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                return await self._too_large(scope, receive, send)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge(f"the request body exceeds {self.max_bytes} bytes", field="body")
            return message

        await self.app(scope, limited_receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        from fastapi.responses import JSONResponse

        body = {"type": "about:blank", "title": "Payload Too Large", "status": 413,
                "detail": f"the request body exceeds {self.max_bytes} bytes"}
        await JSONResponse(body, status_code=413, media_type="application/problem+json")(scope, receive, send)
