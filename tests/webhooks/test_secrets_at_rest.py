"""Secrets at rest (callgrid.db.encrypted): webhook signing secrets, endpoints' and rooms', and
custom header values are stored encrypted, read with the current or a previous secret key, and
rewritten under the current one by `callgrid secrets rotate`; deliveries still carry the right
signature and headers. The stored rows are read with plain SQL."""

import asyncio
import json
import logging
import subprocess
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from uuid import UUID, uuid4

import httpx
import pytest
from alembic import command
from sqlalchemy import JSON, Boolean, Column, Integer, MetaData, String, Table, Uuid, bindparam, insert, text

from callgrid.app import create_app
from callgrid.config import Settings
from callgrid.db.base import UTCDateTime
from callgrid.db.encrypted import PREFIX, Keyring, UnreadableSecret, load_keyring, reseal
from callgrid.db.engine import create_engine
from callgrid.db.migrate import alembic_config, upgrade
from callgrid.migrations.models import Base
from callgrid.webhooks.sender import Job, send
from tests.rooms.conftest import create_room
from tests.support.databases import clean, empty_database
from tests.support.servers import CALLGRID
from tests.support.tenants import client, make_tenant
from tests.webhooks.conftest import create_endpoint, subprocess_env
from tests.webhooks.test_delivery import BASE

pytestmark = pytest.mark.slow  # a real receiver process

A = "first-secret-key-0123456789"
B = "second-secret-key-0123456789"
HEADERS = {"X-Api-Key": "header-value-7f3a9c", "Authorization": "Bearer credential-2b8e41"}


async def stored_rows(app) -> list[dict]:
    async with app.state.database.engine.connect() as connection:
        return [dict(row) for row in (await connection.execute(text("SELECT * FROM webhook_endpoints"))).mappings()]


def stored_headers(row: dict) -> dict[str, str]:
    return row["headers"] if isinstance(row["headers"], dict) else json.loads(row["headers"])


def assert_nothing_in_plaintext(rows: list[dict], *plaintexts: str) -> None:
    for row in rows:
        for column, value in row.items():
            for plaintext in plaintexts:
                assert plaintext not in str(value), (column, value)


async def pinged(tenant, receiver, endpoint_id: str, path: str) -> dict:
    """A ping sent to the endpoint, as the receiver got it."""
    r = await tenant.client.post(f"{BASE}/{endpoint_id}/test")
    assert r.status_code == 202, r.text
    event_id = r.json()["event_id"]
    records = await receiver.wait(lambda rs: any(x["headers"]["webhook-id"] == event_id for x in rs), path=path)
    return next(x for x in records if x["headers"]["webhook-id"] == event_id)


@asynccontextmanager
async def running(settings, **fields):
    """The app with these settings changed, its lifespan run (and its embedded worker)."""
    application = create_app(settings.model_copy(update=fields))
    async with application.router.lifespan_context(application):
        yield application


async def test_stored_rows_hold_no_signing_secret_or_header_value_in_plaintext(app, tenant, receiver):
    endpoint = await create_endpoint(tenant, receiver.url("/org"), headers=HEADERS)
    created = await create_room(tenant, type="open", webhook={"url": receiver.url("/room"), "headers": {"X-Room-Token": "room-value-5d21"}})
    rows = await stored_rows(app)
    assert len(rows) == 2
    assert_nothing_in_plaintext(rows, endpoint["secret"], created["webhook_secret"], *HEADERS.values(), "room-value-5d21")
    assert_nothing_in_plaintext(rows, endpoint["secret"].removeprefix("whsec_"), created["webhook_secret"].removeprefix("whsec_"))
    for row in rows:
        assert row["secret"].startswith(PREFIX)
    # Names stay readable; values are tokens.
    assert {row["url"].rsplit("/", 1)[1]: sorted(stored_headers(row)) for row in rows} == {"org": sorted(HEADERS), "room": ["X-Room-Token"]}
    assert all(value.startswith(PREFIX) for row in rows for value in stored_headers(row).values())

    receiver.trust(endpoint["secret"])
    record = await pinged(tenant, receiver, endpoint["id"], "/org")
    assert record["verified"] and record["secret"] == endpoint["secret"]
    assert record["headers"]["x-api-key"] == HEADERS["X-Api-Key"]
    assert record["headers"]["authorization"] == HEADERS["Authorization"]


