"""Every POST that creates something with an API key declares `Idempotency-Key` in the OpenAPI
document, and takes it (its route stores the answer). A new create without it fails here."""

import pytest
from fastapi.routing import APIRoute

from callgrid.app import create_app
from callgrid.config import Settings
from callgrid.idempotency.requests import HEADER, IdempotentRoute

# Public booking pages: no API key, so no key to scope an Idempotency-Key to (docs/idempotency.md).
PUBLIC_CREATES = {
    ("POST", "/book/{organization_slug}/{slug}"),
    ("POST", "/bookings/{token}/reschedule"),
}
# Creates that answer 200 (the seed's codes): they take the header as the 201s do.
CREATES_ANSWERING_200 = {
    ("POST", "/v1/rooms"),
    ("POST", "/v1/rooms/{room_id}/members"),
    ("POST", "/v1/rooms/{room_id}/join-tokens"),
    ("POST", "/v1/rooms/{room_id}/replay-tokens"),
    ("POST", "/api/v1/appointments/{id}/add-participants/"),  # adds participants (a retry would find them taken)
}
# Authenticated POSTs that create nothing, each with why: they alone may leave the header out.
NOT_CREATES = {
    ("POST", "/api/v1/external/workshops/video-calls/check-availability"): "a question, changes nothing",
    ("POST", "/api/v1/appointments/{id}/end/"): "ends it; again is a 409 that says it ended",
    ("POST", "/api/v1/appointments/{id}/remove-participants/"): "removes; again names what is gone",
    ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): "replaces the secret",
    ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/test"): "sends a ping event",
    ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/deliveries/{event_id}/retry"): "schedules a delivery again",
    ("POST", "/v1/rooms/{room_id}/terminate"): "ends the room; again changes nothing",
    ("POST", "/v1/rooms/{room_id}/webhook/rotate-secret"): "replaces the secret",
    ("POST", "/v1/eventCalls/{id}/cancel"): "cancels; again is a 409 that says it is cancelled",
}


@pytest.fixture(scope="module")
def app():
    return create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))


def _declares_the_header(operation: dict) -> bool:
    return any(p["in"] == "header" and p["name"] == HEADER for p in operation.get("parameters", []))


def test_every_create_declares_idempotency_key(app):
    document = app.openapi()
    creates, missing, public = set(), [], set()
    for path, methods in document["paths"].items():
        operation = methods.get("post")
        if operation is None:
            continue
        if "201" not in operation["responses"] and ("POST", path) not in CREATES_ANSWERING_200:
            continue
        if not operation.get("security"):
            public.add(("POST", path))
            continue
        creates.add(("POST", path))
        if not _declares_the_header(operation):
            missing.append(path)
    assert missing == [], f"POSTs that create without {HEADER}: {missing}"
    assert public == PUBLIC_CREATES, "a public create: decide whether it takes the header, and say so in docs/idempotency.md"
    assert CREATES_ANSWERING_200 <= creates
    assert len(creates) >= 16


def test_every_other_authenticated_post_is_listed_as_creating_nothing(app):
    """A POST with an API key either takes the header or is in NOT_CREATES with its reason: a new
    operation has to choose."""
    document = app.openapi()
    without = {
        ("POST", path)
        for path, methods in document["paths"].items()
        if (operation := methods.get("post")) is not None and operation.get("security") and not _declares_the_header(operation)
    }
    assert without == set(NOT_CREATES)


def test_the_header_is_documented_once_with_its_limits(app):
    document = app.openapi()
    operation = document["paths"]["/api/v1/external/workshops/video-calls"]["post"]
    (parameter,) = [p for p in operation["parameters"] if p["name"] == HEADER]
    assert parameter["required"] is False
    assert (parameter["schema"]["anyOf"][0]["minLength"], parameter["schema"]["anyOf"][0]["maxLength"]) == (1, 255)
    assert "24 hours" in parameter["description"]


def test_every_route_taking_the_header_stores_its_answer(app):
    """`begin` needs an `IdempotentRoute` around the endpoint (it stores the answer)."""
    document = app.openapi()
    taking = {
        (method.upper(), path)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if _declares_the_header(operation)
    }
    routes = {(method, route.path_format): route for route in _api_routes(app.routes) for method in route.methods}
    assert taking
    assert [operation for operation in taking if not isinstance(routes[operation], IdempotentRoute)] == []


def _api_routes(routes):
    """The app's `APIRoute`s, those of its included routers too (routers are included without a
    prefix of their own: each route's path is whole)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (router := getattr(route, "original_router", None)) is not None:
            yield from _api_routes(router.routes)


def test_every_operation_taking_the_header_documents_its_409(app):
    """A key reused for another request is a 409, on operations that had none of their own too."""
    document = app.openapi()
    undocumented = [
        (method.upper(), path)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if _declares_the_header(operation)
        and HEADER not in operation["responses"].get("409", {}).get("description", "")
    ]
    assert undocumented == []
    products = document["paths"]["/api/v1/products"]["post"]["responses"]["409"]
    assert products["description"] == f"Its `{HEADER}` was used for a different request"
    calls = document["paths"]["/api/v1/external/workshops/video-calls"]["post"]["responses"]["409"]
    assert calls["description"].startswith("The proposed calls overlap") and HEADER in calls["description"]
