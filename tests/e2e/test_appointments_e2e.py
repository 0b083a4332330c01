"""`callgrid serve` on a fresh database, the appointments API over real HTTP: create, bulk add,
bulk remove, and a list with each filter."""

from datetime import UTC, datetime, timedelta

import pytest

API = "/api/v1/appointments"

pytestmark = pytest.mark.slow  # a real server process


def at(days: int, hour: int) -> datetime:
    """`days` from today at `hour`:00 UTC (always in the future for days >= 1)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days, hours=hour)


def z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_appointments_over_http(server):
    org = server.create_org("Clinic")
    async with server.client(org["api_key"]) as client, server.client(server.first_key) as stranger:
        # Create, in the seed's own example form of date-time, on the slashless path.
        first_start = at(2, 15).replace(minute=26, second=22, microsecond=539536)
        seed_body = {
            "title": "Consultation Meeting",
            "start_date_time": str(first_start),  # "YYYY-MM-DD HH:MM:SS.ffffff+00:00"
            "duration_minutes": 60,
            "participants": [{"role": "moderator", "display_name": "Admin User", "unique_id": "admin@example.com"}],
        }
        r = await client.post(API, json=seed_body)
        assert r.status_code == 201, r.text
        consultation = r.json()
        # Kept to the microsecond, written to the millisecond (every timestamp Callgrid writes).
        assert consultation["start_date_time"] == first_start.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        assert consultation["status"] == "scheduled"
        assert consultation["config"] == {
            "breakout_rooms_enabled": False, "whiteboard_enabled": False, "chat_enabled": True,
            "join_screen_enabled": True, "screenshare_enabled": True, "raise_hand_enabled": True,
        }
        a = f"{API}/{consultation['id']}"

        # Bulk add (the seed's example body), then a duplicate that changes nothing.
        r = await client.post(f"{a}/add-participants/", json=[
            {"role": "participant", "unique_id": "user1@example.com", "display_name": "User One"},
            {"role": "moderator", "unique_id": "admin2@example.com", "display_name": "Admin Two"},
            {"role": "participant", "unique_id": "user2@example.com"},
        ])
        assert r.status_code == 200, r.text
        assert [p["unique_id"] for p in r.json()["participants"]] == [
            "admin@example.com", "user1@example.com", "admin2@example.com", "user2@example.com",
        ]
        after_add = r.json()
        r = await client.post(f"{a}/add-participants", json=[
            {"role": "participant", "unique_id": "user3@example.com"},
            {"role": "participant", "unique_id": "user1@example.com"},
        ])
        assert r.status_code == 400
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"][0]["field"] == "[1].unique_id"
        assert (await client.get(f"{a}/")).json() == after_add

        # Bulk remove, then an unknown id that changes nothing.
        by_uid = {p["unique_id"]: p["id"] for p in after_add["participants"]}
        r = await client.post(f"{a}/remove-participants/", json=[{"id": by_uid["user2@example.com"]}, {"id": by_uid["admin2@example.com"]}])
        assert r.status_code == 200, r.text
        assert [p["unique_id"] for p in r.json()["participants"]] == ["admin@example.com", "user1@example.com"]
        after_remove = r.json()
        r = await client.post(f"{a}/remove-participants", json=[{"id": by_uid["user1@example.com"]}, {"id": by_uid["user2@example.com"]}])
        assert r.status_code == 400
        assert r.json()["errors"][0]["field"] == "[1].id"
        assert (await client.get(a)).json() == after_remove

        # Two more appointments to filter among.
        follow_up = (await client.post(f"{API}/", json={
            "title": "Follow-up", "start_date_time": z(at(5, 9)), "duration_minutes": 30,
            "participants": [{"role": "moderator", "unique_id": "admin@example.com"}],
        })).json()
        review = (await client.post(f"{API}/", json={
            "title": "Review", "start_date_time": z(at(9, 9)), "duration_minutes": 45,
            "participants": [{"role": "moderator", "unique_id": "reviewer@example.com"}, {"role": "participant", "unique_id": "user1@example.com"}],
        })).json()

        async def listed(**params) -> dict:
            r = await client.get(f"{API}/", params=params)
            assert r.status_code == 200, r.text
            return r.json()

        def titles(page: dict) -> list[str]:
            return [item["title"] for item in page["results"]]

        everything = await listed()
        assert everything["count"] == 3
        assert titles(everything) == ["Consultation Meeting", "Follow-up", "Review"]
        assert [item["participant_count"] for item in everything["results"]] == [2, 1, 2]
        assert {item["organization_name"] for item in everything["results"]} == {"Clinic"}
        # Each filter on its own, then together.
        assert titles(await listed(participant_unique_id="user1@example.com")) == ["Consultation Meeting", "Review"]
        assert titles(await listed(participant_unique_id="user2@example.com")) == []  # removed above
        assert titles(await listed(start_date=z(at(5, 9)))) == ["Follow-up", "Review"]
        assert titles(await listed(end_date=z(at(5, 9)))) == ["Consultation Meeting"]
        assert titles(await listed(start_date=z(at(3, 0)), end_date=z(at(9, 0)))) == ["Follow-up"]
        both = await listed(participant_unique_id="admin@example.com", start_date=z(at(1, 0)), end_date=z(at(10, 0)), page_size=1)
        assert both["count"] == 2
        assert titles(both) == ["Consultation Meeting"]
        assert both["next"].startswith(server.base_url)
        r = await client.get(both["next"])
        assert titles(r.json()) == ["Follow-up"]
        assert r.json()["next"] is None
        assert (await client.get(f"{API}/", params={"page": 3, "page_size": 1, "participant_unique_id": "admin@example.com"})).status_code == 404

        # Another organization's key sees none of it.
        assert (await stranger.get(f"{API}/{review['id']}/")).status_code == 404
        assert (await stranger.get(API)).json() == {"count": 0, "next": None, "previous": None, "results": []}

        # Cancel; it reads as cancelled.
        assert (await client.delete(f"{API}/{follow_up['id']}/")).status_code == 204
        assert (await client.get(f"{API}/{follow_up['id']}")).json()["status"] == "cancelled"
