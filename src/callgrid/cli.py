import asyncio
import json
import logging
import os
import socket
import sys
from enum import StrEnum
from typing import Annotated
from uuid import UUID

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from callgrid.config import Settings, get_settings
from callgrid.db.encrypted import load_keyring, reseal
from callgrid.db.engine import create_engine, create_sessionmaker
from callgrid.db.failures import DatabaseUnusable, check_connection, check_url, explain, mask_url
from callgrid.observability.logs import configure_logging, fail, logging_config
from callgrid.tenancy.models import KeyRole

# What the commands use once the database answers (onboarding, sessions and errors import
# FastAPI; migrations import Alembic) is imported there, not here: `--version`, `--help` and a
# database that cannot be used (one line, exit 2) do without them.

app = typer.Typer(help="Callgrid: schedule and run video calls.", no_args_is_help=True)
orgs = typer.Typer(help="Organizations (tenants).", no_args_is_help=True)
keys = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(orgs, name="orgs")
app.add_typer(keys, name="keys")
secrets_cli = typer.Typer(help="Secrets stored encrypted (webhook signing secrets and header values).", no_args_is_help=True)
app.add_typer(secrets_cli, name="secrets")
err = Console(stderr=True)
log = logging.getLogger("callgrid.cli")


class EventLoop(StrEnum):
    """The server's event loop. asyncio's serves the connections with requests waiting in
    turn, each pass of the loop all of them; uvloop's, under a closed-loop load (32
    connections each sending its next request as soon as its answer arrives), left some
    connections' requests unread for hundreds of milliseconds while it served others again
    and again, for about the same CPU per request (docs/architecture.md, The event loop)."""

    asyncio = "asyncio"
    uvloop = "uvloop"


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("callgrid")
    except PackageNotFoundError:
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        print(f"callgrid {_version()}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", help="print the version and exit", is_eager=True, callback=_print_version)
    ] = False,
) -> None:
    """Callgrid: schedule and run video calls."""


