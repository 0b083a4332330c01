"""Every video call and appointment has a private room created with it: the links the calls
APIs hand out let the right people in, with the right role; cancelling ends the room."""

from urllib.parse import parse_qs, urlsplit

from tests.rooms.conftest import Peer, live_url, refused

CALLS = "/api/v1/external/workshops/video-calls"
APPOINTMENTS = "/api/v1/appointments"


def credentials(link: str) -> tuple[str, dict[str, str]]:
    """(room id, query) of a link to a room page."""
    parts = urlsplit(link)
    assert parts.path.startswith("/rooms/"), link
    return parts.path.removeprefix("/rooms/"), {k: v[0] for k, v in parse_qs(parts.query).items()}


async def video_call(tenant) -> dict:
    mango = await tenant.client.post("/api/v1/products", json={"title": "Mango", "price": 1})
    assert mango.status_code == 201, mango.text
    created = await tenant.client.post(CALLS, json={"title": "Yoga", "mango": mango.json()["id"], "startDate": "2030-01-02",
                                                    "fromTime": "10:00", "timezoneName": "UTC", "duration": 60})
    assert created.status_code == 201, created.text
    detail = await tenant.client.get(f"{CALLS}/{created.json()['_id']}")
    assert detail.status_code == 200, detail.text
    return detail.json()


async def test_a_video_calls_links_let_a_guest_in_by_its_key_and_the_host_in_as_host(tenant, server):
    call = await video_call(tenant)
    room_id, query = credentials(call["meetingUrl"])
    assert room_id == call["_id"] and set(query) == {"key"}
    room = (await tenant.client.get(f"/v1/rooms/{room_id}")).json()["room"]
    assert (room["type"], room["name"], room["record"], room["members_count"]) == ("private", "Yoga", False, 1)
    guest = await Peer.join(live_url(server, room_id, key=query["key"], name="Student"))
    assert (guest.welcome["role"], guest.welcome["name"]) == ("guest", "Student")
    host_room, host_query = credentials(call["hostMeetingUrl"])
    assert host_room == room_id and set(host_query) == {"token"}
    host = await Peer.join(live_url(server, room_id, token=host_query["token"]))
    assert (host.welcome["role"], host.welcome["user_id"], host.welcome["name"]) == ("host", tenant.host_id, "Acme")
    # Another call's key opens nothing here.
    other = await video_call_at(tenant, "12:00")
    _, other_query = credentials(other["meetingUrl"])
    assert await refused(live_url(server, room_id, key=other_query["key"], name="x")) == (4401, "invalid room key")
    # Cancelling the call ends its room for everyone in it.
    assert (await tenant.client.delete(f"{CALLS}/{room_id}")).status_code == 200
    for peer in (guest, host):
        assert await peer.next("terminated") == {"type": "terminated", "reason": "cancelled"}
        assert (await peer.closed())[0] == 4410
    assert await refused(live_url(server, room_id, key=query["key"], name="late")) == (4410, "the room is terminated")


async def video_call_at(tenant, from_time: str) -> dict:
    mango = (await tenant.client.post("/api/v1/products", json={"title": "Other", "price": 1})).json()["id"]
    created = await tenant.client.post(CALLS, json={"title": "Other", "mango": mango, "startDate": "2030-01-02",
                                                    "fromTime": from_time, "timezoneName": "UTC", "duration": 30})
    assert created.status_code == 201, created.text
    return (await tenant.client.get(f"{CALLS}/{created.json()['_id']}")).json()


