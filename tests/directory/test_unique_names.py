"""Unique names: a white-label host name belongs to one organization; a host's email is unique
in its organization ignoring case. Checked by the service, held by unique indexes (a race is
the same 409), and what the migration does with the duplicates there were before."""

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from sqlalchemy import text

from callgrid.config import Settings
from callgrid.db.engine import create_engine
from callgrid.db.migrate import upgrade
from tests.directory.conftest import assert_page, assert_problem
from tests.support.databases import empty_database
from tests.support.postgres import POSTGRES_URL

DOMAINS = "/api/v1/whitelabel-domains"
HOSTS = "/api/v1/hosts"


async def test_a_host_name_taken_by_another_organization_is_a_409_naming_it(tenant, other_tenant):
    r = await tenant.client.post(DOMAINS, json={"hostname": "calls.example.com"})
    assert r.status_code == 201, r.text
    problem = assert_problem(await other_tenant.client.post(DOMAINS, json={"hostname": "Calls.Example.com"}), 409, "hostname",
                             "calls.example.com", "another organization")
    assert problem["title"] == "Conflict"
    assert_page(await other_tenant.client.get(DOMAINS), total=0)
    assert [d["hostname"] for d in assert_page(await tenant.client.get(DOMAINS), total=1)] == ["calls.example.com"]
    assert_problem(await tenant.client.post(DOMAINS, json={"hostname": "calls.example.com"}), 409, "hostname",
                   "by this organization")
    # Freed by its holder, the name can be registered by the other.
    assert (await tenant.client.delete(f"{DOMAINS}/{r.json()['id']}")).status_code == 204
    again = await other_tenant.client.post(DOMAINS, json={"hostname": "calls.example.com"})
    assert again.status_code == 201, again.text


async def test_concurrent_registrations_of_one_host_name_give_one_201(tenant, other_tenant):
    answers = await asyncio.gather(*[
        (tenant if i % 2 else other_tenant).client.post(DOMAINS, json={"hostname": "race.example.com"}) for i in range(10)
    ])
    assert sorted(a.status_code for a in answers) == [201] + [409] * 9, [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 409:
            assert_problem(answer, 409, "hostname", "race.example.com is already registered")
    totals = [len((await t.client.get(DOMAINS)).json()["items"]) for t in (tenant, other_tenant)]
    assert sorted(totals) == [0, 1]


async def _host(tenant, email: str, name: str = "H") -> dict:
    r = await tenant.client.post(HOSTS, json={"name": name, "email": email})
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_host_email_differing_only_in_case_is_a_409_naming_the_host(tenant, other_tenant):
    first = await _host(tenant, "H2@ORG.EXAMPLE")
    problem = assert_problem(await tenant.client.post(HOSTS, json={"name": "Two", "email": "h2@org.example"}), 409, "email",
                             f"host {first['number']}", "ignoring case")
    assert problem["host_id"] == first["id"]
    assert [h["email"] for h in assert_page(await tenant.client.get(HOSTS), total=2)][1:] == ["H2@org.example"]  # (the domain is lower-cased)
    # Another organization's hosts are not compared.
    assert (await _host(other_tenant, "h2@org.example"))["email"] == "h2@org.example"


async def test_changing_a_hosts_email_to_another_ones_in_other_case_is_a_409(tenant):
    a = await _host(tenant, "a@org.example", "A")
    b = await _host(tenant, "b@org.example", "B")
    problem = assert_problem(await tenant.client.patch(f"{HOSTS}/{a['id']}", json={"email": "B@Org.Example"}), 409, "email")
    assert problem["host_id"] == b["id"]
    assert (await tenant.client.get(f"{HOSTS}/{a['id']}")).json()["email"] == "a@org.example"
    # Its own email in another case is a change of its own.
    r = await tenant.client.patch(f"{HOSTS}/{a['id']}", json={"email": "A@ORG.EXAMPLE"})
    assert r.status_code == 200 and r.json()["email"] == "A@org.example", r.text


async def test_a_deleted_hosts_email_stays_taken(tenant):
    gone = await _host(tenant, "gone@org.example")
    assert (await tenant.client.delete(f"{HOSTS}/{gone['id']}")).status_code == 204
    problem = assert_problem(await tenant.client.post(HOSTS, json={"name": "N", "email": "Gone@org.example"}), 409, "email")
    assert problem["host_id"] == gone["id"]


async def test_concurrent_creates_of_one_email_give_one_201(tenant):
    answers = await asyncio.gather(*[
        tenant.client.post(HOSTS, json={"name": f"H{i}", "email": f"{'Same' if i % 2 else 'same'}@org.example"})
        for i in range(10)
    ])
    assert sorted(a.status_code for a in answers) == [201] + [409] * 9, [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 409:
            assert_problem(answer, 409, "email", "ignoring case")
    assert_page(await tenant.client.get(HOSTS), total=2)  # the owner and the one created


async def test_the_database_refuses_what_the_service_would(service_session):
    """The unique indexes hold without the service's check (another writer, SQL by hand)."""
    org, other = uuid4(), uuid4()
    for organization in (org, other):
        await service_session.execute(text(
            "INSERT INTO organizations (id, name, slug, created_at, updated_at) VALUES (:id, 'o', :slug, :t, :t)"
        ), {"id": organization.hex if _sqlite(service_session) else organization, "slug": organization.hex, "t": datetime(2030, 1, 1, tzinfo=UTC)})
    await _insert_domain(service_session, org, "x.example.com")
    with pytest.raises(Exception, match="(?i)unique"):
        async with service_session.begin_nested():
            await _insert_domain(service_session, other, "x.example.com")
    await _insert_host(service_session, org, "Ada@Org.Example", 1)
    with pytest.raises(Exception, match="(?i)unique"):
        async with service_session.begin_nested():
            await _insert_host(service_session, org, "ada@org.example", 2)


def _sqlite(session) -> bool:
    return session.bind.dialect.name == "sqlite"


def _id(session, value):
    return value.hex if _sqlite(session) else value


async def _insert_domain(session, organization, hostname: str) -> None:
    await session.execute(text(
        "INSERT INTO whitelabel_domains (id, organization_id, hostname, created_at, updated_at) VALUES (:id, :org, :h, :t, :t)"
    ), {"id": _id(session, uuid4()), "org": _id(session, organization), "h": hostname, "t": datetime(2030, 1, 1, tzinfo=UTC)})


async def _insert_host(session, organization, email: str, number: int) -> None:
    await session.execute(text(
        "INSERT INTO hosts (id, organization_id, name, email, timezone, number, working_hours, date_overrides, "
        "is_deactivated, created_at, updated_at) VALUES (:id, :org, 'n', :e, 'UTC', :n, '{}', '{}', false, :t, :t)"
    ), {"id": _id(session, uuid4()), "org": _id(session, organization), "e": email, "n": number, "t": datetime(2030, 1, 1, tzinfo=UTC)})


@pytest.fixture(params=["sqlite"] + (["postgresql"] if POSTGRES_URL else []))
async def before_unique_names(request, tmp_path):
    """A database migrated up to the revision before this one, and its engine."""
    async with empty_database(request.param, tmp_path, "callgrid_unique") as url:
        engine = create_engine(Settings(database_url=url))
        await upgrade(engine, "20261127_idempotency")
        try:
            yield engine
        finally:
            await engine.dispose()


async def _rows(engine, sql: str) -> list:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql))).all()


