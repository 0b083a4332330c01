"""Every operation of the OpenAPI document refuses query parameters it does not take, with a
400 naming them in its API's error shape (as unknown body fields are); declared ones pass."""

import re

import pytest

MISSING = "00000000-0000-0000-0000-000000000000"
VIDEO_CALLS = "/api/v1/external/workshops/video-calls"


def operations(app) -> list[tuple[str, str]]:
    document = app.openapi()
    found = []
    for path, item in document["paths"].items():
        for method in item:
            if method in {"get", "post", "put", "patch", "delete"}:
                found.append((method.upper(), re.sub(r"\{[^}]+\}", MISSING, path)))
    return found


async def test_every_operation_refuses_an_unknown_query_parameter(app, tenant):
    checked = 0
    for method, path in operations(app):
        r = await tenant.client.request(method, path, params={"bogus": "1", "alsoBogus": ""})
        assert r.status_code == 400, (method, path, r.status_code, r.text)
        body = r.json()
        if path.startswith(VIDEO_CALLS):
            assert body["success"] is False and "bogus" in body["message"] and "alsoBogus" in body["message"], body
        else:
            assert r.headers["content-type"].startswith("application/problem+json"), (path, r.headers)
            assert {e["field"] for e in body["errors"]} == {"bogus", "alsoBogus"}, (path, body)
            assert "is not a query parameter of this operation" in body["detail"], body
        checked += 1
    assert checked > 50


async def test_the_message_lists_what_the_operation_takes(app, tenant):
    r = await tenant.client.get("/api/v1/hosts", params={"page_sise": 10})
    assert r.status_code == 400
    assert r.json()["errors"] == [
        {"field": "page_sise", "message": "is not a query parameter of this operation (it takes page, page_size)"}
    ]
    r = await tenant.client.get(VIDEO_CALLS, params={"groupid": MISSING})
    assert r.status_code == 400
    assert r.json()["message"].startswith("groupid: is not a query parameter of this operation (it takes ")
    assert "groupId" in r.json()["message"]


@pytest.mark.parametrize(
    "path, params",
    [
        ("/api/v1/hosts", {"page": 1, "page_size": 5}),
        ("/api/v1/appointments/", {"page": 1, "page_size": 5, "participant_unique_id": "a@example.com"}),
        (VIDEO_CALLS, {"page": 1, "limit": 5, "mangoes": "", "userId": ""}),
    ],
)
async def test_declared_parameters_pass(app, tenant, path, params):
    r = await tenant.client.get(path, params=params)
    assert r.status_code == 200, r.text


async def test_pages_opened_in_a_browser_take_anything(app, anonymous):
    r = await anonymous.get(f"/rooms/{MISSING}", params={"token": "x", "utm_source": "mail"})
    assert r.status_code == 200


async def test_a_paths_twin_without_its_slash_refuses_them_too(app, tenant):
    r = await tenant.client.get("/api/v1/appointments", params={"bogus": 1})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "bogus", r.text
