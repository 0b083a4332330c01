"""`callgrid keys create`: a key for another host of the organization acts as that host."""

import subprocess
from contextlib import ExitStack
from datetime import date, timedelta

import pytest

from tests.e2e.conftest import start_server
from tests.support.databases import BACKENDS, empty_database_sync
from tests.support.servers import CALLGRID

API = "/api/v1/external/workshops/video-calls"

pytestmark = pytest.mark.slow  # a real server process and the CLI


# Each backend's tests in one test process (xdist_group), which starts its server once.
@pytest.fixture(scope="module", params=[pytest.param(b, marks=pytest.mark.xdist_group(f"cli-keys-{b}")) for b in BACKENDS])
def server(request, tmp_path_factory):
    """One server per backend for the module: each test makes an organization of its own with
    the CLI and looks only at that organization's keys and calls."""
    with ExitStack() as stack:
        url = stack.enter_context(empty_database_sync(request.param, tmp_path_factory.mktemp("cli-keys"), "callgrid_cli_keys"))
        running = start_server(url)
        stack.callback(running.stop)
        yield running


async def test_key_created_for_a_host_acts_as_that_host(server):
    org = server.create_org("Two Hosts")
    slug = org["organization"]["slug"]
    async with server.client(org["api_key"]) as owner:
        host = (await owner.post("/api/v1/hosts", json={"name": "Bea", "email": "bea@example.com", "timezone": "Europe/Berlin"})).json()
        product = (await owner.post("/api/v1/products", json={"title": "Shared"})).json()
        slot = {"title": "Same slot", "mango": product["id"], "startDate": (date.today() + timedelta(days=4)).isoformat(),
                "fromTime": "15:00", "timezoneName": "Europe/Berlin", "duration": 45}
        assert (await owner.post(API, json=slot)).status_code == 201

        bea_key = server.cli("keys", "create", "--org", slug, "--host", host["id"]).strip()
        owner_key_2 = server.cli("keys", "create", "--org", slug).strip()
        assert bea_key.startswith("cg_") and owner_key_2.startswith("cg_") and bea_key != owner_key_2

        async with server.client(bea_key) as bea, server.client(owner_key_2) as owner_again:
            # Bea is another host: the owner's call at that time is no conflict for her...
            created = await bea.post(API, json=slot)
            assert created.status_code == 201, created.text
            mine = (await bea.get(API)).json()
            assert [c["creator"]["_id"] for g in mine["data"] for c in g["calls"]] == [host["id"]]
            # ...while the second owner key is the owner, whose slot is taken.
            refused = await owner_again.post(API, json=slot)
            assert refused.status_code == 409
            assert refused.json()["maximumOverlap"] == 1

    done = subprocess.run([CALLGRID, "keys", "create", "--org", "no-such-org"], env=server.env, capture_output=True, text=True)
    assert done.returncode != 0 and "no organization" in done.stderr


async def test_keys_are_made_with_a_role_and_orgs_create_makes_an_admin(server):
    org = server.create_org("Roles")
    slug = org["organization"]["slug"]
    admin_key = server.cli("keys", "create", "--org", slug, "--role", "admin", "--name", "ops").strip()
    host_key = server.cli("keys", "create", "--org", slug, "--name", "desk").strip()
    async with server.client(org["api_key"]) as first, server.client(admin_key) as ops, server.client(host_key) as desk:
        listed = (await ops.get("/api/v1/api-keys")).json()["items"]
        assert [(k["name"], k["role"]) for k in listed] == [("owner", "admin"), ("ops", "admin"), ("desk", "host")]
        assert (await first.get("/api/v1/api-keys")).status_code == 200
        refused = await desk.get("/api/v1/api-keys")
        assert refused.status_code == 403 and refused.json()["required_role"] == "admin", refused.text
    done = subprocess.run(
        [CALLGRID, "keys", "create", "--org", slug, "--role", "owner"], env=server.env, capture_output=True, text=True
    )
    assert done.returncode != 0 and "owner" in done.stderr

