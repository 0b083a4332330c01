"""Odd input gets a clear 4xx, never a 500, and changes nothing."""

import json

import pytest

from tests.appointments.conftest import BASE, assert_problem, body, create, detail, person, table_counts

ODD_STRINGS = [
    "nul\x00byte",
    "\ud800 lone surrogate",
]


@pytest.mark.parametrize("text", ODD_STRINGS)
async def test_text_no_database_can_store_is_a_400(app, tenant, text):
    for fields, field in (
        ({"title": text}, "title"),
        ({"participants": [person(text, "moderator")]}, "participants[0].unique_id"),
        ({"participants": [person("a", "moderator", text)]}, "participants[0].display_name"),
    ):
        # json= would refuse a lone surrogate; send the JSON text by hand (it is valid JSON).
        raw = json.dumps(body(**fields))
        r = await tenant.client.post(BASE, content=raw, headers={"content-type": "application/json"})
        assert_problem(r, 400, field)
    assert await table_counts(app) == (0, 0)
    r = await tenant.client.get(f"{BASE}/", params={"participant_unique_id": "a\x00b"})
    assert_problem(r, 400, "participant_unique_id")


@pytest.mark.parametrize(
    "start",
    [
        "9999-12-31T23:59:59Z",  # its end would be past the last representable instant
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "10000-01-01T00:00:00Z",
        "2030-01-02T25:00:00Z",
        "",
        "2030-01-02T10:00:00+25:00",
    ],
)
async def test_date_times_at_or_past_the_edges_are_a_400(app, tenant, start):
    r = await tenant.client.post(BASE, json=body(start_date_time=start))
    assert_problem(r, 400, "start_date_time")
    for param in ("start_date", "end_date"):
        r = await tenant.client.get(f"{BASE}/", params={param: start})
        assert r.status_code == 400, (param, start, r.text)
    assert await table_counts(app) == (0, 0)


async def test_far_future_but_representable_is_fine(tenant):
    data = await create(tenant, start_date_time="9999-12-30T00:00:00Z", duration_minutes=720)
    assert data["start_date_time"] == "9999-12-30T00:00:00.000Z"
    page = (await tenant.client.get(f"{BASE}/", params={"start_date": "0001-01-01T00:00:00Z"})).json()
    assert page["count"] == 1


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/json"),
        (b"{", "application/json"),
        (b"not json", "application/json"),
        (b"[]", "application/json"),
        (b"null", "application/json"),
        (b"42", "application/json"),
        (b'{"title": "x"}', "text/plain"),
        (b"\xff\xfe", "application/json"),
        (b'{"title": "a", "title": "b"}', "application/json"),
    ],
)
async def test_bodies_that_are_not_an_object_are_a_400(app, tenant, content, content_type):
    r = await tenant.client.post(BASE, content=content, headers={"content-type": content_type})
    assert r.status_code in (400, 415), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await table_counts(app) == (0, 0)


async def test_odd_bodies_for_the_other_writes_are_a_400(tenant):
    created = await create(tenant)
    a = f"{BASE}/{created['id']}"
    pid = created["participants"][0]["id"]
    for method, path in (
        ("PATCH", f"{a}/"),
        ("POST", f"{a}/add-participants/"),
        ("POST", f"{a}/remove-participants/"),
        ("PATCH", f"{a}/participants/{pid}/"),
    ):
        for content in (b"", b"{", b"[1, 2", b"\"text\"", b"[[[]]]"):
            r = await tenant.client.request(method, path, content=content, headers={"content-type": "application/json"})
            assert r.status_code == 400, (method, path, content, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
    assert await detail(tenant, created["id"]) == created


async def test_an_oversized_body_is_a_413(app, tenant):
    huge = body(participants=[person("u" * 200 + str(n), display_name="d" * 60) for n in range(5000)])
    r = await tenant.client.post(BASE, json=huge)
    assert_problem(r, 413)
    assert await table_counts(app) == (0, 0)


async def test_odd_path_ids_are_404(tenant):
    created = await create(tenant)
    for odd in ("%00", "' OR 1=1 --", "%F0%9F%98%80", "1" * 300):
        r = await tenant.client.get(f"{BASE}/{odd}/")
        assert r.status_code == 404, (odd, r.text)
        r = await tenant.client.get(f"{BASE}/{created['id']}/participants/{odd}/")
        assert r.status_code == 404, (odd, r.text)
