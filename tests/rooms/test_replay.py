"""Who may open a room's replay (docs/rooms.md, Replay): an open room's anyone, a public room's
a token holder, a private room's a member's token, also once the room has ended (tokens from
`POST /v1/rooms/{id}/replay-tokens`); the replay's data is the room, its timeline in pages and
its recordings, whose files are read through signed links (ranges; another room's token or
link, a changed or expired link, refused)."""

import asyncio
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from tests.rooms.conftest import Peer, create_room, join_token, live_url
from tests.rooms.test_recordings import _recordings_folder, _recordings_in_the_folder, add_recording  # noqa: F401
from tests.support.time import NOW


async def replay(anonymous, room_id: str, **params):
    return await anonymous.get(f"/v1/rooms/{room_id}/replay", params=params)


async def replay_token(tenant, room_id: str, user_id: str, **fields) -> dict:
    response = await tenant.client.post(f"/v1/rooms/{room_id}/replay-tokens", json={"user_id": user_id, **fields})
    assert response.status_code == 200, response.text
    return response.json()


async def test_who_may_open_a_replay_follows_the_rooms_type(app, tenant, anonymous):
    open_room = (await create_room(tenant, type="open"))["room"]
    public = (await create_room(tenant, type="public"))["room"]
    private = (await create_room(tenant, type="private", members=[{"user_id": "alice"}]))["room"]
    assert (await replay(anonymous, open_room["id"])).status_code == 200
    assert (await replay(anonymous, public["id"])).status_code == 401
    assert (await replay(anonymous, public["id"], token=(await replay_token(tenant, public["id"], "anyone"))["token"])).status_code == 200
    assert (await replay(anonymous, private["id"])).status_code == 401
    member = await replay_token(tenant, private["id"], "alice", name="Alice")
    assert member["replay_url"] == f"http://callgrid.test/rooms/{private['id']}/replay?token={member['token']}"
    assert (await replay(anonymous, private["id"], token=member["token"])).status_code == 200
    outsider = app.state.rooms.signer.issue(uuid.UUID(private["id"]), "mallory", app.state.clock().replace(year=2031))
    refused = await replay(anonymous, private["id"], token=outsider)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    key = app.state.rooms.signer.room_key(uuid.UUID(public["id"]))
    assert (await replay(anonymous, public["id"], key=key)).status_code == 200
    private_key = app.state.rooms.signer.room_key(uuid.UUID(private["id"]))
    assert (await replay(anonymous, private["id"], key=private_key)).status_code == 403
    assert (await replay(anonymous, public["id"], key="wrong")).status_code == 401
    assert (await replay(anonymous, public["id"], token=member["token"])).status_code == 401  # another room's
    for missing in ("018f0000-0000-7000-8000-000000000000", "not-a-uuid"):
        assert (await replay(anonymous, missing)).status_code == 404
    # A private room's replay token is for its members only; another organization's room is a 404.
    bad = await tenant.client.post(f"/v1/rooms/{private['id']}/replay-tokens", json={"user_id": "mallory"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "user_id"


async def test_an_ended_rooms_replay_has_its_timeline_and_a_token_made_after_the_end(tenant, other_tenant, server, anonymous):
    room = (await create_room(tenant, type="public", record=False))["room"]
    alice = await Peer.join(live_url(server, room["id"], token=(await join_token(tenant, room["id"], "alice", name="Alice"))["token"]))
    await alice.send({"type": "chat", "text": "hello"})
    await alice.next("chat")
    await alice.send({"type": "whiteboard_draw", "stroke": {"id": "s", "tool": "line", "points": [[1, 1], [2, 2]]}})
    await alice.next("whiteboard_draw")
    assert (await tenant.client.post(f"/v1/rooms/{room['id']}/terminate")).status_code == 200
    await alice.closed()
    assert (await tenant.client.post(f"/v1/rooms/{room['id']}/join-tokens", json={"user_id": "bob"})).status_code == 409
    token = (await replay_token(tenant, room["id"], "bob"))["token"]
    async with asyncio.timeout(10):
        while True:
            data = (await replay(anonymous, room["id"], token=token)).json()
            if [e["type"] for e in data["events"]][-1:] == ["session_left"]:
                break
            await asyncio.sleep(0.1)
    assert [e["type"] for e in data["events"]] == ["session_joined", "chat", "whiteboard_draw", "room_terminated", "session_left"]
    assert data["room"]["id"] == room["id"] and data["room"]["terminated_at"] is not None
    assert data["paging"]["next"] is None and data["recordings"] == []
    other = await other_tenant.client.post(f"/v1/rooms/{room['id']}/replay-tokens", json={"user_id": "x"})
    assert other.status_code == 404


def link_of(recording: dict) -> tuple[str, dict[str, str]]:
    """A media link's path (the app's, without the public URL) and its query."""
    parts = urlsplit(recording["media_url"])
    assert f"{parts.scheme}://{parts.netloc}" == "http://callgrid.test"
    return parts.path, {name: values[0] for name, values in parse_qs(parts.query).items()}


def changed(signature: str) -> str:
    """The signature with its last two characters changed (a fixed "AA" was none 1 time in 1,024)."""
    return signature[:-2] + ("BB" if signature.endswith("AA") else "AA")


async def test_a_replays_recordings_are_read_through_signed_links(app, clock, tenant, anonymous):
    room = (await create_room(tenant, type="public"))["room"]
    other = (await create_room(tenant, type="public"))["room"]
    content = bytes(range(256)) * 20  # 5,120 bytes
    one = await add_recording(app, tenant, room["id"], content=content)
    theirs = await add_recording(app, tenant, other["id"], content=b"another room's")
    token = (await replay_token(tenant, room["id"], "bob"))["token"]
    other_token = (await replay_token(tenant, other["id"], "bob"))["token"]
    [recording] = (await replay(anonymous, room["id"], token=token)).json()["recordings"]
    path, query = link_of(recording)
    expires = int(NOW.timestamp()) + 3600
    assert path == f"/v1/rooms/{room['id']}/replay/recordings/{one['id']}/media"
    assert set(query) == {"expires", "signature"} and query["expires"] == str(expires)
    assert recording["media_expires_at"] == "2030-01-01T13:00:00.000Z"
    assert token not in recording["media_url"]

    whole = await anonymous.get(path, params=query)
    assert whole.status_code == 200 and whole.content == content and whole.headers["content-type"] == "video/webm"
    part = await anonymous.get(path, params=query, headers={"Range": "bytes=100-1123"})
    assert part.status_code == 206 and part.headers["content-range"] == "bytes 100-1123/5120"
    assert part.content == content[100:1124]
    head = await anonymous.head(path, params=query, headers={"Range": "bytes=0-9"})
    assert head.status_code == 206 and head.headers["content-length"] == "10" and head.headers["accept-ranges"] == "bytes"

    # Tokens read no media: not this room's, not another's, not through the API's media either.
    api_media = f"/v1/rooms/{room['id']}/recordings/{one['id']}/media"
    for params in ({"token": token}, {"token": other_token}):
        api_answer = await anonymous.get(api_media, params=params)
        assert api_answer.status_code == 400 and api_answer.json()["errors"][0]["field"] == "token"  # no such parameter
        assert (await anonymous.get(api_media)).status_code == 401
        assert (await anonymous.get(path, params=params)).json()["errors"][0]["field"] == "token"
    # Another room's link, or this link for another recording or changed, opens nothing.
    [their_recording] = (await replay(anonymous, other["id"], token=other_token)).json()["recordings"]
    their_path, their_query = link_of(their_recording)
    for asked_path, asked in (
        (path, their_query),
        (their_path, query),
        (path.replace(one["id"], theirs["id"]), query),
        (their_path.replace(other["id"], room["id"]), their_query),
        (path, {**query, "expires": str(expires + 3600)}),
        (path, {**query, "signature": changed(query["signature"])}),
    ):
        refused = await anonymous.get(asked_path, params=asked)
        assert refused.status_code == 401, (asked_path, asked)
        assert refused.json()["errors"] == [{"field": "signature", "message": "is not a valid media link signature"}]
    assert (await anonymous.get(their_path, params=their_query)).content == b"another room's"

    # A link lasts an hour (no longer than the token): then it is refused and the data gives a new one.
    short = (await replay_token(tenant, room["id"], "carol", ttl_seconds=600))["token"]
    [from_short] = (await replay(anonymous, room["id"], token=short)).json()["recordings"]
    assert link_of(from_short)[1]["expires"] == str(int(NOW.timestamp()) + 600)
    clock.advance(timedelta(seconds=3601))
    expired = await anonymous.get(path, params=query)
    assert expired.status_code == 401 and expired.json()["errors"][0]["field"] == "expires"
    [renewed] = (await replay(anonymous, room["id"], token=token)).json()["recordings"]
    assert (await anonymous.get(link_of(renewed)[0], params=link_of(renewed)[1])).content == content

    # A deleted recording's link finds nothing.
    assert (await tenant.client.delete(f"/v1/rooms/{room['id']}/recordings/{one['id']}")).status_code == 204
    gone = await anonymous.get(link_of(renewed)[0], params=link_of(renewed)[1])
    assert gone.status_code == 404 and gone.json()["errors"][0]["field"] == "recording_id"


async def test_an_open_rooms_replay_links_its_recordings_without_credentials(app, tenant, anonymous):
    room = (await create_room(tenant, type="open"))["room"]
    await add_recording(app, tenant, room["id"], content=b"open")
    [recording] = (await replay(anonymous, room["id"])).json()["recordings"]
    path, query = link_of(recording)
    assert (await anonymous.get(path, params=query)).content == b"open"
    bare = await anonymous.get(path)  # the link's query is what opens it
    assert bare.status_code == 400 and {e["field"] for e in bare.json()["errors"]} == {"expires", "signature"}
    for bad in ("not-a-uuid", "018f0000-0000-7000-8000-000000000000"):
        answer = await anonymous.get(path.replace(room["id"], bad), params=query)
        assert answer.status_code == (404 if bad == "not-a-uuid" else 401)
