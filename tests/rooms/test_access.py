"""Who may join, over the WebSocket protocol (docs/rooms.md, "Who may join"): every rule and
every refusal's close code."""

from datetime import timedelta

from callgrid.rooms.tokens import RoomSigner
from tests.rooms.conftest import Peer, create_room, join_token, live_url, refused


async def test_open_room_anyone_with_the_url_joins_as_a_guest_under_their_name(tenant, server):
    room = (await create_room(tenant, type="open"))["room"]
    guest = await Peer.join(live_url(server, room["id"], name="Zoe"))
    assert guest.welcome["role"] == "guest"
    assert guest.welcome["user_id"] is None
    assert guest.welcome["name"] == "Zoe"
    assert guest.welcome["participants"] == []
    # A token still identifies a member in an open room.
    token = (await join_token(tenant, room["id"], "alice", name="Alice"))["token"]
    alice = await Peer.join(live_url(server, room["id"], token=token))
    assert (alice.welcome["user_id"], alice.welcome["name"], alice.welcome["role"]) == ("alice", "Alice", "member")
    assert [p["session_id"] for p in alice.welcome["participants"]] == [guest.session_id]
    joined = await guest.next("participant_joined")
    assert joined["participant"]["user_id"] == "alice"
    await guest.close()
    await alice.close()


async def test_public_room_needs_a_valid_token_for_any_user_id(tenant, server):
    room = (await create_room(tenant, type="public"))["room"]
    assert await refused(live_url(server, room["id"], name="Zoe")) == (4401, "a join token is required")
    token = (await join_token(tenant, room["id"], "anyone-at-all"))["token"]
    peer = await Peer.join(live_url(server, room["id"], token=token))
    assert peer.welcome["user_id"] == "anyone-at-all"
    assert peer.welcome["role"] == "member"
    await peer.close()


async def test_private_room_only_members_with_their_own_token(app, tenant, clock, server):
    room = (await create_room(tenant, type="private", members=[{"user_id": "bob", "type": "host", "name": "Bob"}]))["room"]
    token = (await join_token(tenant, room["id"], "bob"))["token"]
    bob = await Peer.join(live_url(server, room["id"], token=token))
    assert (bob.welcome["role"], bob.welcome["name"]) == ("host", "Bob")
    await bob.close()
    # A token for someone who is not a member cannot even be issued...
    response = await tenant.client.post(f"/v1/rooms/{room['id']}/join-tokens", json={"user_id": "mallory"})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "user_id"
    # ... and one signed for a non-member (here: made with the server's own signer) is refused.
    forged = server_signer(app).issue(room_id(room), "mallory", clock() + timedelta(hours=1))
    assert await refused(live_url(server, room["id"], token=forged)) == (4403, "not a member of this private room")
    assert (await refused(live_url(server, room["id"], name="Zoe")))[0] == 4401


async def test_a_removed_members_token_stops_working_and_a_connected_one_is_disconnected(tenant, server):
    room = (await create_room(tenant, type="private", members=[{"user_id": "bob"}, {"user_id": "carol"}]))["room"]
    bob_token = (await join_token(tenant, room["id"], "bob"))["token"]
    carol = await Peer.join(live_url(server, room["id"], token=(await join_token(tenant, room["id"], "carol"))["token"]))
    bob = await Peer.join(live_url(server, room["id"], token=bob_token))
    assert (await tenant.client.delete(f"/v1/rooms/{room['id']}/members/bob")).status_code == 204
    assert await bob.closed() == (4403, "removed from the room")
    left = await carol.next("participant_left")
    assert (left["session_id"], left["reason"]) == (bob.session_id, "removed")
    assert await refused(live_url(server, room["id"], token=bob_token)) == (4403, "not a member of this private room")
    await carol.close()


async def test_expired_foreign_and_malformed_tokens_are_4401(tenant, clock, server):
    room = (await create_room(tenant, type="public"))["room"]
    other = (await create_room(tenant, type="public"))["room"]
    foreign = (await join_token(tenant, other["id"], "alice"))["token"]
    assert await refused(live_url(server, room["id"], token=foreign)) == (4401, "the token is for another room")
    assert (await refused(live_url(server, room["id"], token="not.a.token")))[0] == 4401
    token = (await join_token(tenant, room["id"], "alice"))["token"]
    tampered = token[:-2] + ("yy" if token.endswith("xx") else "xx")
    assert (await refused(live_url(server, room["id"], token=tampered)))[0] == 4401
    short = (await join_token(tenant, room["id"], "alice", ttl_seconds=60))["token"]
    peer = await Peer.join(live_url(server, room["id"], token=short))  # valid now
    await peer.close()
    clock.advance(timedelta(seconds=61))
    assert await refused(live_url(server, room["id"], token=short)) == (4401, "the token has expired")


async def test_a_token_from_another_installation_is_4401(tenant, clock, server):
    room = (await create_room(tenant, type="public"))["room"]
    elsewhere = RoomSigner("another installation's secret, not ours")
    token = elsewhere.issue(room_id(room), "alice", clock() + timedelta(hours=1))
    assert (await refused(live_url(server, room["id"], token=token)))[0] == 4401


async def test_room_key_lets_anyone_in_as_a_guest_and_a_wrong_key_is_4401(app, tenant, server):
    room = (await create_room(tenant, type="private"))["room"]
    key = server_signer(app).room_key(room_id(room))
    guest = await Peer.join(live_url(server, room["id"], key=key, name="Walk-in"))
    assert (guest.welcome["role"], guest.welcome["name"], guest.welcome["user_id"]) == ("guest", "Walk-in", None)
    await guest.close()
    assert await refused(live_url(server, room["id"], key=key[:-1] + ("A" if key[-1] != "A" else "B"))) == (4401, "invalid room key")


async def test_unknown_room_is_4404_and_another_organizations_room_needs_its_own_token(tenant, other_tenant, server):
    assert (await refused(live_url(server, "not-a-uuid", name="x")))[0] == 4404
    assert (await refused(live_url(server, "01a1fca0-ee01-728d-97ba-1843f2e8230c", name="x")))[0] == 4404
    theirs = (await create_room(other_tenant, type="public"))["room"]
    mine = (await create_room(tenant, type="public"))["room"]
    my_token = (await join_token(tenant, mine["id"], "alice"))["token"]
    assert await refused(live_url(server, theirs["id"], token=my_token)) == (4401, "the token is for another room")


async def test_terminated_room_refuses_every_join_with_4410(tenant, server):
    room = (await create_room(tenant, type="open"))["room"]
    token = (await join_token(tenant, room["id"], "alice"))["token"]
    peer = await Peer.join(live_url(server, room["id"], token=token))
    response = await tenant.client.post(f"/v1/rooms/{room['id']}/terminate")
    assert response.status_code == 200, response.text
    assert response.json()["room"]["is_terminated"] is True
    assert (await peer.next("terminated"))["reason"] == "terminated"
    assert await peer.closed() == (4410, "the room is terminated")
    assert await refused(live_url(server, room["id"], token=token)) == (4410, "the room is terminated")
    assert await refused(live_url(server, room["id"], name="Zoe")) == (4410, "the room is terminated")
    # No new tokens either.
    again = await tenant.client.post(f"/v1/rooms/{room['id']}/join-tokens", json={"user_id": "bob"})
    assert again.status_code == 409, again.text


def room_id(room: dict):
    from uuid import UUID

    return UUID(room["id"])


def server_signer(app) -> RoomSigner:
    return app.state.rooms.signer