def _exit(message: str) -> typer.Exit:
    """One line on stderr (no traceback); the command ends with status 2."""
    fail(message)
    return typer.Exit(2)


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(f"CALLGRID_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise _exit(f"invalid setting: {problems}") from None


def _engine(settings: Settings):
    """The engine for `settings`' database; a URL Callgrid cannot use is one line and exit 2."""
    try:
        check_url(settings.database_url)
        return create_engine(settings)
    except DatabaseUnusable as exc:
        raise _exit(str(exc)) from None
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        raise _exit(explain(exc, settings.database_url)) from None


async def _with_session(work, *, migrate: bool = True):
    settings = _settings()
    engine = _engine(settings)
    try:
        await check_connection(engine, settings.database_url)
        from callgrid.db.migrate import upgrade
        from callgrid.db.session import write_session

        if migrate:
            await upgrade(engine)
        await load_keyring(settings, engine)
        async with write_session(create_sessionmaker(engine)) as session:
            result = await work(session)
            await session.commit()
            return result
    finally:
        await engine.dispose()


def _run(work):
    try:
        return asyncio.run(_with_session(work))
    except DatabaseUnusable as exc:
        raise _exit(str(exc)) from None
    except Exception as exc:
        # A CallgridError; never one when callgrid.errors was not even imported.
        errors = sys.modules.get("callgrid.errors")
        if errors is not None and isinstance(exc, errors.CallgridError):
            raise _exit(f"error: {exc.detail}") from None
        raise


def _listening_url(host: str, port: int) -> str:
    """The base URL of what `serve --host --port` listens on (the machine's name for a
    wildcard address, which is not one a browser can open)."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = socket.getfqdn() or "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


async def _seal_plaintext(session) -> int:
    """Encrypt the secrets still stored in plaintext (written before Callgrid encrypted them)."""
    from callgrid.migrations.models import Base

    return await reseal(await session.connection(), Base.metadata, only_plaintext=True)


@app.command()
def migrate() -> None:
    """Apply database migrations (and encrypt secrets stored before Callgrid encrypted them)."""
    _run(_seal_plaintext)
    err.print("database is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="server processes")] = 1,
    log_level: Annotated[LogLevel, typer.Option(help="least severe log records written (stderr)")] = LogLevel.info,
    loop: Annotated[EventLoop, typer.Option(help="the event loop: asyncio's (fair to every connection) or uvloop")] = EventLoop.asyncio,
) -> None:
    """Run the API server: applies migrations; the first start creates an organization."""
    import shutil
    import tempfile

    import uvicorn

    # Links handed out name the address served, unless CALLGRID_PUBLIC_URL says otherwise
    # (set before the settings are first read, here and in the worker processes).
    if not os.environ.get("CALLGRID_PUBLIC_URL"):
        os.environ["CALLGRID_PUBLIC_URL"] = _listening_url(host, port)
        get_settings.cache_clear()
    settings = _settings()
    configure_logging(log_level.value, settings.log_format)

    async def first_start(session):
        from callgrid import onboarding
        from callgrid.tenancy import repository as tenancy_repository

        await _seal_plaintext(session)
        if await tenancy_repository.count_organizations(session) == 0:
            return await onboarding.create_organization_with_owner(session, "Default")
        return None

    created = _run(first_start)
    if created is not None:
        log.info("created organization %s; its API key, shown only now, is on stdout", created.organization.slug)
        print(created.api_key, flush=True)
    log.info("Callgrid on http://%s:%s (API docs at /docs), links name %s", host, port, settings.public_url)
    # Several worker processes share their metrics through files (prometheus-client's
    # multi-process mode), in a directory of this run's own unless one is given.
    metrics_dir = None
    if workers > 1 and settings.metrics and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="callgrid-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    if workers > 1:
        _fork_workers_from_a_preloaded_server()
    try:
        uvicorn.run(
            "callgrid.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop=loop.value,
            http="httptools",
            log_config=logging_config(log_level.value, settings.log_format),
            log_level=log_level.value,
            # Callgrid logs each request itself, by route template: no query string (a room
            # page's ?token=) reaches the log.
            access_log=False,
            # SIGTERM: stop listening, close the rooms' sockets with their reason (the app does,
            # before this shutdown), answer the requests in flight, for at most this long.
            timeout_graceful_shutdown=30,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _fork_workers_from_a_preloaded_server() -> None:
    """uvicorn starts each of `--workers N` (and each replacement of one that died) with
    multiprocessing's spawn: a new interpreter importing Callgrid, about a second of CPU each.
    Here they are forked from multiprocessing's fork server instead, which imports
    `callgrid.app` once (no app made, no connection, no thread) when the first worker starts,
    after the environment above is set: each worker is a fresh process of its own all the same,
    and makes its app, connections and event loop itself. `spawn` is a private name of
    uvicorn's: tests/ops/test_worker_processes.py fails should it stop being the one used."""
    import multiprocessing

    import uvicorn._subprocess

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["callgrid.app"])
    uvicorn._subprocess.spawn = context  # what get_subprocess() starts its processes with


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="deliveries in flight at once (CALLGRID_WEBHOOK_CONCURRENCY)")] = None,
    log_level: Annotated[LogLevel, typer.Option(help="least severe log records written (stderr)")] = LogLevel.info,
) -> None:
    """Deliver webhooks until SIGTERM or SIGINT. Run any number of these on PostgreSQL
    (with CALLGRID_RUN_EMBEDDED_WORKER=false on the servers); apply migrations first."""
    import signal
    from pathlib import Path

    from sqlalchemy.engine import make_url

    settings = _settings()
    if concurrency is not None:
        settings = settings.model_copy(update={"webhook_concurrency": concurrency})
    configure_logging(log_level.value, settings.log_format)

    async def ready() -> None:
        """The database answers and is at this version's migrations (the worker migrates nothing)."""
        url = make_url(settings.database_url)
        if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
            if not Path(url.database).parent.is_dir():
                raise DatabaseUnusable(f"{mask_url(settings.database_url)}: cannot open the SQLite database: "
                                       f"does the directory of {url.database!r} exist and is it writable?")
            # Not even created: say so without creating an empty file.
            raise DatabaseUnusable(f"{mask_url(settings.database_url)}: the database was never migrated: run `callgrid migrate` "
                                   "(or start `callgrid serve`, which migrates)")
        engine = _engine(settings)
        try:
            await check_connection(engine, settings.database_url)
            from callgrid.db.migrate import migration_problem

            async with engine.connect() as connection:
                problem = await migration_problem(connection)
        finally:
            await engine.dispose()
        if problem is not None:
            raise DatabaseUnusable(f"{mask_url(settings.database_url)}: {problem}")

    async def main() -> None:
        await ready()
        from callgrid.webhooks.worker import run_standalone

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_standalone(settings, stop)

    try:
        asyncio.run(main())
    except DatabaseUnusable as exc:
        raise _exit(str(exc)) from None


