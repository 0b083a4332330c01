"""The migrations build exactly the schema the models describe, and can be undone."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from callgrid.config import Settings
from callgrid.db.engine import create_engine
from callgrid.db.migrate import alembic_config, upgrade
from callgrid.migrations.models import Base


async def test_migrated_schema_matches_the_models(database_url):
    engine = create_engine(Settings(database_url=database_url))
    async with engine.connect() as conn:
        diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
        if conn.dialect.name == "postgresql":
            constraint = await conn.execute(
                text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'ex_calls_host_no_overlap'")
            )
            assert "EXCLUDE USING gist" in constraint.scalar_one()
    await engine.dispose()
    assert diff == []


async def test_downgrade_to_nothing_and_back(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"
    engine = create_engine(Settings(database_url=url))
    await upgrade(engine)

    def down(connection) -> None:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    async with engine.begin() as conn:
        await conn.run_sync(down)
        tables = await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'alembic_version'"))
        assert tables.scalars().all() == []
    await upgrade(engine)
    async with engine.connect() as conn:
        tables = set((await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))).scalars())
    await engine.dispose()
    assert set(Base.metadata.tables) <= tables
