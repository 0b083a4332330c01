"""The OpenAPI document (`/openapi.json`) and the pages that show it (`/docs`, `/redoc`).

FastAPI writes the document from the routes; `install` takes it from there, once per set of
routes, so that it says what the service really does, for routers written later too:

- **Security.** Routes that take an API key depend on `callgrid.tenancy.auth`'s bearer scheme,
  so FastAPI declares it (`components.securitySchemes`) and lists it in each of those
  operations' `security`; the pages, health and the room page's own `join-info` have none.
- **Errors.** FastAPI's 422 `HTTPValidationError` goes: validation errors are 400s. Each
  operation gets the errors it can answer, in the shape its path gets them (`ErrorRenderers`:
  the video-calls API's `{code, type, statusMessage, message, success}`, RFC 9457 problem
  details elsewhere; the shape is read off the renderer itself, so a prefix registered later
  gets its own without an edit here):
    - 400 on every operation (a bad parameter or body, or a NUL in the query string, which
      `RequestGuard` refuses on any path);
    - 401 where the operation declares security;
    - 403 where it refuses host keys (`AdminPrincipal`, whose `security` names the role admin,
      docs/roles.md; or declared on its route);
    - 404 where the path has parameters (an id that names nothing, or another organization's);
    - 413 where there is a request body (larger than `CALLGRID_MAX_BODY_BYTES`);
    - 429 on every operation that spends a rate-limit budget (`callgrid.ratelimits`), with
      `Retry-After` and the `RateLimit-*` headers;
    - and what `ERRORS` below lists for the operation (e.g. 409, or 404 for an id in the body);
    - 409 where it takes an `Idempotency-Key` (one used for a different request).
  An operation missing from `ERRORS` that declares no 4xx of its own (`responses={409: {...}}`
  on its route: a description is enough, the body's schema is filled in here) is taken to
  answer 404 and 409 too when it writes (POST, PUT, PATCH, DELETE): a route that knows better
  says so on its route or in `ERRORS`.
- **Pages.** Swagger UI and ReDoc are served from the `fastapi-offline` package's copies of
  their files (`/docs/assets/`), so the pages work with no other host reachable.
"""

import json
from html import escape
from collections.abc import Callable
from functools import lru_cache
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import FileResponse, HTMLResponse

from callgrid.errors import ErrorRenderers, Renderer
from callgrid.idempotency.requests import HEADER as IDEMPOTENCY_KEY
from callgrid.ratelimits.budgets import UNCOUNTED
from callgrid.tenancy.auth import ADMIN_ROLE, FORBIDDEN_RESPONSE

REF = "#/components/schemas/"
WRITES = {"post", "put", "patch", "delete"}
METHODS = WRITES | {"get", "head", "options", "trace"}

ERROR_DESCRIPTIONS = {
    400: "A parameter or the body breaks a rule (the answer names the field)",
    401: "The `Authorization` header carries no API key, or one that is not valid",
    403: "Not allowed",
    404: "Nothing with that id in the key's organization",
    409: "It conflicts with the current state",
    410: "Gone",
    413: "The body is larger than the server accepts (`CALLGRID_MAX_BODY_BYTES`)",
    429: "Over the rate limit (`CALLGRID_RATE_LIMITS`): the budget's window is spent; retry after `Retry-After` seconds",
}

DESCRIPTION = """\
Operations marked with a lock take an API key (`callgrid serve` prints the first one on its
very first start, `callgrid keys create` makes more): `Authorization: Bearer <key>`, or the key
alone. In /docs, **Authorize** takes it for every operation tried there.

Errors come in each API's shape: the video-calls API's `{code, type, statusMessage, message,
success}` as its contract has it, RFC 9457 problem details (`application/problem+json`) in the
others. Every answer carries `X-Request-ID`, and every error body the same id.
"""

VIDEO_CALLS = "/api/v1/external/workshops/video-calls"
APPOINTMENTS = "/api/v1/appointments"
ROOMS = "/v1/rooms"
WEBHOOKS = "/api/v1/webhook-endpoints"

