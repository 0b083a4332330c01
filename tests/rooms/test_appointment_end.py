"""Ending an appointment early (POST /api/v1/appointments/{id}/end) ends its room: whoever is
in it is told `terminated` and disconnected, and the room's meeting time is kept."""

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from tests.rooms.conftest import Peer, live_url, refused

APPOINTMENTS = "/api/v1/appointments"


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


async def test_ending_an_appointment_disconnects_its_room(tenant, server, clock):
    created = await tenant.client.post(f"{APPOINTMENTS}/", json={
        "title": "Consultation", "start_date_time": "2030-01-03T10:00:00Z", "duration_minutes": 30,
        "participants": [{"role": "moderator", "unique_id": "dr@example.com", "display_name": "Dr Smith"},
                         {"role": "participant", "unique_id": "pat@example.com", "display_name": "Pat"}],
    })
    assert created.status_code == 201, created.text
    appointment = created.json()
    links = {p["unique_id"]: token_of(p["join_url"]) for p in appointment["participants"]}
    clock.move_to(datetime(2030, 1, 3, 10, 5, tzinfo=UTC))  # five minutes into it
    doctor = await Peer.join(live_url(server, appointment["id"], token=links["dr@example.com"]))
    patient = await Peer.join(live_url(server, appointment["id"], token=links["pat@example.com"]))
    r = await tenant.client.post(f"{APPOINTMENTS}/{appointment['id']}/end/")
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    for peer in (doctor, patient):
        assert await peer.next("terminated") == {"type": "terminated", "reason": "terminated"}
        assert (await peer.closed())[0] == 4410
    assert await refused(live_url(server, appointment["id"], token=links["pat@example.com"])) == (4410, "the room is terminated")
    room = (await tenant.client.get(f"/v1/rooms/{appointment['id']}")).json()["room"]
    assert room["is_terminated"] is True