async def test_rows_written_under_an_earlier_key_are_read_with_it_as_previous_key_and_rotated_by_the_cli(settings, receiver):
    await clean(settings.database_url)
    async with running(settings, secret_key=A) as first:
        tenant = await make_tenant(first, "Acme")
        async with tenant.client:
            endpoint = await create_endpoint(tenant, receiver.url("/hook"), headers=HEADERS)
        receiver.trust(endpoint["secret"])
        [row] = await stored_rows(first)
    assert Keyring(A).open(row["secret"]) == endpoint["secret"]
    with pytest.raises(UnreadableSecret):
        Keyring(B).open(row["secret"])

    # B is the secret key now, A a previous one: the old rows are read (and delivered with).
    async with running(settings, secret_key=B, previous_secret_keys=A) as second, client(second, tenant.key) as api:
        tenant.client = api
        record = await pinged(tenant, receiver, endpoint["id"], "/hook")
        assert record["verified"] and record["secret"] == endpoint["secret"]
        assert record["headers"]["x-api-key"] == HEADERS["X-Api-Key"]
        # What it writes is under B alone.
        r = await api.patch(f"{BASE}/{endpoint['id']}", json={"headers": {"X-Api-Key": "changed-value-91c0"}})
        assert r.status_code == 200, r.text
        [row] = await stored_rows(second)
        assert Keyring(B).open(stored_headers(row)["X-Api-Key"]) == "changed-value-91c0"
        assert Keyring(A, [B]).open(row["secret"]) == endpoint["secret"]
        with pytest.raises(UnreadableSecret):
            Keyring(B).open(row["secret"])  # the secret is still under A

    env = subprocess_env(settings.database_url, CALLGRID_SECRET_KEY=B, CALLGRID_PREVIOUS_SECRET_KEYS=A)
    done = subprocess.run([CALLGRID, "secrets", "rotate"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "re-encrypted the secrets of 1 rows with the current secret key" in done.stderr

    async with running(settings, secret_key=B) as third, client(third, tenant.key) as api:
        tenant.client = api
        [row] = await stored_rows(third)
        assert Keyring(B).open(row["secret"]) == endpoint["secret"]
        with pytest.raises(UnreadableSecret):
            Keyring(A).open(row["secret"])
        record = await pinged(tenant, receiver, endpoint["id"], "/hook")
        assert record["verified"] and record["secret"] == endpoint["secret"]
        assert record["headers"]["x-api-key"] == "changed-value-91c0"


async def test_plaintext_from_before_encryption_is_read_and_encrypted_by_migrate(app, tenant, receiver, database_url):
    endpoint = await create_endpoint(tenant, receiver.url("/old"), headers={"X-Api-Key": "sealed-at-first"})
    # As the version before wrote it: the secret and a header value in plaintext.
    async with app.state.database.write_engine.begin() as connection:
        await connection.execute(
            text("UPDATE webhook_endpoints SET secret = :secret, headers = :headers").bindparams(
                bindparam("headers", type_=JSON)),
            {"secret": endpoint["secret"], "headers": {"X-Api-Key": "legacy-value-c0ffee"}},
        )
    receiver.trust(endpoint["secret"])
    record = await pinged(tenant, receiver, endpoint["id"], "/old")
    assert record["verified"] and record["headers"]["x-api-key"] == "legacy-value-c0ffee"

    # `callgrid migrate` (and `serve`) encrypt what is left in plaintext; the key is the database's here.
    # On a thread: this process's app goes on meanwhile, so a transaction of its webhook worker
    # ends instead of holding SQLite's write lock while the event loop waits for the command.
    done = await asyncio.to_thread(
        subprocess.run, [CALLGRID, "migrate"], env=subprocess_env(database_url), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    [row] = await stored_rows(app)
    assert_nothing_in_plaintext([row], endpoint["secret"], "legacy-value-c0ffee")
    assert row["secret"].startswith(PREFIX) and stored_headers(row)["X-Api-Key"].startswith(PREFIX)
    record = await pinged(tenant, receiver, endpoint["id"], "/old")
    assert record["verified"] and record["headers"]["x-api-key"] == "legacy-value-c0ffee"


async def test_the_migration_widens_the_secret_and_keeps_every_endpoint_with_its_deliveries(backend, tmp_path):
    """On SQLite the column is replaced in place: no copy of the table, whose drop would cascade
    to the deliveries; the CLI then encrypts the old plaintext, and going back is refused."""
    async with empty_database(backend, tmp_path, "callgrid_secrets") as url:
        settings = Settings(database_url=url)
        engine = create_engine(settings)
        try:
            await upgrade(engine, "20261126_management")
            ids = {name: uuid4() for name in ("organization", "endpoint", "event", "delivery")}
            at = datetime.now(UTC)
            rows = {
                "organizations": {"id": ids["organization"], "name": "Old", "slug": "old", "created_at": at, "updated_at": at},
                "webhook_endpoints": {"id": ids["endpoint"], "organization_id": ids["organization"], "url": "https://old.example/",
                                      "description": "", "headers": {"X-Api-Key": "old-value"}, "enabled": True,
                                      "secret": "whsec_old", "kind": "organization", "created_at": at, "updated_at": at},
                "webhook_events": {"id": ids["event"], "organization_id": ids["organization"], "type": "ping", "payload": "{}",
                                   "created_at": at},
                "webhook_deliveries": {"id": ids["delivery"], "organization_id": ids["organization"], "event_id": ids["event"],
                                       "endpoint_id": ids["endpoint"], "state": "delivered", "attempts": 1, "step": 0,
                                       "created_at": at, "updated_at": at},
            }
            async with engine.begin() as connection:
                for name, values in rows.items():
                    await connection.execute(insert(_plain(name, values)).values(values))

            await upgrade(engine)
            async with engine.begin() as connection:
                assert (await connection.execute(text("SELECT secret FROM webhook_endpoints"))).scalar_one() == "whsec_old"
                assert (await connection.execute(text("SELECT COUNT(*) FROM webhook_deliveries"))).scalar_one() == 1
                await connection.execute(text("UPDATE webhook_endpoints SET secret = :wide"), {"wide": "x" * 512})
                await connection.execute(text("UPDATE webhook_endpoints SET secret = 'whsec_old'"))
            keyring = await load_keyring(settings, engine)
            async with engine.begin() as connection:
                assert await reseal(connection, Base.metadata, only_plaintext=True) == 1
                assert await reseal(connection, Base.metadata, only_plaintext=True) == 0
                stored = (await connection.execute(text("SELECT secret FROM webhook_endpoints"))).scalar_one()
            assert keyring.open(stored) == "whsec_old"

            def down(connection) -> None:
                config = alembic_config(url)
                config.attributes["connection"] = connection
                command.downgrade(config, "20261126_management")

            with pytest.raises(RuntimeError, match="1 webhook endpoints hold encrypted secrets"):
                async with engine.begin() as connection:
                    await connection.run_sync(down)
        finally:
            await engine.dispose()


def _plain(name: str, values: dict) -> Table:
    """`name` as a table of the columns in `values`, typed by their values (not by today's models)."""
    types = {UUID: Uuid(), datetime: UTCDateTime(), dict: JSON(), str: String(), bool: Boolean(), int: Integer()}
    return Table(name, MetaData(), *(Column(key, types.get(type(value), String())) for key, value in values.items()))


async def test_answers_show_header_names_never_their_values_and_a_patch_replaces_them(tenant, receiver):
    created = await create_endpoint(tenant, receiver.url("/names"), headers=HEADERS)
    path = f"{BASE}/{created['id']}"
    one = (await tenant.client.get(path)).json()
    listed = (await tenant.client.get(BASE)).json()["items"]
    assert created["header_names"] == one["header_names"] == listed[0]["header_names"] == ["X-Api-Key", "Authorization"]
    for answer in (created, one, listed):
        assert not any(value in json.dumps(answer) for value in HEADERS.values())
        assert "headers" not in json.dumps(answer)

    # A PATCH without `headers` keeps them; with `headers`, they are replaced as a whole.
    r = await tenant.client.patch(path, json={"description": "kept"})
    assert r.status_code == 200 and r.json()["header_names"] == ["X-Api-Key", "Authorization"], r.text
    receiver.trust(created["secret"])
    record = await pinged(tenant, receiver, created["id"], "/names")
    assert (record["headers"]["x-api-key"], record["headers"]["authorization"]) == tuple(HEADERS.values())
    r = await tenant.client.patch(path, json={"headers": {"X-New": "new-value-aa11"}})
    assert r.status_code == 200 and r.json()["header_names"] == ["X-New"] and "new-value-aa11" not in r.text, r.text
    record = await pinged(tenant, receiver, created["id"], "/names")
    assert record["headers"]["x-new"] == "new-value-aa11"
    assert "x-api-key" not in record["headers"] and "authorization" not in record["headers"]
    r = await tenant.client.patch(path, json={"headers": {}})
    assert r.status_code == 200 and r.json()["header_names"] == [], r.text


async def test_a_rooms_webhook_shows_its_header_names_only(tenant, receiver):
    created = await create_room(tenant, type="open", webhook={"url": receiver.url("/room"), "headers": {"X-Room-Token": "room-value-5d21"}})
    room = created["room"]
    assert room["webhook"] == {"url": receiver.url("/room"), "header_names": ["X-Room-Token"]}
    shown = await tenant.client.get(f"/v1/rooms/{room['id']}")
    assert shown.status_code == 200 and shown.json()["room"]["webhook"]["header_names"] == ["X-Room-Token"], shown.text
    assert "room-value-5d21" not in shown.text


async def test_the_openapi_document_says_header_values_are_write_only(anonymous):
    schemas = (await anonymous.get("/openapi.json")).json()["components"]["schemas"]
    read = schemas["EndpointRead"]["properties"]
    assert "headers" not in read and read["header_names"]["type"] == "array"
    assert "write-only" in read["header_names"]["description"]
    assert "write-only" in schemas["EndpointCreate"]["properties"]["headers"]["description"]


async def test_sql_echo_never_prints_a_secret_or_a_header_value(settings, caplog, capsys):
    """CALLGRID_SQL_ECHO logs every statement, with its parameters hidden."""
    await clean(settings.database_url)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    async with running(settings, sql_echo=True, run_embedded_worker=False) as echoing:
        tenant = await make_tenant(echoing, "Acme")
        async with tenant.client:
            endpoint = await create_endpoint(tenant, "http://127.0.0.1:9/hook", headers=HEADERS)
            rotated = (await tenant.client.post(f"{BASE}/{endpoint['id']}/rotate-secret")).json()["secret"]
            assert (await tenant.client.get(f"{BASE}/{endpoint['id']}")).status_code == 200
    printed = caplog.text + capsys.readouterr().out
    assert "INSERT INTO webhook_endpoints" in printed and "UPDATE webhook_endpoints" in printed  # echo was on
    assert "[SQL parameters hidden due to hide_parameters=True]" in printed
    for secret in (endpoint["secret"], rotated, tenant.key, *HEADERS.values(), PREFIX):
        assert secret not in printed


@pytest.mark.parametrize("value", ["Bearer s3cret-value ", "s3cret-valu\u00e9"])
async def test_a_header_value_http_cannot_carry_never_reaches_the_error_of_an_attempt(receiver, value):
    """A value stored before values were checked (now a 400): its attempt fails, and the error
    kept for the deliveries list names the problem, not the value."""
    job = Job(
        delivery_id=uuid4(), lease_token=uuid4(), organization_id=uuid4(), attempt=1, step=0, event_id=uuid4(),
        event_type="ping", event_created_at=datetime.now(UTC), payload="{}", endpoint_id=uuid4(),
        url=receiver.url(), headers={"X-Auth": value}, secret="whsec_" + "a" * 32,
    )
    async with httpx.AsyncClient() as http:
        outcome = await send(http, job, timeout=5, allow_private=True)
    assert outcome.status_code is None
    assert outcome.error is not None and "s3cret" not in outcome.error, outcome.error
    assert "header value is not valid HTTP" in outcome.error
    assert receiver.received() == []
