"""Request ids, the request's log line, error bodies and 401s, on the app in this process."""

import json
import logging
import uuid

import pytest

from callgrid.app import create_app
from callgrid.observability.logs import ContextFilter, JsonFormatter, TextFormatter, redact, request_id_var
from tests.support.problems import assert_problem
from tests.support.tenants import client

VIDEO_CALLS = "/api/v1/external/workshops/video-calls"


@pytest.fixture
def http_records():
    """Records of the `callgrid` loggers, through the filter every handler of theirs has."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("callgrid")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(previous)


def request_lines(records, request_id):
    return [r for r in records if r.name == "callgrid.http" and getattr(r, "request_id", None) == request_id]


async def test_a_request_id_is_made_returned_and_logged_with_the_route_template(tenant, http_records):
    response = await tenant.client.get(f"/api/v1/hosts/{tenant.host_id}")
    assert response.status_code == 200 and response.json()["id"] == tenant.host_id
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32 and int(request_id, 16) >= 0

    [line] = request_lines(http_records, request_id)
    assert line.levelno == logging.INFO
    assert line.getMessage() == "GET /api/v1/hosts/{host_id} 200"
    assert line.fields["organization_id"] == tenant.organization_id
    assert isinstance(line.fields["duration_ms"], float) and line.fields["duration_ms"] >= 0
    assert line.json_fields == {"method": "GET", "route": "/api/v1/hosts/{host_id}", "status": 200}

    text = TextFormatter().format(line)
    assert f"GET /api/v1/hosts/{{host_id}} 200 duration_ms=" in text
    assert f"organization_id={tenant.organization_id} request_id={request_id}" in text
    assert tenant.host_id not in text, "the route template, not the path"
    data = json.loads(JsonFormatter().format(line))
    assert data["method"] == "GET" and data["route"] == "/api/v1/hosts/{host_id}" and data["status"] == 200
    assert data["organization_id"] == tenant.organization_id and data["request_id"] == request_id
    assert data["level"] == "info" and data["logger"] == "callgrid.http" and data["time"].endswith("Z")


async def test_the_clients_request_id_is_kept_when_sane_and_replaced_otherwise(tenant, http_records):
    kept = await tenant.client.get("/api/v1/hosts", headers={"X-Request-ID": "trace-42.a:b_C"})
    assert kept.headers["x-request-id"] == "trace-42.a:b_C"
    assert len(request_lines(http_records, "trace-42.a:b_C")) == 1

    for bad in ["x" * 129, "has space", "semi;colon", "-leading-dash", "cg_" + "a" * 40, "é"]:
        response = await tenant.client.get("/api/v1/hosts", headers={"X-Request-ID": bad.encode("utf-8")})
        assert response.status_code == 200
        made = response.headers["x-request-id"]
        assert made != bad and len(made) == 32, (bad, made)
        assert request_lines(http_records, made)


async def test_problem_bodies_carry_the_request_id(tenant, anonymous):
    missing = await tenant.client.get(f"/api/v1/hosts/{uuid.uuid4()}", headers={"X-Request-ID": "req-404"})
    assert assert_problem(missing, 404)["request_id"] == "req-404"

    invalid = await tenant.client.post("/api/v1/contacts", json={"email": "not an email"}, headers={"X-Request-ID": "req-400"})
    body = assert_problem(invalid, 400, "email")
    assert body["request_id"] == "req-400" == invalid.headers["x-request-id"]

    unmatched = await anonymous.get("/no/such/route", headers={"X-Request-ID": "req-nope"})
    assert assert_problem(unmatched, 404)["request_id"] == "req-nope"

    # RequestGuard's refusals (before any route) too.
    guarded = await tenant.client.post("/api/v1/contacts", json={"name": "a\u0000b"}, headers={"X-Request-ID": "req-nul"})
    assert assert_problem(guarded, 400, "name")["request_id"] == "req-nul"


async def test_the_video_calls_error_shape_keeps_the_seed_fields_and_adds_request_id(tenant):
    response = await tenant.client.post(VIDEO_CALLS, json={"title": "x"}, headers={"X-Request-ID": "vc-1"})
    assert response.status_code == 400
    body = response.json()
    assert {k: body[k] for k in ("code", "type", "statusMessage", "success")} == {
        "code": 400, "type": "Bad request", "statusMessage": "BAD_REQUEST", "success": False,
    }
    assert isinstance(body["message"], str) and body["message"]
    assert body["requestId"] == "vc-1" and "request_id" not in body
    assert set(body) == {"code", "type", "statusMessage", "message", "success", "requestId"}


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/v1/hosts"),
        ("GET", VIDEO_CALLS),
        ("GET", "/api/v1/appointments"),
        ("GET", "/v1/rooms"),
        ("GET", "/api/v1/webhook-endpoints"),
    ],
)
async def test_every_401_says_bearer(app, method, path):
    async with client(app) as nobody, client(app, "cg_not-a-key") as wrong:
        for who in (nobody, wrong):
            response = await who.request(method, path)
            assert response.status_code == 401, response.text
            assert response.headers["www-authenticate"] == "Bearer"
            body = response.json()
            assert body.get("request_id", body.get("requestId")) == response.headers["x-request-id"]


async def test_a_successful_request_has_no_www_authenticate(tenant):
    response = await tenant.client.get("/api/v1/hosts")
    assert response.status_code == 200 and "www-authenticate" not in response.headers


async def test_an_unhandled_error_is_a_500_in_the_apis_shape_logged_with_its_request_id(settings, http_records):
    application = create_app(settings)

    async def boom():
        logging.getLogger("callgrid.test").info("about to fail")
        raise RuntimeError("kaput")

    application.add_api_route("/api/v1/boom", boom)
    application.add_api_route(f"{VIDEO_CALLS}/test/boom/now", boom)
    async with application.router.lifespan_context(application), client(application) as anybody:
        response = await anybody.get("/api/v1/boom", headers={"X-Request-ID": "boom-1"})
        body = assert_problem(response, 500)
        assert body["request_id"] == "boom-1" == response.headers["x-request-id"]
        seed = await anybody.get(f"{VIDEO_CALLS}/test/boom/now", headers={"X-Request-ID": "boom-2"})
        assert seed.status_code == 500 and seed.json()["requestId"] == "boom-2" and seed.json()["success"] is False

    mine = [r for r in http_records if getattr(r, "request_id", None) == "boom-1"]
    assert [r.name for r in mine] == ["callgrid.test", "callgrid.http", "callgrid.http"]
    assert mine[0].getMessage() == "about to fail"
    assert mine[1].exc_info and "kaput" in TextFormatter().format(mine[1])
    assert mine[2].getMessage() == "GET /api/v1/boom 500"


async def test_probes_are_logged_at_debug_and_failures_at_info(anonymous, http_records):
    ok = await anonymous.get("/healthz")
    assert ok.json() == {"status": "ok"}
    [line] = request_lines(http_records, ok.headers["x-request-id"])
    assert line.levelno == logging.DEBUG and line.getMessage() == "GET /healthz 200"
    ready = await anonymous.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}


def test_secrets_are_redacted_from_log_messages():
    token = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoiMSJ9.c2lnbmF0dXJl"
    cases = {
        'WebSocket /v1/rooms/abc/live?token=abc.def.ghi&name=Ann" [accepted]': 'WebSocket /v1/rooms/abc/live?token=***&name=Ann" [accepted]',
        "GET /rooms/1?key=r00mkey HTTP/1.1": "GET /rooms/1?key=*** HTTP/1.1",
        "postgresql+asyncpg://app:s3cret@db:5432/callgrid": "postgresql+asyncpg://app:***@db:5432/callgrid",
        "redis://:hunter2@redis:6379/0": "redis://:***@redis:6379/0",
        "Authorization: Bearer cg_abcdefghijklmnop": "Authorization: Bearer ***",
        "key cg_abcdefghijklmnopqrstu used": "key cg_*** used",
        "secret whsec_QUJDREVGR0hJSktMTU5PUA== rotated": "secret whsec_*** rotated",
        f"a token {token} leaked": "a token *** leaked",
        "GET /api/v1/hosts 200": "GET /api/v1/hosts 200",
    }
    for raw, shown in cases.items():
        assert redact(raw) == shown, raw

    record = logging.LogRecord("callgrid.x", logging.INFO, __file__, 1, "joined with %s", ("?token=" + token,), None)
    reset = request_id_var.set("rid-9")
    try:
        ContextFilter().filter(record)
    finally:
        request_id_var.reset(reset)
    assert record.getMessage() == "joined with ?token=***"
    assert record.request_id == "rid-9"
    assert token not in JsonFormatter().format(record) and '"request_id": "rid-9"' in JsonFormatter().format(record)
