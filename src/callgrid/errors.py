"""Domain errors carry their HTTP status; each API renders them in its own shape."""

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match


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


class Forbidden(CallgridError):
    status_code = 403
    title = "Forbidden"


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
    429: "Too Many Requests",
    500: "Internal Server Error",
}


# What pydantic puts in an error's location for the member of a union that was tried
# (`repeatingDays[0].str`, `.int`, `.function-after[...]`): its own names for types, not fields.
# Names our bodies also use for fields (`url`, `date`, `time`, ...) are left out: a field is
# never dropped for looking like a type.
_TYPE_TAGS = frozenset({
    "str", "int", "float", "bool", "bytes", "decimal", "none", "timedelta", "frozenset", "tuple",
    "constrained-str", "constrained-int", "constrained-float", "constrained-decimal", "constrained-bytes",
})
_TYPE_TAG = re.compile(r"^[a-z][a-z-]*\[.*\]$", re.DOTALL)


def _is_type_tag(part: object) -> bool:
    return isinstance(part, str) and (part in _TYPE_TAGS or bool(_TYPE_TAG.match(part)))


def field_name(loc: tuple) -> str:
    """`("body", "participants", 0, "role")` -> `participants[0].role`, as the client named it
    (aliases are what pydantic reports), without pydantic's names for the union members it tried."""
    # "[key]" is where pydantic puts a bad dictionary key: the key itself names the field.
    parts = [p for p in loc if p not in ("body", "query", "header", "path", "[key]")]
    if len(parts) > 1:
        parts = [parts[0], *(p for p in parts[1:] if not _is_type_tag(p))]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


# Pydantic's messages that name Python's types, in words a client understands.
_MESSAGES = {
    "uuid_type": "must be a UUID string",
    "uuid_parsing": "must be a UUID string",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dataclass_type": "must be an object",
    "is_instance_of": "has the wrong type",
}


def validation_to_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    for error in exc.errors():
        message = _MESSAGES.get(error.get("type", ""), error.get("msg", "is invalid"))
        field = field_name(tuple(error.get("loc", ())))
        if error.get("type") == "json_invalid":
            # Its location is a character position, not a field.
            field, message = "body", "the body is not valid JSON"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        if errors and errors[-1]["field"] == field and field != "body":
            # The members of a union, each refusing the value: one error, every rule in it.
            if message not in errors[-1]["message"]:
                errors[-1]["message"] += " or " + (message[0].lower() + message[1:] if message.startswith("Input ") else message)
            continue
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
        headers = dict(exc.headers or {})
        if exc.status_code == 405 and (allowed := allowed_methods(request)):
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed on this path; it takes {headers['Allow']}"
        response = render(request, exc.status_code, detail)
        for key, value in headers.items():
            response.headers[key] = value
        return response


_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method the request's path takes: each method that some route fully matches with
    it. (Starlette's own 405 names the methods of the first route whose path matched, one of
    several; included routers nest theirs, so each method is tried on the whole table.)"""
    scope = {"type": "http", "path": request.scope["path"], "root_path": request.scope.get("root_path", "")}
    return [
        method for method in _METHOD_ORDER
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in request.app.router.routes)
    ]