async def _organizations(engine, n: int) -> list:
    ids = [uuid4() for _ in range(n)]
    async with engine.begin() as conn:
        for i, organization in enumerate(ids):
            await conn.execute(text(
                "INSERT INTO organizations (id, name, slug, created_at, updated_at) VALUES (:id, 'o', :slug, :t, :t)"
            ), {"id": _raw(conn, organization), "slug": f"o{i}", "t": datetime(2030, 1, 1, tzinfo=UTC)})
    return ids


def _raw(conn, value):
    return value.hex if conn.dialect.name == "sqlite" else value


async def test_migration_keeps_a_host_name_with_the_organization_that_registered_it_first(before_unique_names):
    engine = before_unique_names
    first, second, third = await _organizations(engine, 3)
    async with engine.begin() as conn:
        for organization, at in ((second, datetime(2030, 1, 2, tzinfo=UTC)), (first, datetime(2030, 1, 1, tzinfo=UTC)), (third, datetime(2030, 1, 3, tzinfo=UTC))):
            await conn.execute(text(
                "INSERT INTO whitelabel_domains (id, organization_id, hostname, created_at, updated_at) VALUES (:id, :org, 'shared.example.com', :t, :t)"
            ), {"id": _raw(conn, uuid4()), "org": _raw(conn, organization), "t": at})
        await conn.execute(text(
            "INSERT INTO whitelabel_domains (id, organization_id, hostname, created_at, updated_at) VALUES (:id, :org, 'own.example.com', :t, :t)"
        ), {"id": _raw(conn, uuid4()), "org": _raw(conn, third), "t": datetime(2030, 1, 1, tzinfo=UTC)})
    await upgrade(engine)
    rows = await _rows(engine, "SELECT hostname, organization_id FROM whitelabel_domains ORDER BY hostname")
    assert [(h, str(o).replace("-", "")) for h, o in rows] == [("own.example.com", third.hex), ("shared.example.com", first.hex)]


async def test_migration_stops_on_hosts_sharing_an_email_and_names_them(before_unique_names):
    engine = before_unique_names
    (organization,) = await _organizations(engine, 1)
    async with engine.begin() as conn:
        for number, email in ((1, "H2@ORG.EXAMPLE"), (2, "h2@org.example")):
            await conn.execute(text(
                "INSERT INTO hosts (id, organization_id, name, email, timezone, number, working_hours, date_overrides, "
                "is_deactivated, created_at, updated_at) VALUES (:id, :org, 'n', :e, 'UTC', :n, '{}', '{}', false, :t, :t)"
            ), {"id": _raw(conn, uuid4()), "org": _raw(conn, organization), "e": email, "n": number, "t": datetime(2030, 1, 1, tzinfo=UTC)})
    with pytest.raises(RuntimeError, match=r"2 hosts with email h2@org\.example.*Change the email of all but one"):
        await upgrade(engine)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE hosts SET email = 'h3@org.example' WHERE number = 2"))
    await upgrade(engine)
    assert (await _rows(engine, "SELECT version_num FROM alembic_version"))[0][0] != "20261127_idempotency"
