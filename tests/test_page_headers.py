"""Every HTML page: a Content-Security-Policy running no inline script, `frame-ancestors` from
the settings, `nosniff`, `Referrer-Policy: no-referrer`; the room page's Permissions-Policy
gives the camera, the microphone and screen sharing to the page itself only."""

import re

import httpx
import pytest
from pydantic import ValidationError

from callgrid.app import create_app
from callgrid.config import Settings
from tests.bookings.test_pages import booked, event, visitor  # noqa: F401 (fixtures)
from tests.support.time import now  # noqa: F401 (autouse: the booking pages' tests run at NOW)

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)


def policy(response) -> dict[str, list[str]]:
    directives = {}
    for part in response.headers["content-security-policy"].split(";"):
        name, *values = part.split()
        assert name not in directives, response.headers["content-security-policy"]
        directives[name] = values
    return directives


def assert_page_headers(response, frame_ancestors: str = "'self'") -> dict[str, list[str]]:
    assert response.headers["content-type"].startswith("text/html"), response.headers
    csp = policy(response)
    scripts = csp.get("script-src", csp.get("default-src"))
    assert scripts and "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, csp
    assert "*" not in scripts and "data:" not in scripts, csp
    assert csp["frame-ancestors"] == frame_ancestors.split(), csp
    assert csp["base-uri"] == ["'none'"], csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert not INLINE_SCRIPT.search(response.text), INLINE_SCRIPT.search(response.text)
    return csp


async def test_the_room_page(tenant, anonymous):
    room = (await tenant.client.post("/v1/rooms", json={"name": "R", "type": "open"})).json()["room"]
    page = await anonymous.get(f"/rooms/{room['id']}", params={"token": "t", "key": "k"})
    assert page.status_code == 200
    csp = assert_page_headers(page)
    assert "blob:" in csp["media-src"] and csp["connect-src"] == ["'self'"]
    assert page.headers["permissions-policy"] == "camera=(self), microphone=(self), display-capture=(self)"
    assert page.headers["x-frame-options"] == "SAMEORIGIN"


async def test_the_replay_page(tenant, anonymous):
    room = (await tenant.client.post("/v1/rooms", json={"name": "R", "type": "open"})).json()["room"]
    page = await anonymous.get(f"/rooms/{room['id']}/replay")
    assert page.status_code == 200
    assert_page_headers(page)
    assert "camera" not in page.headers.get("permissions-policy", "camera=()").replace("camera=()", "")


async def test_the_booking_pages(visitor, tenant, event):  # noqa: F811
    assert_page_headers(await visitor.get(f"/book/{event['link_prefix']}"))
    answer = await booked(visitor, event)
    assert_page_headers(await visitor.get(f"/bookings/{answer['token']}"))
    missing = await visitor.get("/bookings/not-a-token-at-all")
    assert missing.status_code == 404
    assert_page_headers(missing)
    gone = await visitor.get("/book/nobody/nothing")
    assert gone.status_code == 404
    assert_page_headers(gone)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_the_api_documents_pages(anonymous, path):
    page = await anonymous.get(path)
    assert page.status_code == 200
    csp = assert_page_headers(page)
    assert csp["script-src"] == ["'self'"]


async def test_docs_is_started_by_a_file_of_its_own(anonymous):
    page = (await anonymous.get("/docs")).text
    assert 'data-openapi-url="/openapi.json"' in page and 'src="/static/docs.js"' in page
    script = await anonymous.get("/static/docs.js")
    assert script.status_code == 200 and "SwaggerUIBundle(" in script.text
    assert script.headers["x-content-type-options"] == "nosniff"


async def test_an_html_answer_without_a_policy_of_its_own_gets_one_that_runs_nothing(app):
    """Whatever page a later change adds without headers: the middleware gives it the rule."""
    from fastapi.responses import HTMLResponse
    from callgrid.kit.page_headers import PageHeaders

    async def bare(scope, receive, send):
        await HTMLResponse("<p>hi</p>")(scope, receive, send)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=PageHeaders(bare)), base_url="http://t") as c:
        r = await c.get("/")
    csp = assert_page_headers(r)
    assert csp["default-src"] == ["'none'"] and "script-src" not in csp


async def test_json_answers_are_left_alone(tenant):
    r = await tenant.client.get("/api/v1/hosts")
    assert "content-security-policy" not in r.headers and "x-frame-options" not in r.headers


async def test_frame_ancestors_are_configurable_for_embedding(settings, tenant, event):  # noqa: F811
    embedding = settings.model_copy(update={"frame_ancestors": "'self' https://crm.example.com https://*.partner.example"})
    application = create_app(embedding)
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://callgrid.test") as c:
            page = await c.get(f"/book/{event['link_prefix']}")
    assert_page_headers(page, "'self' https://crm.example.com https://*.partner.example")
    assert "x-frame-options" not in page.headers  # it cannot name origins: left to frame-ancestors


@pytest.mark.parametrize("value", ["", "'self'; script-src *", "https://a.example,https://b.example", "'none' 'self'",
                                   "self", "javascript:alert(1) x\ny"])
def test_a_bad_frame_ancestors_setting_is_refused_at_start(value):
    with pytest.raises(ValidationError, match="frame_ancestors"):
        Settings(frame_ancestors=value)


def test_none_denies_every_frame():
    assert Settings(frame_ancestors="  'none' ").frame_ancestors == "'none'"