# Errors an operation answers beyond the automatic ones above: {(METHOD, path): {status: description}}.
ERRORS: dict[tuple[str, str], dict[int, str]] = {
    # The video-calls API.
    ("POST", VIDEO_CALLS): {404: "No mango with that id", 409: "The proposed calls overlap the creator's (with the overlaps)"},
    ("POST", f"{VIDEO_CALLS}/check-availability"): {},
    ("GET", VIDEO_CALLS): {404: "No user with that `userId`"},
    ("GET", f"{VIDEO_CALLS}/{{call_id}}"): {},
    ("PATCH", f"{VIDEO_CALLS}/{{call_id}}"): {409: "The call has started or ended, or its new time overlaps another call"},
    ("DELETE", f"{VIDEO_CALLS}/{{call_id}}"): {409: "The call has started or ended"},
    ("DELETE", f"{VIDEO_CALLS}/groups/{{group_id}}"): {},
    # The appointments API.
    ("GET", f"{APPOINTMENTS}/"): {404: "`page` is past the last page"},
    ("POST", f"{APPOINTMENTS}/"): {},
    ("GET", f"{APPOINTMENTS}/{{id}}/"): {},
    ("PATCH", f"{APPOINTMENTS}/{{id}}/"): {409: "The appointment is no longer scheduled"},
    ("DELETE", f"{APPOINTMENTS}/{{id}}/"): {409: "The appointment is active or completed"},
    ("GET", f"{APPOINTMENTS}/{{id}}/participants/"): {},
    ("GET", f"{APPOINTMENTS}/{{id}}/participants/{{participant_id}}/"): {},
    ("PATCH", f"{APPOINTMENTS}/{{id}}/participants/{{participant_id}}/"): {409: "The appointment is completed or cancelled"},
    ("POST", f"{APPOINTMENTS}/{{id}}/add-participants/"): {409: "The appointment is no longer scheduled"},
    ("POST", f"{APPOINTMENTS}/{{id}}/remove-participants/"): {409: "The appointment is no longer scheduled"},
    # The rooms API.
    ("POST", ROOMS): {},
    ("GET", ROOMS): {},
    ("GET", f"{ROOMS}/{{room_id}}"): {},
    ("PATCH", f"{ROOMS}/{{room_id}}"): {},
    ("POST", f"{ROOMS}/{{room_id}}/terminate"): {},
    ("POST", f"{ROOMS}/{{room_id}}/webhook/rotate-secret"): {409: "The room has no webhook"},
    ("POST", f"{ROOMS}/{{room_id}}/members"): {409: "The room is terminated, or a `user_id` is already a member"},
    ("GET", f"{ROOMS}/{{room_id}}/members"): {},
    ("DELETE", f"{ROOMS}/{{room_id}}/members/{{user_id}}"): {},
    ("GET", f"{ROOMS}/{{room_id}}/sessions"): {},
    ("GET", f"{ROOMS}/{{room_id}}/recordings"): {},
    ("GET", f"{ROOMS}/{{room_id}}/recordings/{{recording_id}}"): {},
    ("GET", f"{ROOMS}/{{room_id}}/recordings/{{recording_id}}/media"): {
        404: "No such room or recording in the key's organization, or the recording has no file",
        416: "The range starts past the end of the file (`Content-Range: bytes */size`)",
    },
    ("DELETE", f"{ROOMS}/{{room_id}}/recordings/{{recording_id}}"): {409: "The recording is still being written"},
    ("POST", f"{ROOMS}/{{room_id}}/join-tokens"): {409: "The room is terminated"},
    ("GET", f"{ROOMS}/{{room_id}}/join-info"): {
        401: "The token is not valid (or has expired), or the room is not open and neither a token nor a key was given",
        403: "The token's user is no longer a member of the room",
        410: "The room is terminated",
    },
    # The management API.
    ("POST", "/api/v1/hosts"): {409: "A host with this email exists"},
    ("GET", "/api/v1/hosts"): {},
    ("GET", "/api/v1/hosts/{host_id}"): {},
    ("PATCH", "/api/v1/hosts/{host_id}"): {409: "Another host has this email"},
    ("POST", "/api/v1/contacts"): {409: "A contact has this email"},
    ("GET", "/api/v1/contacts"): {},
    ("GET", "/api/v1/contacts/{contact_id}"): {},
    ("POST", "/api/v1/products"): {},
    ("GET", "/api/v1/products"): {},
    ("GET", "/api/v1/products/{product_id}"): {},
    ("POST", "/api/v1/products/{product_id}/subscribers"): {},
    ("GET", "/api/v1/products/{product_id}/subscribers"): {},
    ("DELETE", "/api/v1/products/{product_id}/subscribers/{contact_id}"): {},
    ("POST", "/api/v1/whitelabel-domains"): {409: "The host name is registered already"},
    ("GET", "/api/v1/whitelabel-domains"): {},
    ("POST", WEBHOOKS): {},
    ("GET", WEBHOOKS): {},
    ("GET", f"{WEBHOOKS}/{{endpoint_id}}"): {},
    ("PATCH", f"{WEBHOOKS}/{{endpoint_id}}"): {},
    ("DELETE", f"{WEBHOOKS}/{{endpoint_id}}"): {},
    ("POST", f"{WEBHOOKS}/{{endpoint_id}}/rotate-secret"): {},
    ("POST", f"{WEBHOOKS}/{{endpoint_id}}/test"): {409: "The endpoint is disabled"},
    ("GET", f"{WEBHOOKS}/{{endpoint_id}}/deliveries"): {},
    ("POST", f"{WEBHOOKS}/{{endpoint_id}}/deliveries/{{event_id}}/retry"): {409: "The endpoint is disabled"},
    # Event types and the event-calls API.
    ("POST", "/api/v1/event-types"): {409: "An event type with this slug exists"},
    ("GET", "/api/v1/event-types"): {},
    ("GET", "/api/v1/event-types/{event_type_id}"): {},
    ("PATCH", "/api/v1/event-types/{event_type_id}"): {409: "An event type with this slug exists"},
    ("DELETE", "/api/v1/event-types/{event_type_id}"): {},
    ("GET", "/api/v1/event-types/{event_type_id}/slots"): {},
    ("POST", "/v1/eventCalls"): {
        404: "No contact (`contactId`) or event type (`eventId`, `linkPrefix`) with that id",
        409: "The slot is no longer free: every host of the event is booked then",
    },
    ("GET", "/v1/eventCalls/{id}"): {},
    ("POST", "/v1/eventCalls/{id}/cancel"): {409: "The booking is cancelled, rescheduled, or has started"},
    ("POST", "/v1/eventCalls/{id}/reschedule"): {
        409: "The booking is cancelled, rescheduled, or has started; its event type was deleted; or the new slot is no longer free",
    },
}

