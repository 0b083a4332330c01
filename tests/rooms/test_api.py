"""The rooms API over HTTP: the seed's shapes, paging, members, tokens, join-info, and every bad
input answered 4xx naming the field (RFC 9457), another organization's room a 404."""

import re
from datetime import timedelta
from urllib.parse import quote

import pytest

from tests.rooms.conftest import create_room, join_token
from tests.support.problems import assert_problem

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ROOM_KEYS = {
    "id", "application_id", "type", "name", "thumbnail_url", "layout", "record", "meeting_time", "is_terminated",
    "max_meeting_seconds", "members_count", "url", "webhook", "parent_id", "started_at", "terminated_at", "updated_at",
    "created_at",
}


async def test_create_answers_200_with_the_room_and_a_paging_of_one(tenant):
    response = await tenant.client.post("/v1/rooms", json={
        "name": "Meeting Room - 1", "type": "public", "record": True, "max_meeting_seconds": 123,
        "members": [{"user_id": "000585f36eed9e8fb6b655b4", "type": "guest", "name": "user-1"}],
    })
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"room", "paging"}  # no webhook, no secret
    assert body["paging"] == {"limit": 1, "offset": 0, "total": 1}
    room = body["room"]
    assert set(room) == ROOM_KEYS
    assert (room["application_id"], room["type"], room["name"], room["layout"]) == (tenant.organization_id, "public", "Meeting Room - 1", "SixAll")
    assert (room["record"], room["meeting_time"], room["is_terminated"], room["max_meeting_seconds"]) == (True, 0, False, 123)
    assert (room["thumbnail_url"], room["webhook"], room["started_at"], room["terminated_at"]) == (None, None, None, None)
    assert room["members_count"] == 1
    assert room["url"] == f"http://callgrid.test/rooms/{room['id']}"
    assert STAMP.match(room["created_at"]) and STAMP.match(room["updated_at"])
    assert (await tenant.client.get(f"/v1/rooms/{room['id']}")).json() == {"room": room}
    members = (await tenant.client.get(f"/v1/rooms/{room['id']}/members")).json()
    assert [(m["user_id"], m["type"], m["name"]) for m in members["members"]] == [("000585f36eed9e8fb6b655b4", "guest", "user-1")]
    assert members["paging"] == {"limit": 20, "offset": 0, "total": 1}


async def test_defaults_record_true_no_maximum_no_members(tenant):
    room = (await create_room(tenant, type="open"))["room"]
    assert (room["record"], room["max_meeting_seconds"], room["members_count"]) == (True, None, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "open"}, "name"),
        ({"name": "", "type": "open"}, "name"),
        ({"name": "x" * 256, "type": "open"}, "name"),
        ({"name": "Room"}, "type"),
        ({"name": "Room", "type": "secret"}, "type"),
        ({"name": "Room", "type": "open", "record": "maybe"}, "record"),
        ({"name": "Room", "type": "open", "max_meeting_seconds": 0}, "max_meeting_seconds"),
        ({"name": "Room", "type": "open", "max_meeting_seconds": 86_401}, "max_meeting_seconds"),
        ({"name": "Room", "type": "open", "max_meeting_seconds": "long"}, "max_meeting_seconds"),
        ({"name": "Room", "type": "open", "members": [{"type": "host"}]}, "members[0].user_id"),
        ({"name": "Room", "type": "open", "members": [{"user_id": ""}]}, "members[0].user_id"),
        ({"name": "Room", "type": "open", "members": [{"user_id": "a", "type": "boss"}]}, "members[0].type"),
        ({"name": "Room", "type": "open", "members": [{"user_id": "a", "name": ""}]}, "members[0].name"),
        ({"name": "Room", "type": "open", "members": [{"user_id": "a"}, {"user_id": "a"}]}, "members"),
        ({"name": "Room", "type": "open", "webhook": {"headers": {}}}, "webhook.url"),
        ({"name": "Room", "type": "open", "webhook": {"url": "ftp://example.com/x"}}, "webhook.url"),
        ({"name": "Room", "type": "open", "webhook": {"url": "https://example.com/x", "headers": {"Content-Type": "x"}}}, "webhook.headers"),
        ({"name": "Room", "type": "open", "color": "blue"}, "color"),
    ],
)
async def test_bad_create_is_400_naming_the_field_and_creates_nothing(tenant, body, field):
    assert_problem(await tenant.client.post("/v1/rooms", json=body), 400, field)
    assert (await tenant.client.get("/v1/rooms")).json()["paging"]["total"] == 0


