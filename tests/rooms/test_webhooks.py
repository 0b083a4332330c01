"""Join and leave webhooks, delivered by the embedded worker to a real receiver process that
verifies Standard Webhooks signatures: the seed's body without envelope to the room's webhook
(its own secret and headers), the usual envelope to the organization's endpoints."""

import pytest

from tests.rooms.conftest import Peer, create_room, join_token, live_url
from tests.webhooks.conftest import FAST, Receiver, create_endpoint

pytestmark = [pytest.mark.slow, pytest.mark.room_settings(**FAST)]  # a real receiver process


@pytest.fixture
def embedded_worker() -> bool:
    return True


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def seed_bodies(records: list[dict]) -> set[tuple]:
    return {
        (r["json"]["action"], r["json"]["payload"]["sessionId"], r["json"]["payload"]["sessionsCount"], r["json"]["payload"]["membersCount"])
        for r in records
    }


async def test_every_join_and_leave_reaches_the_rooms_webhook_with_the_seed_body_signed_and_counted(tenant, server, receiver):
    org_endpoint = await create_endpoint(tenant, receiver.url("/org"))
    created = await create_room(
        tenant, type="open", members=[{"user_id": "alice"}],
        webhook={"url": receiver.url("/room"), "headers": {"X-Api-Key": "abc"}},
    )
    room, secret = created["room"], created["webhook_secret"]
    assert secret.startswith("whsec_") and secret != org_endpoint["secret"]
    assert room["webhook"] == {"url": receiver.url("/room"), "header_names": ["X-Api-Key"]}  # values are write-only
    receiver.trust(secret, org_endpoint["secret"])
    # The room's webhook is not one of the organization's endpoints.
    listed = (await tenant.client.get("/api/v1/webhook-endpoints")).json()
    assert [e["id"] for e in listed["items"]] == [org_endpoint["id"]]

    token = (await join_token(tenant, room["id"], "alice"))["token"]
    tab1 = await Peer.join(live_url(server, room["id"], token=token))
    tab2 = await Peer.join(live_url(server, room["id"], token=token))
    await tab1.next("participant_joined")
    guest = await Peer.join(live_url(server, room["id"], name="Guest One"))
    await tab1.next("participant_joined")
    await guest.close()
    await tab1.next("participant_left")
    await tab2.close()
    await tab1.next("participant_left")
    await tab1.close()

    records = await receiver.count(6, path="/room")
    assert all(r["verified"] and r["secret"] == secret for r in records)
    assert seed_bodies(records) == {
        ("sessionJoined", tab1.session_id, 1, 1),
        ("sessionJoined", tab2.session_id, 2, 1),  # two sessions of one member
        ("sessionJoined", guest.session_id, 3, 2),
        ("sessionLeft", guest.session_id, 2, 1),
        ("sessionLeft", tab2.session_id, 1, 1),
        ("sessionLeft", tab1.session_id, 0, 0),
    }
    for record in records:
        body = record["json"]
        assert set(body) == {"action", "payload"}  # no envelope
        payload = body["payload"]
        assert payload["roomId"] == room["id"]
        assert payload["timestamp"].endswith("Z") and len(payload["timestamp"]) == len("2030-01-01T12:00:00.000Z")
        if payload["sessionId"] == guest.session_id:
            assert "userId" not in payload and payload["memberId"] == guest.welcome["member_id"]
            assert set(payload) == {"roomId", "memberId", "sessionId", "sessionsCount", "membersCount", "timestamp"}
        else:
            assert payload["userId"] == "alice" and payload["memberId"] == tab1.welcome["member_id"]
        assert record["headers"]["x-api-key"] == "abc"
        assert record["headers"]["webhook-id"]
        assert record["headers"]["content-type"] == "application/json"

    # The organization's endpoint got the same bodies as `data`, in the envelope.
    org = await receiver.count(6, path="/org")
    assert all(r["verified"] and r["secret"] == org_endpoint["secret"] for r in org)
    assert {r["json"]["type"] for r in org} == {"room.session_joined", "room.session_left"}
    assert {r["json"]["data"]["payload"]["sessionId"] for r in org} == {tab1.session_id, tab2.session_id, guest.session_id}
    by_id = {r["json"]["data"]["payload"]["sessionId"] + r["json"]["data"]["action"]: r["json"]["data"] for r in org}
    for record in records:
        body = record["json"]
        assert by_id[body["payload"]["sessionId"] + body["action"]] == body