@orgs.command("create")
def orgs_create(
    name: str,
    slug: Annotated[str | None, typer.Option(help="URL-safe short name; from NAME by default")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Create an organization with an owner host and an admin API key."""

    async def work(session):
        from callgrid import onboarding

        return await onboarding.create_organization_with_owner(session, name, slug=slug)

    created = _run(work)
    out = {
        "organization": {"id": str(created.organization.id), "name": created.organization.name, "slug": created.organization.slug},
        "host": {"id": str(created.host.id), "name": created.host.name, "email": created.host.email},
        "api_key": created.api_key,
    }
    if as_json:
        print(json.dumps(out))
    else:
        err.print(f"organization {out['organization']['slug']} ({out['organization']['id']}), owner host {out['host']['id']}")
        print(created.api_key)


@keys.command("create")
def keys_create(
    org: Annotated[str, typer.Option("--org", help="organization slug")],
    host: Annotated[UUID | None, typer.Option("--host", help="host the key acts as; the owner by default")] = None,
    name: Annotated[str, typer.Option(help="a label for the key")] = "",
    role: Annotated[KeyRole, typer.Option(help="admin: the whole organization; host: only what its host may (docs/roles.md)")] = KeyRole.HOST,
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""

    async def work(session):
        from callgrid import onboarding
        from callgrid.errors import CallgridError
        from callgrid.tenancy import repository as tenancy_repository

        organization = await tenancy_repository.get_organization_by_slug(session, org)
        if organization is None:
            raise CallgridError(f"no organization with slug {org!r}")
        return await onboarding.create_api_key(session, organization.id, host, name=name, role=role)

    print(_run(work))


@keys.command("list")
def keys_list(
    org: Annotated[str, typer.Option("--org", help="organization slug")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The organization's working keys: id, label, host, role, first characters, created, last used (never the key)."""
    from callgrid.kit.timestamps import utc_millis

    async def work(session):
        from callgrid.errors import CallgridError
        from callgrid.tenancy import repository as tenancy_repository

        organization = await tenancy_repository.get_organization_by_slug(session, org)
        if organization is None:
            raise CallgridError(f"no organization with slug {org!r}")
        return (await session.execute(tenancy_repository.keys_of(organization.id))).scalars().all()

    rows = [
        {
            "id": str(key.id), "name": key.name, "host_id": str(key.host_id), "role": key.role, "prefix": key.prefix,
            "created_at": utc_millis(key.created_at),
            "last_used_at": utc_millis(key.last_used_at) if key.last_used_at else None,
        }
        for key in _run(work)
    ]
    if as_json:
        print(json.dumps(rows))
        return
    for row in rows:
        print("\t".join([row["id"], row["prefix"] + "...", row["host_id"], row["created_at"], row["last_used_at"] or "never",
                         row["role"], row["name"]]))


@secrets_cli.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored secret with CALLGRID_SECRET_KEY; then CALLGRID_PREVIOUS_SECRET_KEYS can go."""
    from callgrid.migrations.models import Base

    async def work(session):
        return await reseal(await session.connection(), Base.metadata)

    err.print(f"re-encrypted the secrets of {_run(work)} rows with the current secret key")


@keys.command("revoke")
def keys_revoke(
    key_id: Annotated[UUID, typer.Argument(help="the key's id (`callgrid keys list`)")],
    org: Annotated[str, typer.Option("--org", help="organization slug")],
) -> None:
    """Revoke a key: it stops working at once, in every server process."""
    from callgrid.kit.clock import system_clock
    from callgrid.tenancy import service as tenancy_service

    async def work(session):
        from callgrid.errors import CallgridError
        from callgrid.tenancy import repository as tenancy_repository

        organization = await tenancy_repository.get_organization_by_slug(session, org)
        if organization is None:
            raise CallgridError(f"no organization with slug {org!r}")
        await tenancy_service.revoke_api_key(session, organization.id, key_id, now=system_clock())

    _run(work)
    err.print(f"revoked {key_id}")
