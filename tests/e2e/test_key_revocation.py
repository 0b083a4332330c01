"""A revoked key stops working at once in every `callgrid serve` process, although each caches
the keys it has verified (for an hour here): revoked through the API on one process, or with
`callgrid keys revoke`, the other process refuses the key on the very next request."""

import json

import pytest

from tests.e2e.conftest import start_server

pytestmark = pytest.mark.slow  # two real server processes and the CLI

CACHE_FOR_AN_HOUR = {"CALLGRID_API_KEY_CACHE_SECONDS": "3600", "CALLGRID_RUN_EMBEDDED_WORKER": "false"}


async def test_a_key_revoked_on_one_process_is_refused_by_the_other_at_once(fresh_database_url):
    first = start_server(fresh_database_url, extra_env=CACHE_FOR_AN_HOUR)
    try:
        second = start_server(fresh_database_url, extra_env=CACHE_FOR_AN_HOUR)
        try:
            org = first.create_org("Revokers")
            slug = org["organization"]["slug"]
            async with first.client(org["api_key"]) as admin:
                created = await admin.post("/api/v1/api-keys", json={"name": "deploy bot"})
                assert created.status_code == 201, created.text
                bot = created.json()
                by_cli = first.cli("keys", "create", "--org", slug, "--name", "nightly").strip()

                async with first.client(bot["key"]) as on_first, second.client(bot["key"]) as on_second, \
                        second.client(by_cli) as cli_key_on_second, first.client(by_cli) as cli_key_on_first:
                    for http in (on_first, on_second, cli_key_on_first, cli_key_on_second):
                        for _ in range(3):  # verified once, then from each process's cache
                            assert (await http.get("/api/v1/products")).status_code == 200

                    # Revoked through the first process's API: the second refuses at once.
                    assert (await admin.delete(f"/api/v1/api-keys/{bot['id']}")).status_code == 204
                    refused = await on_second.get("/api/v1/products")
                    assert refused.status_code == 401, refused.text
                    assert (await on_first.get("/api/v1/products")).status_code == 401

                    # `callgrid keys list` shows the working keys (never a key), with their last use.
                    listed = json.loads(first.cli("keys", "list", "--org", slug, "--json"))
                    assert [(k["name"], k["role"]) for k in listed] == [("owner", "admin"), ("nightly", "host")]
                    assert all(set(k) == {"id", "name", "host_id", "role", "prefix", "created_at", "last_used_at"} for k in listed)
                    assert by_cli not in json.dumps(listed) and org["api_key"] not in json.dumps(listed)
                    nightly = listed[1]
                    assert nightly["prefix"] == by_cli[:8]
                    plain = first.cli("keys", "list", "--org", slug)
                    assert nightly["id"] in plain and by_cli not in plain

                    # Revoked with the CLI (a third process): both servers refuse at once.
                    first.cli("keys", "revoke", nightly["id"], "--org", slug)
                    assert (await cli_key_on_second.get("/api/v1/products")).status_code == 401
                    assert (await cli_key_on_first.get("/api/v1/products")).status_code == 401

                # The admin's key, never revoked, still works on both.
                assert (await admin.get("/api/v1/products")).status_code == 200
                async with second.client(org["api_key"]) as admin_on_second:
                    assert (await admin_on_second.get("/api/v1/products")).status_code == 200
        finally:
            second.stop()
    finally:
        first.stop()