# The error bodies, as components.
FIELD_ERROR = {
    "type": "object",
    "title": "FieldError",
    "required": ["field", "message"],
    "properties": {
        "field": {"type": "string", "description": "the field as the client sent it, e.g. `participants[0].role`"},
        "message": {"type": "string", "description": "the rule it breaks"},
    },
}
PROBLEM = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details (`application/problem+json`).",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "`about:blank`"},
        "title": {"type": "string", "description": "the status's phrase, e.g. `Bad Request`"},
        "status": {"type": "integer", "description": "the HTTP status code"},
        "detail": {"type": "string", "description": "what is wrong, naming the field"},
        "errors": {"type": "array", "items": {"$ref": f"{REF}FieldError"}, "description": "each field and the rule it breaks"},
        "request_id": {"type": "string", "description": "the request's id (its `X-Request-ID`), as in the log line"},
    },
}
SEED_ERROR = {
    "type": "object",
    "title": "ErrorResponse",
    "description": "The error shape of the seed's API.",
    "required": ["code", "type", "statusMessage", "message", "success"],
    "properties": {
        "code": {"type": "integer", "description": "the HTTP status code"},
        "type": {"type": "string", "description": "the status's phrase, e.g. `Bad request`"},
        "statusMessage": {"type": "string", "description": "the status's word, e.g. `BAD_REQUEST`"},
        "message": {"type": "string", "description": "what is wrong, naming the field"},
        "success": {"type": "boolean", "const": False},
        "requestId": {"type": "string", "description": "the request's id (its `X-Request-ID`), as in the log line"},
    },
}
# Headers of every answer (callgrid.observability.request_id).
HEADERS = {
    "X-Request-ID": {
        "description": "The request's id: the client's `X-Request-ID` when it is a valid one, else generated; "
        "also in every error body and in the request's log line",
        "required": True,
        "schema": {"type": "string"},
    },
    "WWW-Authenticate": {"description": "`Bearer`", "required": True, "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds until the spent window ends", "required": True, "schema": {"type": "integer"}},
    "RateLimit-Limit": {"description": "Requests in the budget's window nearest exhaustion", "schema": {"type": "integer"}},
    "RateLimit-Remaining": {"description": "Requests left in that window", "schema": {"type": "integer"}},
    "RateLimit-Reset": {"description": "Seconds until that window ends", "schema": {"type": "integer"}},
    "RateLimit-Policy": {"description": "Every window of the budget, e.g. `100;w=1, 3000;w=60`", "schema": {"type": "string"}},
}
RATE_LIMIT_HEADERS = ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")


