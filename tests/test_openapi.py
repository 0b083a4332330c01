"""The OpenAPI document says what the service does (callgrid.openapi): the bearer scheme and
each operation's security, the errors each operation answers in its API's shape and nothing
it never answers, a schema for every success; and /docs and /redoc come from the package.
Whether the answers really are as documented is the fuzzing's (tests/e2e/test_fuzz.py)."""

import re

import pytest
from fastapi import APIRouter, FastAPI

from callgrid import openapi
from callgrid.app import create_app
from callgrid.config import Settings
from callgrid.errors import ErrorRenderers
from callgrid.tenancy.auth import CurrentPrincipal
from callgrid.video_calls.render import render_error as render_video_calls_error

VIDEO_CALLS = "/api/v1/external/workshops/video-calls"
UNAUTHENTICATED = {
    ("GET", "/v1/rooms/{room_id}/join-info"),  # the room page's: a token or a room key
    # The booking pages' JSON (callgrid.bookings.pages): anyone, or the booking's manage token.
    ("GET", "/book/{organization_slug}/{slug}/slots"),
    ("POST", "/book/{organization_slug}/{slug}"),
    ("POST", "/bookings/{token}/cancel"),
    ("POST", "/bookings/{token}/reschedule"),
}


@pytest.fixture(scope="module")
def document() -> dict:
    return create_app(Settings(database_url="sqlite+aiosqlite:///:memory:")).openapi()


def operations(document: dict):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def test_the_bearer_scheme_and_each_operations_security(document):
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "API key",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert "security" not in document  # no global requirement: each operation says its own
    for method, path, operation in operations(document):
        if (method, path) in UNAUTHENTICATED:
            assert "security" not in operation, (method, path)
        else:  # the role an operation needs (docs/roles.md) is named, and its refusal documented
            assert operation.get("security") in ([{"bearer": []}], [{"bearer": ["admin"]}]), (method, path)
            if operation["security"] == [{"bearer": ["admin"]}]:
                assert "403" in operation["responses"], (method, path)


def test_pages_health_and_sockets_are_not_operations(document):
    assert all(path.startswith(("/api/", "/v1/", "/book/", "/bookings/")) for path in document["paths"])
    pages = ("/rooms/{room_id}", "/bookings/{token}", "/bookings/{token}.ics")
    for page in ("/docs", "/redoc", "/openapi.json", "/healthz", "/readyz", "/metrics", *pages):
        assert page not in document["paths"]


def test_no_422_and_no_validation_error_schemas(document):
    for method, path, operation in operations(document):
        assert "422" not in operation["responses"], (method, path)
    assert not {"HTTPValidationError", "ValidationError"} & document["components"]["schemas"].keys()


def test_each_operation_lists_its_errors_in_its_apis_shape(document):
    for method, path, operation in operations(document):
        responses = operation["responses"]
        expected = {"400"}
        if operation.get("security"):
            expected.add("401")
        if any(p["in"] == "path" for p in operation.get("parameters", ())):
            expected.add("404")
        if "requestBody" in operation:
            expected.add("413")
        assert expected <= responses.keys(), (method, path, sorted(responses))
        for status, response in responses.items():
            if not status.startswith("4"):
                continue
            assert response["description"], (method, path, status)
            [(media_type, content)] = response["content"].items()
            if path.startswith(VIDEO_CALLS):
                assert media_type == "application/json", (method, path, status)
                assert content["schema"]["$ref"] in {"#/components/schemas/ErrorResponse", "#/components/schemas/VideoCallConflict"}
            elif (method, path) in openapi.ERRORS or path.startswith(("/api/v1/appointments", "/v1/rooms")):
                assert media_type == "application/problem+json", (method, path, status)
                assert content["schema"] == {"$ref": "#/components/schemas/Problem"}
                assert content["example"]["status"] == int(status), (method, path, status)


def test_the_error_shapes(document):
    schemas = document["components"]["schemas"]
    assert schemas["ErrorResponse"]["required"] == ["code", "type", "statusMessage", "message", "success"]
    assert schemas["Problem"]["required"] == ["type", "title", "status", "detail"]
    conflict = schemas["VideoCallConflict"]
    assert {"code", "statusMessage", "maximumOverlap", "overlapList"} <= conflict["properties"].keys()
    assert set(conflict["required"]) == {"code", "type", "statusMessage", "message", "success"}


def test_the_table_names_only_operations_that_exist(document):
    """A stale row would document nothing: a route that moved takes its row with it."""
    existing = {(method, path) for method, path, _ in operations(document)}
    assert set(openapi.ERRORS) <= existing, sorted(set(openapi.ERRORS) - existing)
    for (method, path), listed in openapi.ERRORS.items():
        assert {str(status) for status in listed} <= document["paths"][path][method.lower()]["responses"].keys()


def test_only_what_the_table_lists_beyond_the_automatic_errors(document):
    """No response an operation never sends: a GET of one video call cannot conflict."""
    responses = document["paths"][f"{VIDEO_CALLS}/{{call_id}}"]["get"]["responses"]
    assert sorted(responses) == ["200", "400", "401", "404", "429"]
    assert sorted(document["paths"]["/v1/rooms"]["get"]["responses"]) == ["200", "400", "401", "429"]
    created = document["paths"][VIDEO_CALLS]["post"]["responses"]
    assert sorted(created) == ["201", "400", "401", "404", "409", "413", "429"]
    join_info = document["paths"]["/v1/rooms/{room_id}/join-info"]["get"]["responses"]
    assert sorted(join_info) == ["200", "400", "401", "403", "404", "410", "429"]