async def test_a_webhook_on_a_private_address_is_refused_unless_allowed(tenant):
    response = await tenant.client.post(
        "/v1/rooms", json={"name": "Room", "type": "open", "webhook": {"url": "http://127.0.0.1:9/hook"}}
    )
    assert_problem(response, 400, "webhook.url", "private")


async def test_list_is_newest_first_with_limit_and_offset(tenant, clock):
    ids = []
    for n in range(5):
        ids.append((await create_room(tenant, name=f"Room {n}"))["room"]["id"])
        clock.advance(timedelta(seconds=1))
    page = (await tenant.client.get("/v1/rooms", params={"limit": 2, "offset": 1})).json()
    assert [r["id"] for r in page["rooms"]] == [ids[3], ids[2]]
    assert page["paging"] == {"limit": 2, "offset": 1, "total": 5}
    past = (await tenant.client.get("/v1/rooms", params={"offset": 10})).json()
    assert past == {"rooms": [], "paging": {"limit": 20, "offset": 10, "total": 5}}
    for params, field in (({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"offset": -1}, "offset"), ({"limit": "x"}, "limit")):
        assert_problem(await tenant.client.get("/v1/rooms", params=params), 400, field)


async def test_another_organizations_room_is_404_on_every_verb(tenant, other_tenant):
    room = (await create_room(other_tenant, members=[{"user_id": "a"}]))["room"]
    path = f"/v1/rooms/{room['id']}"
    for method, suffix, body in (
        ("GET", "", None), ("PATCH", "", {"name": "x"}), ("POST", "/terminate", None), ("GET", "/members", None),
        ("POST", "/members", {"members": [{"user_id": "b"}]}), ("DELETE", "/members/a", None), ("GET", "/sessions", None),
        ("POST", "/join-tokens", {"user_id": "a"}), ("POST", "/webhook/rotate-secret", None),
    ):
        response = await tenant.client.request(method, path + suffix, json=body)
        assert_problem(response, 404, "id")
    assert_problem(await tenant.client.get("/v1/rooms/not-a-uuid"), 404, "id")
    assert (await other_tenant.client.get(path)).json()["room"]["is_terminated"] is False  # untouched
    assert (await tenant.client.get("/v1/rooms")).json()["paging"]["total"] == 0


async def test_patch_changes_what_is_given_and_refuses_nulls_where_they_mean_nothing(tenant):
    room = (await create_room(tenant, max_meeting_seconds=60))["room"]
    path = f"/v1/rooms/{room['id']}"
    changed = (await tenant.client.patch(path, json={"name": "Renamed", "type": "private", "record": False})).json()["room"]
    assert (changed["name"], changed["type"], changed["record"], changed["max_meeting_seconds"]) == ("Renamed", "private", False, 60)
    cleared = (await tenant.client.patch(path, json={"max_meeting_seconds": None})).json()["room"]
    assert cleared["max_meeting_seconds"] is None
    for body, field in (({"name": None}, "name"), ({"type": None}, "type"), ({"record": None}, "record"),
                        ({"max_meeting_seconds": 0}, "max_meeting_seconds"), ({"layout": "Grid"}, "layout")):
        assert_problem(await tenant.client.patch(path, json=body), 400, field)
    assert (await tenant.client.get(path)).json()["room"] == cleared


async def test_members_are_added_all_or_nothing_and_removed(tenant):
    room = (await create_room(tenant, type="private", members=[{"user_id": "alice"}]))["room"]
    path = f"/v1/rooms/{room['id']}/members"
    added = await tenant.client.post(path, json={"members": [{"user_id": "bob", "type": "host", "name": "Bob"}, {"user_id": "carol"}]})
    assert added.status_code == 200, added.text
    assert [(m["user_id"], m["type"]) for m in added.json()["members"]] == [("bob", "host"), ("carol", "member")]
    assert_problem(await tenant.client.post(path, json={"members": [{"user_id": "dave"}, {"user_id": "alice"}]}), 409, "members[1].user_id")
    assert_problem(await tenant.client.post(path, json={"members": [{"user_id": "x"}, {"user_id": "x"}]}), 400, "members")
    assert_problem(await tenant.client.post(path, json={"members": []}), 400, "members")
    listed = (await tenant.client.get(path)).json()
    assert [m["user_id"] for m in listed["members"]] == ["alice", "bob", "carol"]  # dave was not added
    assert (await tenant.client.delete(f"{path}/bob")).status_code == 204
    assert_problem(await tenant.client.delete(f"{path}/bob"), 404, "user_id")
    assert (await tenant.client.get(f"/v1/rooms/{room['id']}")).json()["room"]["members_count"] == 2
    # A user_id is the client's own: any characters, a slash included (percent-encoded in the path).
    odd = "team/alice smith?"
    assert (await tenant.client.post(path, json={"members": [{"user_id": odd}]})).status_code == 200
    assert (await tenant.client.delete(f"{path}/{quote(odd, safe='')}")).status_code == 204
    assert [m["user_id"] for m in (await tenant.client.get(path)).json()["members"]] == ["alice", "carol"]


