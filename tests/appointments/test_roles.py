"""Appointments by role (docs/roles.md): an appointment is the host's whose key created it. A host
key lists (with every filter) and reads only those; an admin key every one."""

from tests.appointments.conftest import BASE, body, ids, person
from tests.support.problems import assert_problem
from tests.support.tenants import add_key


async def test_a_host_key_lists_and_reads_only_its_hosts_appointments(app, tenant):
    host = (await tenant.client.post("/api/v1/hosts", json={"name": "Bea", "email": "bea@example.com"})).json()
    async with await add_key(app, tenant, host["id"]) as bea, await add_key(app, tenant, role="host") as owner_desk:
        shared = [person("pat@example.com", "moderator")]
        ours = (await tenant.client.post(f"{BASE}/", json=body(participants=shared))).json()
        hers = [(await bea.post(f"{BASE}/", json=body(participants=shared, start_date_time=start))).json()
                for start in ("2030-01-02T12:00:00Z", "2030-01-03T12:00:00Z")]
        everyone = [ours["id"], *(a["id"] for a in hers)]
        for filters in ({}, {"participant_unique_id": "pat@example.com"},
                        {"start_date": "2030-01-02T00:00:00Z", "end_date": "2030-01-04T00:00:00Z"}):
            page = (await bea.get(f"{BASE}/", params=filters)).json()
            assert (ids(page), page["count"]) == ([a["id"] for a in hers], 2), filters
            page = (await tenant.client.get(f"{BASE}/", params=filters)).json()
            assert (ids(page), page["count"]) == (everyone, 3), filters
            # A host key of the owner host: the owner's appointments (the admin key made it the owner's).
            page = (await owner_desk.get(f"{BASE}/", params=filters)).json()
            assert (ids(page), page["count"]) == ([ours["id"]], 1), filters
        assert_problem(await bea.get(f"{BASE}/{ours['id']}/"), 404, "id")
        assert_problem(await bea.patch(f"{BASE}/{ours['id']}/", json={"title": "x"}), 404, "id")
        assert (await tenant.client.get(f"{BASE}/{hers[0]['id']}/")).status_code == 200
        assert (await tenant.client.delete(f"{BASE}/{hers[0]['id']}/")).status_code == 204