def install(app: FastAPI, renderers: ErrorRenderers) -> None:
    """Build `app`'s document with `document` (whenever its routes change) and serve `/docs` and `/redoc`."""
    generate = app.openapi  # FastAPI's own: the routes as they are, cached per set of routes
    built: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        raw = generate()
        if built.get("from") is not raw:
            built["from"], built["document"] = raw, document(raw, renderers.for_path)
        return built["document"]

    app.openapi = openapi  # type: ignore[method-assign]
    _serve_pages(app)


def _admin_only(operation: dict[str, Any]) -> None:
    """An operation for admin keys (`AdminPrincipal`): FastAPI lists the bearer scheme twice, once
    with the role; it is one requirement, the key with the role admin, and a host key's 403."""
    security = operation.get("security") or []
    if any(ADMIN_ROLE in scopes for requirement in security for scopes in requirement.values()):
        operation["security"] = [{"bearer": [ADMIN_ROLE]}]
        operation.setdefault("responses", {}).setdefault("403", dict(FORBIDDEN_RESPONSE[403]))


def document(raw: dict[str, Any], renderer_for: Callable[[str], Renderer]) -> dict[str, Any]:
    """`raw` (FastAPI's document, left as it is) made truthful: a new dict."""
    doc = json.loads(json.dumps(raw))
    doc.setdefault("info", {}).setdefault("description", DESCRIPTION)
    components = doc.setdefault("components", {})
    components.setdefault("headers", {}).update(HEADERS)
    schemas = components.setdefault("schemas", {})
    for path, operations in doc.get("paths", {}).items():
        renderer = renderer_for(path)
        shape = _shape(renderer)
        for method, operation in operations.items():
            if method in METHODS:
                _admin_only(operation)
                _errors(operation, method, path, shape, schemas, renderer)
    for name in ("HTTPValidationError", "ValidationError"):
        if name in schemas and not _referenced(doc, f"{REF}{name}"):
            del schemas[name]
    return doc


def _errors(
    operation: dict[str, Any], method: str, path: str, shape: "Shape", schemas: dict[str, Any], renderer: Renderer
) -> None:
    responses = operation.setdefault("responses", {})
    auto_422 = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if auto_422.get("$ref") == f"{REF}HTTPValidationError":
        del responses["422"]
    declared = {int(code) for code in responses if code.isdigit() and 400 <= int(code) < 500}
    statuses: dict[int, str] = {400: ERROR_DESCRIPTIONS[400]}
    if operation.get("security"):
        statuses[401] = ERROR_DESCRIPTIONS[401]
    if any(p.get("in") == "path" for p in operation.get("parameters", ())):
        statuses[404] = ERROR_DESCRIPTIONS[404]
    if "requestBody" in operation:
        statuses[413] = ERROR_DESCRIPTIONS[413]
    if not path.startswith(UNCOUNTED):
        statuses[429] = ERROR_DESCRIPTIONS[429]
    listed = ERRORS.get((method.upper(), path))
    if listed is not None:
        statuses.update(listed)
    elif not declared and method in WRITES:
        statuses.setdefault(404, ERROR_DESCRIPTIONS[404])
        statuses[409] = ERROR_DESCRIPTIONS[409]
    if any(p.get("in") == "header" and p.get("name") == IDEMPOTENCY_KEY for p in operation.get("parameters", ())):
        reused = f"its `{IDEMPOTENCY_KEY}` was used for a different request"
        statuses[409] = f"{statuses[409]}; or {reused}" if 409 in statuses else reused[0].upper() + reused[1:]
    for status in sorted(statuses.keys() | declared):
        response = responses.setdefault(str(status), {})
        if listed and status in listed or status not in declared or not response.get("description"):
            response["description"] = statuses.get(status) or ERROR_DESCRIPTIONS.get(status, "Error")
        if not response.get("content"):
            schemas.setdefault(shape.name, shape.schema)
            if shape.name == "Problem":
                schemas.setdefault("FieldError", FIELD_ERROR)
            response["content"] = {
                shape.media_type: {"schema": {"$ref": f"{REF}{shape.name}"}, "example": _example(renderer, status, response["description"])}
            }
    for status, response in responses.items():
        headers = response.setdefault("headers", {})
        headers.setdefault("X-Request-ID", {"$ref": "#/components/headers/X-Request-ID"})
        if status == "401":
            headers.setdefault("WWW-Authenticate", {"$ref": "#/components/headers/WWW-Authenticate"})
        if status == "429":
            for name in RATE_LIMIT_HEADERS:
                headers.setdefault(name, {"$ref": f"#/components/headers/{name}"})
    operation["responses"] = dict(sorted(responses.items()))


