"""API keys have a role: `admin` (the organization) or `host` (one host). The owner's first key is
an admin; keys are made with a role by the API and the CLI; existing keys are migrated."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from sqlalchemy import text

from callgrid.config import Settings
from callgrid.db.engine import create_engine
from callgrid.db.migrate import upgrade
from tests.directory.conftest import assert_problem
from tests.support.databases import empty_database
from tests.support.postgres import POSTGRES_URL
from tests.support.tenants import add_key, client

KEYS = "/api/v1/api-keys"


def assert_needs_admin(response) -> dict:
    problem = assert_problem(response, 403, None, "this needs an API key with the role admin")
    assert problem["required_role"] == "admin", problem
    return problem


async def test_the_owners_first_key_is_an_admin_and_new_keys_are_hosts_unless_asked(tenant):
    listed = (await tenant.client.get(KEYS)).json()["items"]
    assert [(k["name"], k["role"]) for k in listed] == [("owner", "admin")]
    plain = (await tenant.client.post(KEYS, json={"name": "plain"})).json()
    admin = (await tenant.client.post(KEYS, json={"name": "ops", "role": "admin"})).json()
    host = (await tenant.client.post(KEYS, json={"name": "desk", "role": "host"})).json()
    assert (plain["role"], admin["role"], host["role"]) == ("host", "admin", "host")
    assert plain["host_id"] == admin["host_id"] == tenant.host_id
    listed = (await tenant.client.get(KEYS)).json()["items"]
    assert [(k["name"], k["role"]) for k in listed] == [("owner", "admin"), ("plain", "host"), ("ops", "admin"), ("desk", "host")]
    assert_problem(await tenant.client.post(KEYS, json={"role": "owner"}), 400, "role")
    assert_problem(await tenant.client.post(KEYS, json={"role": None}), 400, "role")


async def test_a_host_key_is_refused_the_keys_with_a_problem_naming_the_role(app, tenant):
    host = (await tenant.client.post("/api/v1/hosts", json={"name": "Bea", "email": "bea@example.com"})).json()
    created = (await tenant.client.post(KEYS, json={"host_id": host["id"]})).json()
    async with client(app, created["key"]) as bea:
        assert_needs_admin(await bea.get(KEYS))
        # Else it could make itself an admin key, or revoke the admin's.
        assert_needs_admin(await bea.post(KEYS, json={"role": "admin"}))
        assert_needs_admin(await bea.delete(f"{KEYS}/{created['id']}"))
    async with await add_key(app, tenant, host["id"], role="admin") as bea_admin:
        # An admin key acting as another host than the owner: the organization all the same.
        assert [k["role"] for k in (await bea_admin.get(KEYS)).json()["items"]] == ["admin", "host", "admin"]


async def test_a_cached_key_keeps_its_role(app, tenant, caching):
    async with await add_key(app, tenant, role="host") as desk:
        for _ in range(2):  # read, then from the cache: the same role
            assert_needs_admin(await desk.get(KEYS))


@pytest.fixture
def caching(app):
    from callgrid.tenancy.auth import KeyCache

    before = app.state.key_cache
    app.state.key_cache = KeyCache(ttl=60)
    yield
    app.state.key_cache = before


# --- the migration: the owner's keys become admin, the others host; rooms and appointments get a host


def _raw(conn, value):
    return value.hex if conn.dialect.name == "sqlite" else value


@pytest.fixture(params=["sqlite"] + (["postgresql"] if POSTGRES_URL else []))
async def before_roles(request, tmp_path):
    """A database migrated up to the revision before the roles, and its engine."""
    async with empty_database(request.param, tmp_path, "callgrid_roles") as url:
        engine = create_engine(Settings(database_url=url))
        await upgrade(engine, "20261127_unique_names")
        try:
            yield engine
        finally:
            await engine.dispose()


async def test_migration_makes_the_owners_keys_admin_and_gives_rooms_and_appointments_a_host(before_roles):
    engine = before_roles
    t = [datetime(2030, 1, day, tzinfo=UTC) for day in range(1, 5)]
    org, owner, other = uuid4(), uuid4(), uuid4()
    owner_keys, other_key = [uuid4(), uuid4()], uuid4()
    api_room, call_room, appointment_room, breakout = uuid4(), uuid4(), uuid4(), uuid4()
    async with engine.begin() as conn:
        r = lambda value: _raw(conn, value)  # noqa: E731
        await conn.execute(text(
            "INSERT INTO organizations (id, name, slug, created_at, updated_at) VALUES (:id, 'o', 'o', :t, :t)"
        ), {"id": r(org), "t": t[0]})
        for number, (host, at) in enumerate(((other, t[1]), (owner, t[0])), start=1):  # the owner: the first created
            await conn.execute(text(
                "INSERT INTO hosts (id, organization_id, name, email, timezone, number, working_hours, date_overrides, "
                "is_deactivated, created_at, updated_at) VALUES (:id, :org, 'n', :e, 'UTC', :n, '{}', '{}', false, :t, :t)"
            ), {"id": r(host), "org": r(org), "e": f"h{number}@example.com", "n": number, "t": at})
        for key, host in ((owner_keys[0], owner), (other_key, other), (owner_keys[1], owner)):
            await conn.execute(text(
                "INSERT INTO api_keys (id, organization_id, host_id, name, prefix, key_hash, created_at, updated_at) "
                "VALUES (:id, :org, :host, '', 'cg_', :hash, :t, :t)"
            ), {"id": r(key), "org": r(org), "host": r(host), "hash": key.hex, "t": t[2]})
        for call, kind, host in ((call_room, "video_call", other), (appointment_room, "appointment", None)):
            await conn.execute(text(
                "INSERT INTO calls (id, organization_id, host_id, kind, title, starts_at, ends_at, timezone, status, "
                "allow_overlap, created_at, updated_at) VALUES (:id, :org, :host, :kind, 't', :t, :t, 'UTC', 'scheduled', "
                "false, :t, :t)"
            ), {"id": r(call), "org": r(org), "host": r(host) if host else None, "kind": kind, "t": t[3]})
        for room, parent in ((api_room, None), (call_room, None), (appointment_room, None), (breakout, call_room)):
            await conn.execute(text(
                "INSERT INTO rooms (id, organization_id, source, name, type, record, meeting_time_ms, parent_id, "
                "created_at, updated_at) VALUES (:id, :org, 'api', 'r', 'public', true, 0, :parent, :t, :t)"
            ), {"id": r(room), "org": r(org), "parent": r(parent) if parent else None, "t": t[3]})
    await upgrade(engine)

    def hexed(value) -> str | None:
        return None if value is None else str(value).replace("-", "")

    async with engine.connect() as conn:
        roles = dict((hexed(i), role) for i, role in (await conn.execute(text("SELECT id, role FROM api_keys"))).all())
        rooms = dict((hexed(i), hexed(h)) for i, h in (await conn.execute(text("SELECT id, host_id FROM rooms"))).all())
        calls = dict((hexed(i), hexed(h)) for i, h in (await conn.execute(text("SELECT id, created_by_host_id FROM calls"))).all())
    assert roles == {owner_keys[0].hex: "admin", owner_keys[1].hex: "admin", other_key.hex: "host"}
    # A video call's room and its breakout are its host's; a room of the API or of an appointment, the owner's.
    assert rooms == {api_room.hex: owner.hex, call_room.hex: other.hex, appointment_room.hex: owner.hex, breakout.hex: other.hex}
    assert calls == {call_room.hex: None, appointment_room.hex: owner.hex}


async def test_a_host_key_changes_its_own_record_but_not_whether_it_is_deactivated(app, tenant):
    host = (await tenant.client.post("/api/v1/hosts", json={"name": "Bea", "email": "bea@example.com"})).json()
    async with await add_key(app, tenant, host["id"]) as bea:
        changed = await bea.patch(f"/api/v1/hosts/{host['id']}", json={"name": "Beatrice", "timezone": "Europe/Paris"})
        assert changed.status_code == 200 and changed.json()["name"] == "Beatrice", changed.text
        refused = await bea.patch(f"/api/v1/hosts/{host['id']}", json={"name": "B", "is_deactivated": False})
        assert_needs_admin(refused)
        assert refused.json()["detail"].startswith("is_deactivated: ")
    after = (await tenant.client.get(f"/api/v1/hosts/{host['id']}")).json()
    assert after["name"] == "Beatrice"  # the refused change changed nothing
    admin = await tenant.client.patch(f"/api/v1/hosts/{host['id']}", json={"is_deactivated": True})
    assert admin.status_code == 200 and admin.json()["is_deactivated"] is True, admin.text
