"""`callgrid serve` on a fresh database, an organization made with the CLI, the video-calls API over HTTP."""

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from tests.e2e.conftest import start_server

API = "/api/v1/external/workshops/video-calls"

pytestmark = pytest.mark.slow  # real server processes


def day(offset: int) -> str:
    return (date.today() + timedelta(days=offset)).isoformat()


async def test_video_calls_over_http(server):
    assert server.first_key.startswith("cg_"), "the first start prints the first organization's key"
    created = server.create_org("Creators Co")
    assert set(created) == {"organization", "host", "api_key"}
    assert created["organization"]["slug"] == "creators-co"

    async with server.client(created["api_key"]) as client, server.client("cg_wrong") as stranger:
        denied = await stranger.get(API)
        assert denied.status_code == 401
        assert denied.json() == {
            "code": 401, "type": "Unauthorized", "statusMessage": "UNAUTHORIZED", "message": "invalid token", "success": False,
            "requestId": denied.headers["x-request-id"],
        }

        product = (await client.post("/api/v1/products", json={"title": "Coding 101", "price": 500})).json()
        subscriber = (await client.post("/api/v1/contacts", json={"email": "ana@example.com"})).json()
        added = await client.post(f"/api/v1/products/{product['id']}/subscribers", json={"contact_id": subscriber["id"]})
        assert added.status_code == 201

        one_time = {"title": "Kick-off", "mango": product["id"], "startDate": day(5), "fromTime": "10:00",
                    "timezoneName": "Asia/Calcutta", "duration": 60}
        response = await client.post(API, json=one_time)
        assert response.status_code == 201, response.text
        kickoff = response.json()
        assert kickoff["scheduledMeetingDates"] == [f"{day(5)}T04:30:00.000Z to {day(5)}T05:30:00.000Z"]

        weekly = {**one_time, "title": "Weekly", "startDate": day(1), "endDate": day(28), "repeatingDays": ["Mon", 3]}
        check = (await client.post(f"{API}/check-availability", json={k: v for k, v in weekly.items() if k not in ("title", "mango")})).json()
        kickoff_weekday = (date.today() + timedelta(days=5)).weekday()
        expected_overlaps = 1 if kickoff_weekday in (0, 2) else 0
        assert check["maximumOverlap"] == expected_overlaps
        assert [o["existing"]["_id"] for o in check["overlapList"]] == [kickoff["_id"]] * expected_overlaps

        response = await client.post(API, json={**weekly, "allowOverlap": True})
        assert response.status_code == 201, response.text
        series = response.json()
        assert series["_id"] == series["groupId"]
        starts = [datetime.fromisoformat(r.split(" to ")[0].replace("Z", "+00:00")) for r in series["scheduledMeetingDates"]]
        assert starts and all(s.astimezone(UTC).weekday() in (0, 2) for s in starts)
        assert all(s.hour == 4 and s.minute == 30 for s in starts)

        listed = (await client.get(API, params={"limit": 100}, headers={"x-timezone-offset": "330"})).json()
        assert listed["total"] == len(starts) + 1
        ids = [call["_id"] for group in listed["data"] for call in group["calls"]]
        assert kickoff["_id"] in ids
        as_subscriber = (await client.get(API, params={"userId": subscriber["id"], "limit": 100})).json()
        assert as_subscriber["total"] == listed["total"]

        renamed = await client.patch(f"{API}/{kickoff['_id']}", json={"title": "Kick-off (moved)", "fromTime": "18:00"})
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["title"] == "Kick-off (moved)"
        assert renamed.json()["fromTime"] == f"{day(5)}T12:30:00.000Z"

        cancelled = await client.delete(f"{API}/{kickoff['_id']}")
        assert cancelled.json()["status"] == "cancelled"
        group = (await client.delete(f"{API}/groups/{series['groupId']}")).json()
        assert group["cancelledCount"] == len(starts)
        assert (await client.get(API)).json() == {"total": 0, "data": []}

    # Another organization's calls are not even visible to the first organization's key.
    async with server.client(server.first_key) as first:
        assert (await first.get(f"{API}/{kickoff['_id']}")).status_code == 404


def test_server_survives_restart_with_data(server):
    """Data written through one process is there for the next: a 2xx means committed."""
    created = server.create_org("Durable")
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {created['api_key']}"}) as client:
        product = client.post("/api/v1/products", json={"title": "P"}).json()
        body = {"title": "Durable", "mango": product["id"], "startDate": day(2), "fromTime": "09:00",
                "timezoneName": "Europe/London", "duration": 30}
        call = client.post(API, json=body).json()
    server.process.kill()
    server.process.wait()
    restarted = start_server(server.database_url)
    server.extra_processes.append(restarted.process)
    assert restarted.first_key == "", "only the very first start creates an organization"
    with httpx.Client(base_url=restarted.base_url, headers={"Authorization": f"Bearer {created['api_key']}"}) as client:
        again = client.get(f"{API}/{call['_id']}")
        assert again.status_code == 200
        assert again.json()["title"] == "Durable"
