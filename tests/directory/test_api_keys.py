"""/api/v1/api-keys: list (never the key), create (shown once), revoke (at once, cache or not);
`last_used_at` written at most once a minute per key."""

import re
from datetime import datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import delete, select, update

from callgrid.db.session import write_session
from callgrid.tenancy import revocations
from callgrid.tenancy.auth import KeyCache
from callgrid.tenancy.keys import hash_key
from callgrid.tenancy.models import ApiKey, ApiKeyChanges
from tests.directory.conftest import MISSING, assert_problem
from tests.support.tenants import client

MILLIS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
KEYS = "/api/v1/api-keys"


async def test_create_list_and_revoke(app, tenant):
    created = await tenant.client.post(KEYS, json={"name": "ci"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "name", "host_id", "role", "prefix", "created_at", "last_used_at", "key"}
    assert body["name"] == "ci" and body["host_id"] == tenant.host_id and body["last_used_at"] is None
    assert body["key"].startswith("cg_") and body["prefix"] == body["key"][:8]
    assert MILLIS_Z.match(body["created_at"]), body["created_at"]

    listed = (await tenant.client.get(KEYS)).json()
    assert listed["pagination"] == {"total_count": 2, "max_page": 1}
    assert [k["name"] for k in listed["items"]] == ["owner", "ci"]
    for item in listed["items"]:
        assert set(item) == {"id", "name", "host_id", "role", "prefix", "created_at", "last_used_at"}
        assert body["key"] not in str(listed) and tenant.key not in str(listed)
    # The owner's key was just used (this very list): its last use is known.
    owner = listed["items"][0]
    assert MILLIS_Z.match(owner["last_used_at"]), owner

    async with client(app, body["key"]) as ci:  # a host key (the default role): it reads products
        assert (await ci.get("/api/v1/products")).status_code == 200
        revoked = await tenant.client.delete(f"{KEYS}/{body['id']}")
        assert revoked.status_code == 204, revoked.text
        assert_problem(await ci.get("/api/v1/products"), 401)
    assert [k["name"] for k in (await tenant.client.get(KEYS)).json()["items"]] == ["owner"]
    # Gone: revoking again, or a key id that names nothing, is a 404.
    assert_problem(await tenant.client.delete(f"{KEYS}/{body['id']}"), 404, "key_id")
    assert_problem(await tenant.client.delete(f"{KEYS}/{MISSING}"), 404, "key_id")
    assert_problem(await tenant.client.delete(f"{KEYS}/not-a-uuid"), 404, "key_id")


async def test_a_key_for_another_host_and_other_organizations(app, tenant, other_tenant):
    host = (await tenant.client.post("/api/v1/hosts", json={"name": "Bea", "email": "bea@example.com"})).json()
    created = (await tenant.client.post(KEYS, json={"host_id": host["id"]})).json()
    assert created["host_id"] == host["id"] and created["name"] == ""
    assert_problem(await tenant.client.post(KEYS, json={"host_id": other_tenant.host_id}), 404, "host_id")
    assert_problem(await tenant.client.post(KEYS, json={"host_id": MISSING}), 404, "host_id")
    assert_problem(await tenant.client.post(KEYS, json={"key": "mine"}), 400, "key")
    # Another organization's key reads as missing, and stays working.
    theirs = (await other_tenant.client.get(KEYS)).json()["items"][0]
    assert_problem(await tenant.client.delete(f"{KEYS}/{theirs['id']}"), 404, "key_id")
    assert (await other_tenant.client.get(KEYS)).status_code == 200
    assert [k["id"] for k in (await other_tenant.client.get(KEYS)).json()["items"]] == [theirs["id"]]


async def test_a_key_may_revoke_itself(app, tenant):
    mine = (await tenant.client.get(KEYS)).json()["items"][0]
    assert (await tenant.client.delete(f"{KEYS}/{mine['id']}")).status_code == 204
    assert_problem(await tenant.client.get(KEYS), 401)


async def test_last_use_is_written_at_most_once_a_minute(app, tenant, clock):
    created = (await tenant.client.post(KEYS, json={"name": "probe"})).json()

    async def last_used():
        items = (await tenant.client.get(KEYS)).json()["items"]
        return next(k["last_used_at"] for k in items if k["id"] == created["id"])

    assert await last_used() is None

    def parsed(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    async with client(app, created["key"]) as probe:
        before = clock() - timedelta(milliseconds=1)
        assert (await probe.get("/api/v1/products")).status_code == 200
        first = await last_used()
        assert MILLIS_Z.match(first) and before <= parsed(first) <= clock(), first
        clock.advance(timedelta(seconds=40))
        assert (await probe.get("/api/v1/products")).status_code == 200
        assert await last_used() == first  # within the minute: not written again
        clock.advance(timedelta(seconds=30))
        assert (await probe.get("/api/v1/products")).status_code == 200
        later = await last_used()
        assert parsed(later) >= parsed(first) + timedelta(seconds=70), (first, later)


@pytest.fixture
async def caching(app):
    """The app's key cache on, for a long time: only a revocation takes a key out of it."""
    app.state.key_cache = KeyCache(ttl=3600)
    yield app.state.key_cache


async def test_a_cached_key_revoked_through_the_api_stops_at_once(app, tenant, caching):
    created = (await tenant.client.post(KEYS, json={})).json()
    async with client(app, created["key"]) as other:
        assert (await other.get("/api/v1/products")).status_code == 200
        assert caching.get(hash_key(created["key"])) is not None  # cached
        assert (await tenant.client.delete(f"{KEYS}/{created['id']}")).status_code == 204
        assert_problem(await other.get("/api/v1/products"), 401)


async def test_a_cached_key_revoked_by_another_process_stops_at_once(app, tenant, caching, clock):
    """What another process (or `callgrid keys revoke`) does: the revoking transaction, on a
    connection of its own; this process hears of it (NOTIFY, or SQLite's data_version)."""
    created = (await tenant.client.post(KEYS, json={})).json()
    async with client(app, created["key"]) as other:
        assert (await other.get("/api/v1/products")).status_code == 200
        assert caching.get(hash_key(created["key"])) is not None
        watcher = app.state.key_watcher
        heard = getattr(watcher, "heard", 0)
        # As another process would, with no watcher of this process told directly.
        forget, revocations._WATCHERS = revocations._WATCHERS, set()
        try:
            async with write_session(app.state.database) as session:
                await session.execute(update(ApiKey).where(ApiKey.key_hash == hash_key(created["key"])).values(revoked_at=clock()))
                await revocations.announce(session, [hash_key(created["key"])])
                await session.commit()
        finally:
            revocations._WATCHERS = forget
        if app.state.database.dialect == "postgresql":
            # The revocation waited for this process's listener to answer: it has forgotten the key.
            assert watcher.heard == heard + 1
        assert_problem(await other.get("/api/v1/products"), 401)


async def test_a_revocation_or_a_deletion_moves_the_key_changes_and_a_use_does_not(app, tenant, backend, clock):
    """SQLite: the one row a process reads when the database changed (tenancy.revocations) moves
    with every revocation or deletion of a key, through triggers; a key's use (last_used_at) or
    a new key leaves it. PostgreSQL tells processes through NOTIFY and leaves the row alone."""

    async def version() -> int | None:
        async with write_session(app.state.database) as session:
            return (await session.execute(select(ApiKeyChanges.version).where(ApiKeyChanges.id == 1))).scalar_one_or_none()

    async def change(statement) -> None:
        async with write_session(app.state.database) as session:
            await session.execute(statement)
            await session.commit()

    before = await version()
    first = (await tenant.client.post(KEYS, json={})).json()
    second = (await tenant.client.post(KEYS, json={})).json()
    assert await version() == before
    await change(update(ApiKey).where(ApiKey.id == UUID(first["id"])).values(last_used_at=clock()))
    assert await version() == before
    assert (await tenant.client.delete(f"{KEYS}/{first['id']}")).status_code == 204
    revoked = await version()
    await change(delete(ApiKey).where(ApiKey.id == UUID(second["id"])))
    deleted = await version()
    if backend == "sqlite":
        assert (revoked, deleted) == ((before or 0) + 1, (before or 0) + 2)
    else:
        assert before == revoked == deleted  # whatever the row holds: no trigger moves it
