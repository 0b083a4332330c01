"""Who may open a room's replay (docs/rooms.md, Replay): an open room's anyone, a public room's
a token holder, a private room's a member's token, also once the room has ended (tokens from
`POST /v1/rooms/{id}/replay-tokens`); the replay's data is the room, its timeline in pages and
its recordings."""

import asyncio
import uuid

from tests.rooms.conftest import Peer, create_room, join_token, live_url


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
