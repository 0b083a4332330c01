from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations on `engine` (idempotent: only what is missing runs)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))

    def run(connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


@lru_cache(maxsize=1)
def head_revisions() -> frozenset[str]:
    """The revisions this version of Callgrid migrates a database to (read once per process)."""
    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


async def current_revisions(connection: AsyncConnection) -> frozenset[str] | None:
    """The revisions the database is at; None when it was never migrated (no `alembic_version`)."""

    def read(sync_connection) -> frozenset[str] | None:
        if not inspect(sync_connection).has_table("alembic_version"):
            return None
        return frozenset(MigrationContext.configure(sync_connection).get_current_heads())

    return await connection.run_sync(read)


async def migration_problem(connection: AsyncConnection) -> str | None:
    """Why the database is not at this version's head (None when it is), in a few words."""
    current = await current_revisions(connection)
    heads = head_revisions()
    if not current:
        return "the database was never migrated: run `callgrid migrate` (or start `callgrid serve`, which migrates)"
    if current == heads:
        return None
    known = {revision.revision for revision in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()}
    if current - known:
        return (f"the database is at revision {', '.join(sorted(current))}, unknown to this version of Callgrid "
                f"(head {', '.join(sorted(heads))}): it was migrated by a newer one")
    return (f"the database is at revision {', '.join(sorted(current))}, not at head {', '.join(sorted(heads))}: "
            "run `callgrid migrate`")