async def test_the_end_of_a_room_reaches_the_organization_and_ends_with_the_last_leaves(tenant, server, receiver):
    org_endpoint = await create_endpoint(tenant, receiver.url("/org"))
    created = await create_room(tenant, type="public", max_meeting_seconds=1, webhook={"url": receiver.url("/room")})
    room = created["room"]
    receiver.trust(created["webhook_secret"], org_endpoint["secret"])
    alice = await Peer.join(live_url(server, room["id"], token=(await join_token(tenant, room["id"], "alice"))["token"]))
    bob = await Peer.join(live_url(server, room["id"], token=(await join_token(tenant, room["id"], "bob"))["token"]))
    for peer in (alice, bob):
        assert (await peer.next("terminated", timeout=15))["reason"] == "max_meeting_time"
        assert (await peer.closed())[0] == 4410
    org = await receiver.wait(lambda rs: sum(r["json"]["type"] == "room.terminated" for r in rs) == 1
                              and sum(r["json"]["type"] == "room.session_left" for r in rs) == 2, path="/org")
    [ended] = [r["json"]["data"] for r in org if r["json"]["type"] == "room.terminated"]
    assert (ended["id"], ended["is_terminated"], ended["meeting_time"]) == (room["id"], True, 1000)
    # The room's own webhook hears joins and leaves only: its final leaves, counted down to zero.
    records = await receiver.count(4, path="/room")
    assert sorted((r["json"]["action"], r["json"]["payload"]["sessionsCount"]) for r in records) == [
        ("sessionJoined", 1), ("sessionJoined", 2), ("sessionLeft", 0), ("sessionLeft", 1)]


async def test_a_rotated_secret_signs_from_then_on_and_a_removed_webhook_gets_nothing(tenant, server, receiver):
    created = await create_room(tenant, type="open", webhook={"url": receiver.url("/room")})
    room, first = created["room"], created["webhook_secret"]
    rotated = await tenant.client.post(f"/v1/rooms/{room['id']}/webhook/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["webhook_secret"]
    assert second.startswith("whsec_") and second != first
    receiver.trust(second, only=True)
    peer = await Peer.join(live_url(server, room["id"], name="Zoe"))
    [record] = await receiver.count(1, path="/room")
    assert record["verified"] and record["secret"] == second
    # Changing the URL keeps the secret (no new one is shown); removing it stops deliveries.
    moved = await tenant.client.patch(f"/v1/rooms/{room['id']}", json={"webhook": {"url": receiver.url("/moved"), "headers": {}}})
    assert moved.status_code == 200, moved.text
    assert "webhook_secret" not in moved.json()
    await peer.close()
    [record] = await receiver.count(1, path="/moved")
    assert record["verified"] and record["json"]["action"] == "sessionLeft"
    removed = await tenant.client.patch(f"/v1/rooms/{room['id']}", json={"webhook": None})
    assert removed.status_code == 200 and removed.json()["room"]["webhook"] is None
    again = await Peer.join(live_url(server, room["id"], name="Zoe"))
    await again.close()
    # A webhook set again is a new one, with a new secret shown once.
    reset = await tenant.client.patch(f"/v1/rooms/{room['id']}", json={"webhook": {"url": receiver.url("/room")}})
    assert reset.json()["webhook_secret"] not in (first, second)
    receiver.trust(reset.json()["webhook_secret"], only=True)
    third = await Peer.join(live_url(server, room["id"], name="Zoe"))
    records = await receiver.wait(
        lambda rs: ("sessionJoined", third.session_id) in {(r["json"]["action"], r["json"]["payload"]["sessionId"]) for r in rs},
        path="/room",
    )
    seen = {(r["json"]["action"], r["json"]["payload"]["sessionId"]) for r in records}
    # `again` joined while the room had no webhook: its join went nowhere. (Its leave may have
    # been recorded before or after the webhook was set again: either is right.)
    assert ("sessionJoined", again.session_id) not in seen
    assert ("sessionJoined", peer.session_id) in seen
    assert [r["json"]["payload"]["sessionId"] for r in receiver.received("/moved")] == [peer.session_id]
    await third.close()