async def test_join_tokens_and_join_info(tenant, clock):
    room = (await create_room(tenant, type="private", members=[{"user_id": "alice", "name": "Alice", "type": "host"}]))["room"]
    issued = await join_token(tenant, room["id"], "alice", ttl_seconds=120)
    assert issued["join_url"] == f"http://callgrid.test/rooms/{room['id']}?token={issued['token']}"
    assert issued["ws_url"] == f"ws://callgrid.test/v1/rooms/{room['id']}/live?token={issued['token']}"
    assert re.fullmatch(r"2030-01-01T12:02:0\d\.000Z", issued["expires_at"])  # two minutes on, whole seconds
    for body, field in (({}, "user_id"), ({"user_id": ""}, "user_id"), ({"user_id": "alice", "ttl_seconds": 59}, "ttl_seconds"),
                        ({"user_id": "alice", "ttl_seconds": 86_401}, "ttl_seconds"), ({"user_id": "nobody"}, "user_id")):
        assert_problem(await tenant.client.post(f"/v1/rooms/{room['id']}/join-tokens", json=body), 400, field)
    info = await tenant.client.get(f"/v1/rooms/{room['id']}/join-info", params={"token": issued["token"]}, headers={"Authorization": ""})
    assert info.status_code == 200, info.text
    data = info.json()
    assert data["room"] == {"id": room["id"], "name": "Weekly Meet", "type": "private", "max_meeting_seconds": None, "is_terminated": False}
    assert data["user"] == {"user_id": "alice", "name": "Alice", "role": "host"}
    assert data["features"] == {"chat": True, "raise_hand": True, "screenshare": True, "join_screen": True,
                                "whiteboard": True, "breakout_rooms": True}
    assert data["ice_servers"] == [] and data["heartbeat_timeout_seconds"] == 30
    assert data["ws_url"].endswith(f"/v1/rooms/{room['id']}/live?token={issued['token']}")
    assert_problem(await tenant.client.get(f"/v1/rooms/{room['id']}/join-info"), 401, "token")
    assert_problem(await tenant.client.get("/v1/rooms/01a1fca0-ee01-728d-97ba-1843f2e8230c/join-info"), 404, "id")
    clock.advance(timedelta(seconds=121))
    assert_problem(await tenant.client.get(f"/v1/rooms/{room['id']}/join-info", params={"token": issued["token"]}), 401, "token", "expired")


async def test_join_info_of_a_terminated_room_is_410_and_terminating_twice_changes_nothing(tenant):
    room = (await create_room(tenant, type="open"))["room"]
    first = (await tenant.client.post(f"/v1/rooms/{room['id']}/terminate")).json()["room"]
    assert first["is_terminated"] is True and STAMP.match(first["terminated_at"])
    second = (await tenant.client.post(f"/v1/rooms/{room['id']}/terminate")).json()["room"]
    assert second == first
    assert_problem(await tenant.client.get(f"/v1/rooms/{room['id']}/join-info"), 410, "token", "terminated")
    assert_problem(await tenant.client.post(f"/v1/rooms/{room['id']}/members", json={"members": [{"user_id": "a"}]}), 409, "id")


async def test_rotating_without_a_webhook_is_409(tenant):
    room = (await create_room(tenant))["room"]
    assert_problem(await tenant.client.post(f"/v1/rooms/{room['id']}/webhook/rotate-secret"), 409, "webhook")


async def test_no_key_is_401(anonymous):
    assert (await anonymous.get("/v1/rooms")).status_code == 401
    assert (await anonymous.post("/v1/rooms", json={"name": "x", "type": "open"})).status_code == 401
