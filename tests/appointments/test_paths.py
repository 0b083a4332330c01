"""Every path answers with and without its trailing slash (no redirect); all need the key."""

import pytest

from tests.appointments.conftest import BASE, MISSING, assert_problem, create, person


def paths(appointment_id: str, participant_id: str) -> list[tuple[str, str, object, int]]:
    """(method, path without trailing slash, JSON body, expected status) for every path."""
    a = f"{BASE}/{appointment_id}"
    return [
        ("GET", BASE, None, 200),
        ("GET", a, None, 200),
        ("PATCH", a, {"title": "Renamed"}, 200),
        ("GET", f"{a}/participants", None, 200),
        ("GET", f"{a}/participants/{participant_id}", None, 200),
        ("PATCH", f"{a}/participants/{participant_id}", {"display_name": "Renamed"}, 200),
    ]


@pytest.mark.parametrize("slash", ["/", ""])
async def test_every_path_answers_with_and_without_its_trailing_slash(tenant, slash):
    r = await tenant.client.post(f"{BASE}{slash}", json={
        "title": "T", "start_date_time": "2030-01-02T10:00:00Z", "duration_minutes": 30,
        "participants": [person("a", "moderator")],
    })
    assert r.status_code == 201, r.text
    appointment = r.json()
    participant_id = appointment["participants"][0]["id"]
    for method, path, json_body, status in paths(appointment["id"], participant_id):
        r = await tenant.client.request(method, f"{path}{slash}", json=json_body)
        assert r.status_code == status, (method, path + slash, r.text)
        assert "location" not in r.headers
    a = f"{BASE}/{appointment['id']}"
    r = await tenant.client.post(f"{a}/add-participants{slash}", json=[person("b")])
    assert r.status_code == 200, r.text
    assert [p["unique_id"] for p in r.json()["participants"]] == ["a", "b"]
    added = r.json()["participants"][1]["id"]
    r = await tenant.client.post(f"{a}/remove-participants{slash}", json=[{"id": added}])
    assert r.status_code == 200, r.text
    assert [p["unique_id"] for p in r.json()["participants"]] == ["a"]
    r = await tenant.client.delete(f"{a}{slash}")
    assert r.status_code == 204, r.text
    assert r.content == b""
    r = await tenant.client.get(f"{a}{slash}")
    assert r.json()["status"] == "cancelled"


async def test_anonymous_and_bad_keys_get_401_on_every_path(tenant, anonymous):
    appointment = await create(tenant)
    participant_id = appointment["participants"][0]["id"]
    a = f"{BASE}/{appointment['id']}"
    calls = [
        ("GET", f"{BASE}/", None),
        ("POST", f"{BASE}/", {}),
        ("GET", f"{a}/", None),
        ("PATCH", f"{a}/", {"title": "x"}),
        ("DELETE", f"{a}/", None),
        ("GET", f"{a}/participants/", None),
        ("GET", f"{a}/participants/{participant_id}/", None),
        ("PATCH", f"{a}/participants/{participant_id}/", {}),
        ("POST", f"{a}/add-participants/", [person("x")]),
        ("POST", f"{a}/remove-participants/", [{"id": participant_id}]),
    ]
    for method, path, json_body in calls:
        assert_problem(await anonymous.request(method, path, json=json_body), 401)
        r = await anonymous.request(method, path, json=json_body, headers={"Authorization": "Bearer nope"})
        assert_problem(r, 401)
    # Nothing changed.
    r = await tenant.client.get(f"{a}/")
    assert r.json() == appointment


async def test_unknown_methods_are_405_in_problem_form(tenant):
    assert_problem(await tenant.client.put(f"{BASE}/{MISSING}/", json={}), 405)
    assert_problem(await tenant.client.delete(f"{BASE}/"), 405)
    assert_problem(await tenant.client.get(f"{BASE}/{MISSING}/add-participants/"), 405)


async def test_the_openapi_document_lists_each_path_once_in_its_slashed_form(tenant):
    r = await tenant.client.get("/openapi.json")
    documented = {path for path in r.json()["paths"] if path.startswith(BASE)}
    assert documented == {
        f"{BASE}/",
        f"{BASE}/{{id}}/",
        f"{BASE}/{{id}}/participants/",
        f"{BASE}/{{id}}/participants/{{participant_id}}/",
        f"{BASE}/{{id}}/add-participants/",
        f"{BASE}/{{id}}/remove-participants/",
        f"{BASE}/{{id}}/end/",
    }
    operations = r.json()["paths"]
    assert set(operations[f"{BASE}/"]) == {"get", "post"}
    assert set(operations[f"{BASE}/{{id}}/"]) == {"get", "patch", "delete"}
    assert set(operations[f"{BASE}/{{id}}/participants/{{participant_id}}/"]) == {"get", "patch"}