def test_every_success_has_a_schema(document):
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if not status.startswith("2") or status == "204":
                continue
            if "application/json" not in response["content"]:  # a file (a recording's media)
                assert all(c["schema"] == {"type": "string", "format": "binary"} for c in response["content"].values())
                continue
            schema = response["content"]["application/json"]["schema"]
            assert "$ref" in schema, (method, path, status, schema)


def test_the_video_calls_answers(document):
    paths = document["paths"]

    def answer(path: str, method: str, status: str = "200") -> str:
        return paths[path][method]["responses"][status]["content"]["application/json"]["schema"]["$ref"].rpartition("/")[2]

    assert answer(VIDEO_CALLS, "post", "201") == "VideoCallCreated"
    assert answer(VIDEO_CALLS, "get") == "VideoCallPage"
    assert answer(f"{VIDEO_CALLS}/check-availability", "post") == "AvailabilityReport"
    assert answer(f"{VIDEO_CALLS}/{{call_id}}", "get") == "VideoCallDetail"
    created = document["components"]["schemas"]["VideoCallCreated"]
    assert set(created["required"]) == {"_id", "scheduledMeetingDates"}
    assert "groupId" in created["properties"]


def test_routers_written_later_get_truthful_defaults():
    """A router the table has never seen: its errors from its security, path, body and verb,
    in the shape its prefix's renderer writes (the seed's shape under a registered prefix)."""
    app = FastAPI(docs_url=None, redoc_url=None)
    widgets = APIRouter(prefix="/api/v1/widgets")
    seeded = APIRouter(prefix="/v1/seeded")

    @widgets.get("")
    async def list_widgets(principal: CurrentPrincipal) -> list[int]:
        return []

    @widgets.delete("/{widget_id}", status_code=204)
    async def delete_widget(widget_id: str, principal: CurrentPrincipal) -> None:
        return None

    @widgets.post("/{widget_id}/spin", responses={410: {"description": "The widget is spun out"}})
    async def spin(widget_id: str, principal: CurrentPrincipal) -> dict[str, int]:
        return {}

    @seeded.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, int]:
        return {}

    app.include_router(widgets)
    app.include_router(seeded)
    renderers = ErrorRenderers()
    renderers.register("/v1/seeded", render_video_calls_error)
    openapi.install(app, renderers)
    paths = app.openapi()["paths"]

    listing = paths["/api/v1/widgets"]["get"]
    assert sorted(listing["responses"]) == ["200", "400", "401", "429"]
    [(media_type, content)] = listing["responses"]["401"]["content"].items()
    assert media_type == "application/problem+json" and content["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert content["example"] == {"type": "about:blank", "title": "Unauthorized", "status": 401,
                                  "detail": "the `Authorization` header carries no API key, or one that is not valid"}
    assert sorted(paths["/api/v1/widgets/{widget_id}"]["delete"]["responses"]) == ["204", "400", "401", "404", "409", "429"]
    spun = paths["/api/v1/widgets/{widget_id}/spin"]["post"]["responses"]
    assert sorted(spun) == ["200", "400", "401", "404", "410", "429"]  # it declared its own: no guessed 409
    assert spun["410"]["description"] == "The widget is spun out"
    assert "application/problem+json" in spun["410"]["content"]
    thing = paths["/v1/seeded/things/{thing_id}"]["get"]
    assert "security" not in thing
    assert sorted(thing["responses"]) == ["200", "400", "404", "429"]
    [(media_type, content)] = thing["responses"]["404"]["content"].items()
    assert media_type == "application/json" and content["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
    assert content["example"] == {"code": 404, "type": "Not found", "statusMessage": "NOT_FOUND",
                                  "message": "nothing with that id in the key's organization", "success": False}


async def test_docs_and_redoc_load_only_from_this_server(anonymous):
    for page, assets in (("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
                         ("/redoc", {"redoc.standalone.js", "favicon.png"})):
        response = await anonymous.get(page)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in response.headers["content-security-policy"]
        urls = set(re.findall(r"""(?:src|href|url|spec-url)\s*[=:]\s*['"]([^'"]+)['"]""", response.text))
        assert urls, response.text
        assert not [url for url in urls if "//" in url], urls  # nothing on another host
        assert {url.rpartition("/")[2] for url in urls if url.startswith("/docs/assets/")} == assets
        assert "/openapi.json" in response.text
    for name, media_type in openapi.ASSET_TYPES.items():
        response = await anonymous.get(f"/docs/assets/{name}")
        assert response.status_code == 200 and response.headers["content-type"] == media_type, name
        assert len(response.content) > 1000
    assert (await anonymous.get("/docs/assets/..%2Fcore.py")).status_code == 404
    assert (await anonymous.get("/docs/assets/nothing.js")).status_code == 404


def test_every_answer_carries_its_request_id_and_a_401_the_scheme(document):
    assert document["components"]["headers"]["X-Request-ID"]["required"] is True
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            assert response["headers"]["X-Request-ID"] == {"$ref": "#/components/headers/X-Request-ID"}, (method, path)
            assert ("WWW-Authenticate" in response["headers"]) == (status == "401"), (method, path, status)