def _example(renderer: Renderer, status: int, description: str) -> dict[str, Any]:
    """The body `renderer` writes for `status` (the answer's description as its message)."""
    if status == 400:
        field, rule = "title", "String should have at least 1 character"
        return json.loads(bytes(renderer(status, f"{field}: {rule}", [{"field": field, "message": rule}], {}).body))
    message = description[:1].lower() + description[1:]
    return json.loads(bytes(renderer(status, message, [], {}).body))


class Shape:
    def __init__(self, name: str, media_type: str, schema: dict[str, Any]):
        self.name, self.media_type, self.schema = name, media_type, schema


@lru_cache(maxsize=32)
def _shape(renderer: Renderer) -> Shape:
    """The body `renderer` writes, found by asking it for one."""
    sample = renderer(400, "field: rule", [{"field": "field", "message": "rule"}], {})
    media_type = sample.media_type or "application/json"
    body = json.loads(bytes(sample.body))
    if set(SEED_ERROR["required"]) <= body.keys():
        return Shape("ErrorResponse", media_type, SEED_ERROR)
    if set(PROBLEM["required"]) <= body.keys():
        return Shape("Problem", media_type, PROBLEM)
    # A shape of its own: its fields as the sample has them.
    name = f"Error_{getattr(renderer, '__module__', 'api').replace('.', '_')}"
    types = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    properties = {key: ({"type": types[type(value)]} if type(value) in types else {}) for key, value in body.items()}
    return Shape(name, media_type, {"type": "object", "title": name, "required": sorted(body), "properties": properties})


def _referenced(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_referenced(v, ref) for v in node.values())
    if isinstance(node, list):
        return any(_referenced(v, ref) for v in node)
    return False


# --- the pages ------------------------------------------------------------------------------------

ASSETS = files("fastapi_offline") / "static"
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}


# The pages load only from this origin: no CDN, no fonts, no validator, and not ReDoc's
# attribution logo (an image on another host that it always shows) either: the browser
# refuses them instead of asking. No inline script (Swagger UI is started by a file,
# /static/docs.js); inline style, as both UIs style themselves at run time. ReDoc's search
# runs in a blob: worker.
DOCS_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
        "base-uri 'none'; form-action 'self'; object-src 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


# FastAPI's Swagger UI page, with the call that starts it in /static/docs.js instead of inline.
SWAGGER_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link type="text/css" rel="stylesheet" href="{root}/docs/assets/swagger-ui.css">
<link rel="icon" href="{root}/docs/assets/favicon.png">
<title>{title}</title>
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{root}/docs/assets/swagger-ui-bundle.js"></script>
<script src="{root}/static/docs.js"></script>
</body>
</html>
"""


def _serve_pages(app: FastAPI) -> None:
    """`/docs` (Swagger UI) and `/redoc` with their files from the package: nothing from another host.
    The app is made with `docs_url=None, redoc_url=None` (FastAPI's own pages load from a CDN)."""
    title = app.title

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = escape(request.scope.get("root_path", "").rstrip("/"))
        page = SWAGGER_PAGE.format(
            title=escape(f"{title} - API"), root=root, openapi_url=f"{root}{escape(app.openapi_url)}"
        )
        return HTMLResponse(page, headers=DOCS_HEADERS)

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} - API reference",
            redoc_js_url=f"{root}/docs/assets/redoc.standalone.js",
            redoc_favicon_url=f"{root}/docs/assets/favicon.png",
            with_google_fonts=False,
        )
        page.headers.update(DOCS_HEADERS)
        return page

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        media_type = ASSET_TYPES.get(name)
        if media_type is None:
            raise HTTPException(404, f"no file {name!r}")
        return FileResponse(str(ASSETS / name), media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})
