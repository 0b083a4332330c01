"""A 405 names in `Allow` every method its path takes, whichever route of the path holds it."""

import re

import pytest

from tests.support.problems import assert_problem

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ANY_ID = "01a00000-0000-7000-8000-000000000000"


@pytest.fixture
def backend() -> str:
    """Routing: no database decides it (the methods a path takes are tried once, on SQLite)."""
    return "sqlite"


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", ANY_ID, path)


async def test_every_documented_path_answers_405_with_all_its_methods(tenant):
    paths = (await tenant.client.get("/openapi.json")).json()["paths"]
    assert len(paths) > 20
    for template, operations in paths.items():
        documented = {m.upper() for m in operations if m.upper() in METHODS}
        path = concrete(template)
        refused = [m for m in METHODS if m not in documented]
        for method in refused:
            r = await tenant.client.request(method, path)
            if r.status_code != 405:
                # An undocumented route of the same path takes it (a page's GET): it is in Allow.
                continue
            allowed = set(r.headers["allow"].split(", "))
            assert documented <= allowed, (template, method, r.headers["allow"])
            assert method not in allowed, (template, method)
            for other in allowed - documented - {"HEAD"}:
                assert (await tenant.client.request(other, path)).status_code != 405, (template, other)
            assert f"it takes {r.headers['allow']}" in r.text, r.text


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("PUT", "/api/v1/hosts", "GET, POST"),
        ("POST", f"/api/v1/hosts/{ANY_ID}", "GET, PATCH, DELETE"),
        ("PUT", "/v1/rooms", "GET, POST"),
        ("PUT", "/book/acme/intro", "GET, POST"),  # the page's GET and the booking's POST
        ("POST", "/docs", "GET"),
    ],
)
async def test_the_allow_header_and_the_problem(tenant, method, path, allow):
    r = await tenant.client.request(method, path)
    problem = assert_problem(r, 405, None, f"{method} is not allowed on this path; it takes {allow}")
    assert r.headers["allow"] == allow
    assert problem["title"] == "Method Not Allowed"


async def test_the_video_calls_api_says_it_in_its_own_shape(tenant):
    r = await tenant.client.delete("/api/v1/external/workshops/video-calls")
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    body = r.json()
    assert body["statusMessage"] == "METHOD_NOT_ALLOWED" and body["message"].endswith("it takes GET, POST"), body
