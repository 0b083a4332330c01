"""Invariant 1 under real concurrency: many requests for one host's slot, exactly one wins."""

import asyncio
from datetime import date, timedelta

import httpx
import pytest

from tests.e2e.conftest import start_server

API = "/api/v1/external/workshops/video-calls"
CONCURRENT = 50

pytestmark = pytest.mark.slow  # real server processes


@pytest.fixture
def two_process_server(fresh_database_url):
    running = start_server(fresh_database_url, workers=2)
    yield running
    running.stop()


async def test_fifty_concurrent_overlapping_creates_leave_one_call(two_process_server):
    server = two_process_server
    org = server.create_org("Racers")
    start_day = (date.today() + timedelta(days=3)).isoformat()
    async with server.client(org["api_key"]) as client:
        product = (await client.post("/api/v1/products", json={"title": "Slot"})).json()
        # Every start lies within 49 minutes of every other and each call lasts 60: all pairs overlap.
        bodies = [
            {"title": f"racer {i}", "mango": product["id"], "startDate": start_day,
             "fromTime": f"10:{i:02d}", "timezoneName": "UTC", "duration": 60}
            for i in range(CONCURRENT)
        ]
        async with httpx.AsyncClient(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {org['api_key']}"},
            limits=httpx.Limits(max_connections=CONCURRENT),
            timeout=60,
        ) as racer:
            responses = await asyncio.gather(*(racer.post(API, json=body) for body in bodies))

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [409] * (CONCURRENT - 1), statuses
        winner = next(r.json()["_id"] for r in responses if r.status_code == 201)
        for response in responses:
            if response.status_code == 409:
                body = response.json()
                assert body["maximumOverlap"] == 1
                assert [o["existing"]["_id"] for o in body["overlapList"]] == [winner]

        listed = (await client.get(API, params={"limit": 100})).json()
        assert listed["total"] == 1
        assert [c["_id"] for g in listed["data"] for c in g["calls"]] == [winner]
