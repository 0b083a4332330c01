"""Error answers name fields as the client sent them and never show pydantic's names for types
(`.str`, `.int`, `function-after[...]`, "UUID object")."""

import re

from callgrid.errors import field_name

VIDEO_CALLS = "/api/v1/external/workshops/video-calls"
INTERNAL = re.compile(r"\.(str|int|float|bool)\b|function-(after|before|plain|wrap)|lax-or-strict|json-or-python|UUID object|timezone_name")


def test_field_names_leave_out_union_members():
    assert field_name(("body", "repeatingDays", 0, "str")) == "repeatingDays[0]"
    assert field_name(("body", "title", "function-after[_storable(), str]")) == "title"
    assert field_name(("query", "groupId", "str")) == "groupId"
    assert field_name(("body", "participants", 0, "role")) == "participants[0].role"
    assert field_name(("body", "headers", "[key]")) == "headers"
    assert field_name(("body",)) == "body"


async def test_video_calls_errors_name_the_seeds_fields(app, tenant):
    mango = (await tenant.client.post("/api/v1/products", json={"title": "M"})).json()["id"]
    r = await tenant.client.post(VIDEO_CALLS, json={
        "title": 5, "mango": mango, "startDate": "2030-01-02", "fromTime": "10:00", "timezoneName": 7,
        "duration": "60", "endDate": "2030-01-05", "repeatingDays": [1.5, True],
    })
    assert r.status_code == 400
    message = r.json()["message"]
    assert not INTERNAL.search(message), message
    for field in ("title", "timezoneName", "duration", "repeatingDays[0]", "repeatingDays[1]"):
        assert f"{field}: " in message, (field, message)
    assert "repeatingDays[0]: Input should be a valid string or input should be a valid integer" in message


async def test_management_errors_word_ids_and_unions_for_people(app, tenant):
    r = await tenant.client.post("/api/v1/api-keys", json={"host_id": 5})
    assert r.status_code == 400
    assert r.json()["errors"] == [{"field": "host_id", "message": "must be a UUID string"}]
    r = await tenant.client.post("/api/v1/hosts", json={"name": "x", "email": "x@example.com", "timezone": 4})
    assert r.status_code == 400 and not INTERNAL.search(r.text), r.text
    assert r.json()["errors"][0]["field"] == "timezone"
