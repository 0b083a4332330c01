"""Domain errors carry their HTTP status; each API renders them in its own shape."""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class CallgridError(Exception):
    status_code = 400
    title = "Bad Request"

    def __init__(self, message: str, *, field: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra or {}

    @property
    def detail(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class BadRequest(CallgridError):
    status_code = 400
    title = "Bad Request"


class Unauthorized(CallgridError):
    status_code = 401
    title = "Unauthorized"


class NotFound(CallgridError):
    status_code = 404
    title = "Not Found"


class Conflict(CallgridError):
    status_code = 409
    title = "Conflict"


STATUS_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
}


def field_name(loc: tuple) -> str:
    """`("body", "participants", 0, "role")` -> `participants[0].role`."""
    # "[key]" is where pydantic puts a bad dictionary key: the key itself names the field.
    parts = [p for p in loc if p not in ("body", "query", "header", "path", "[key]")]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def validation_to_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors():
        message = error.get("msg", "is invalid")
        field = field_name(tuple(error.get("loc", ())))
        if error.get("type") == "json_invalid":
            # Its location is a character position, not a field.
            field, message = "body", "the body is not valid JSON"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        errors.append({"field": field, "message": message})
    return errors


def problem(status: int, detail: str, *, errors: list[dict[str, str]] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": STATUS_TITLES.get(status, "Error"), "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


Renderer = Callable[[int, str, list[dict[str, str]], dict[str, Any]], JSONResponse]


def render_problem(status: int, detail: str, errors: list[dict[str, str]], extra: dict[str, Any]) -> JSONResponse:
    return problem(status, detail, errors=errors, **extra)


class ErrorRenderers:
    """Which API's error shape a path gets: the longest registered prefix wins."""

    def __init__(self, default: Renderer = render_problem):
        self.default = default
        self.by_prefix: list[tuple[str, Renderer]] = []

    def register(self, prefix: str, renderer: Renderer) -> None:
        self.by_prefix.append((prefix, renderer))
        self.by_prefix.sort(key=lambda item: len(item[0]), reverse=True)

    def for_path(self, path: str) -> Renderer:
        for prefix, renderer in self.by_prefix:
            if path.startswith(prefix):
                return renderer
        return self.default


def install_error_handlers(app: FastAPI, renderers: ErrorRenderers) -> None:
    def render(request: Request, status: int, detail: str, errors: list | None = None, extra: dict | None = None):
        # The request's id (callgrid.observability.request_id) goes in every error body; each
        # API's renderer names it its own way.
        request_id = (request.scope.get("state") or {}).get("request_id")
        if request_id is not None:
            extra = {**(extra or {}), "request_id": request_id}
        return renderers.for_path(request.url.path)(status, detail, errors or [], extra or {})

    @app.exception_handler(CallgridError)
    async def on_domain_error(request: Request, exc: CallgridError):
        errors = [{"field": exc.field, "message": exc.message}] if exc.field else []
        return render(request, exc.status_code, exc.detail, errors, exc.extra)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError):
        errors = validation_to_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
        return render(request, 400, detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else STATUS_TITLES.get(exc.status_code, "Error")
        response = render(request, exc.status_code, detail)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response