async def test_every_occurrence_of_a_series_has_its_own_room(tenant):
    mango = (await tenant.client.post("/api/v1/products", json={"title": "Mango", "price": 1})).json()["id"]
    created = await tenant.client.post(CALLS, json={"title": "Daily", "mango": mango, "startDate": "2030-01-02", "endDate": "2030-01-04",
                                                    "repeatingDays": [0, 1, 2, 3, 4, 5, 6], "fromTime": "08:00",
                                                    "timezoneName": "UTC", "duration": 30})
    assert created.status_code == 201, created.text
    listed = (await tenant.client.get(CALLS, params={"startDate": "2030-01-01T00:00:00Z"})).json()
    calls = [c for group in listed["data"] for c in group["calls"]]
    assert len(calls) == 3
    keys = set()
    for call in calls:
        room_id, query = credentials(call["meetingUrl"])
        assert room_id == call["_id"]
        keys.add(query["key"])
        assert (await tenant.client.get(f"/v1/rooms/{room_id}")).status_code == 200
    assert len(keys) == 3
    assert (await tenant.client.delete(f"{CALLS}/groups/{created.json()['groupId']}")).status_code == 200
    for call in calls:
        assert (await tenant.client.get(f"/v1/rooms/{call['_id']}")).json()["room"]["is_terminated"] is True


async def test_appointment_participants_join_with_their_own_links_moderators_as_hosts(tenant, server):
    created = await tenant.client.post(f"{APPOINTMENTS}/", json={
        "title": "Consultation", "start_date_time": "2030-01-03T10:00:00Z", "duration_minutes": 30,
        "participants": [{"role": "moderator", "unique_id": "dr@example.com", "display_name": "Dr Smith"},
                         {"role": "participant", "unique_id": "pat@example.com", "display_name": "Pat"}],
    })
    assert created.status_code == 201, created.text
    appointment = created.json()
    links = {p["unique_id"]: p["join_url"] for p in appointment["participants"]}
    room_id, doctor_query = credentials(links["dr@example.com"])
    assert room_id == appointment["id"]
    room = (await tenant.client.get(f"/v1/rooms/{room_id}")).json()["room"]
    assert (room["type"], room["members_count"]) == ("private", 2)
    doctor = await Peer.join(live_url(server, room_id, token=doctor_query["token"]))
    assert (doctor.welcome["role"], doctor.welcome["name"], doctor.welcome["user_id"]) == ("host", "Dr Smith", "dr@example.com")
    _, patient_query = credentials(links["pat@example.com"])
    patient = await Peer.join(live_url(server, room_id, token=patient_query["token"]))
    assert (patient.welcome["role"], patient.welcome["name"]) == ("member", "Pat")
    assert patient.welcome["features"] == {"chat": True, "raise_hand": True, "screenshare": True, "join_screen": True,
                                           "whiteboard": False, "breakout_rooms": False}  # the appointment's defaults
    # The same links are listed with the participants.
    listed = (await tenant.client.get(f"{APPOINTMENTS}/{room_id}/participants/")).json()["results"]
    assert {p["unique_id"]: p["join_url"] for p in listed} == links
    # Removing a participant removes the member: connected, they are disconnected; their link stops working.
    patient_id = next(p["id"] for p in appointment["participants"] if p["unique_id"] == "pat@example.com")
    removed = await tenant.client.post(f"{APPOINTMENTS}/{room_id}/remove-participants/", json=[{"id": patient_id}])
    assert removed.status_code == 200, removed.text
    assert await patient.closed() == (4403, "removed from the room")
    assert await refused(live_url(server, room_id, token=patient_query["token"])) == (4403, "not a member of this private room")
    # Turning chat off for the appointment turns it off in its room.
    assert (await tenant.client.patch(f"{APPOINTMENTS}/{room_id}/", json={"config": {"chat_enabled": False}})).status_code == 200
    await doctor.close()
    doctor = await Peer.join(live_url(server, room_id, token=doctor_query["token"]))
    assert doctor.welcome["features"]["chat"] is False
    await doctor.send({"type": "chat", "text": "hello"})
    assert (await doctor.next("error"))["code"] == "disabled"
    # Cancelling the appointment ends its room.
    assert (await tenant.client.delete(f"{APPOINTMENTS}/{room_id}/")).status_code == 204
    assert await doctor.next("terminated") == {"type": "terminated", "reason": "cancelled"}
    assert (await doctor.closed())[0] == 4410
