import asyncio
import json
from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console

from callgrid import onboarding
from callgrid.config import get_settings
from callgrid.db.engine import create_engine, create_sessionmaker
from callgrid.db.migrate import upgrade
from callgrid.db.session import write_session
from callgrid.errors import CallgridError
from callgrid.tenancy import repository as tenancy_repository

app = typer.Typer(help="Callgrid: schedule and run video calls.", no_args_is_help=True)
orgs = typer.Typer(help="Organizations (tenants).", no_args_is_help=True)
keys = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(orgs, name="orgs")
app.add_typer(keys, name="keys")
err = Console(stderr=True)


async def _with_session(work, *, migrate: bool = True):
    engine = create_engine(get_settings())
    try:
        if migrate:
            await upgrade(engine)
        async with write_session(create_sessionmaker(engine)) as session:
            result = await work(session)
            await session.commit()
            return result
    finally:
        await engine.dispose()


def _run(work):
    try:
        return asyncio.run(_with_session(work))
    except CallgridError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(2) from None


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    _run(lambda session: asyncio.sleep(0))
    err.print("database is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="server processes")] = 1,
) -> None:
    """Run the API server: applies migrations; the first start creates an organization."""
    import uvicorn

    async def first_start(session):
        if await tenancy_repository.count_organizations(session) == 0:
            return await onboarding.create_organization_with_owner(session, "Default")
        return None

    created = _run(first_start)
    if created is not None:
        err.print(f"Created organization [bold]{created.organization.slug}[/bold]. Its API key, shown only now:")
        print(created.api_key, flush=True)
    err.print(f"Callgrid on http://{host}:{port} (API docs at /docs)")
    uvicorn.run(
        "callgrid.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_level="warning",
    )


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="deliveries in flight at once (CALLGRID_WEBHOOK_CONCURRENCY)")] = None,
) -> None:
    """Deliver webhooks until SIGTERM or SIGINT. Run any number of these on PostgreSQL
    (with CALLGRID_RUN_EMBEDDED_WORKER=false on the servers); apply migrations first."""
    import signal

    from callgrid.webhooks.worker import run_standalone

    settings = get_settings()
    if concurrency is not None:
        settings = settings.model_copy(update={"webhook_concurrency": concurrency})

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        err.print("webhook worker started")
        await run_standalone(settings, stop)

    asyncio.run(main())


@orgs.command("create")
def orgs_create(
    name: str,
    slug: Annotated[str | None, typer.Option(help="URL-safe short name; from NAME by default")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Create an organization with an owner host and an API key."""

    async def work(session):
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
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""

    async def work(session):
        organization = await tenancy_repository.get_organization_by_slug(session, org)
        if organization is None:
            raise CallgridError(f"no organization with slug {org!r}")
        return await onboarding.create_api_key(session, organization.id, host, name=name)

    print(_run(work))
