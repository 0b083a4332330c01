"""The lists' statements leave the planner one good way, whatever the statistics: the plans
that made them slow do not come back (a participant's appointments found by scanning the
organization's calls; a deep page read from the window's start)."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, insert, text

from callgrid.calls import repository
from callgrid.calls.models import NIL_ID, Call, CallKind, Participant
from callgrid.db.base import new_id
from callgrid.db.maintenance import sqlite_statistics_changed
from callgrid.db.session import open_database, read_session, write_session
from callgrid.config import Settings
from tests.support.databases import clean
from tests.support.rows import add_organization

T0 = datetime(2031, 3, 1, tzinfo=UTC)


async def fill(database, count: int) -> tuple:
    now = datetime.now(UTC)
    async with write_session(database) as session:
        organization, host = await add_organization(session)
        calls, participants = [], []
        for n in range(count):
            start = T0 + timedelta(hours=5 * (n % 300), minutes=n // 300)
            kind = CallKind.APPOINTMENT if n % 2 else CallKind.VIDEO_CALL
            call = {
                "id": new_id(), "organization_id": organization.id, "host_id": None if n % 2 else host.id,
                "kind": kind.value, "title": "t", "starts_at": start, "ends_at": start + timedelta(minutes=30),
                "timezone": "UTC", "status": "scheduled", "cancelled_at": None, "allow_overlap": True,
                "series_id": None, "product_id": None, "config": None, "created_at": now, "updated_at": now,
            }
            calls.append(call)
            participants.append({
                "id": new_id(), "organization_id": organization.id, "call_id": call["id"], "unique_id": f"p{n % 3}",
                "display_name": None, "role": "participant", "contact_id": None, "created_at": now, "updated_at": now,
            })
        await session.execute(insert(Call), calls)
        await session.execute(insert(Participant), participants)
        await session.commit()
    return organization.id, host.id


class Captured:
    """The statements a list ran, with their parameters."""

    def __init__(self, engine):
        self.statements: list[tuple[str, object]] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._record)
        self.engine = engine

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            self.statements.append((statement, parameters))

    def close(self):
        event.remove(self.engine.sync_engine, "before_cursor_execute", self._record)


async def plans(database, captured: Captured, generic: bool = False) -> list[str]:
    """The plan of each captured statement, as text."""
    out = []
    async with read_session(database) as session:
        raw = (await (await session.connection()).get_raw_connection()).driver_connection
        if database.dialect == "sqlite":
            # A statement run (EXPLAIN does not check) has the connection load the schema and
            # statistics again if their version changed.
            await (await raw.execute(f"SELECT count(*) FROM calls -- {uuid.uuid4()}")).fetchall()
        for statement, parameters in captured.statements:
            if database.dialect == "postgresql":
                if generic:
                    await raw.execute("SET plan_cache_mode = force_generic_plan")
                    name = f"plan_{len(out)}"
                    await raw.execute(f"PREPARE {name} AS {statement}")
                    literals = ", ".join(_pg_literal(p) for p in parameters)
                    rows = await raw.fetch(f"EXPLAIN EXECUTE {name}({literals})")
                    await raw.execute(f"DEALLOCATE {name}")
                    await raw.execute("RESET plan_cache_mode")
                else:
                    rows = await raw.fetch("EXPLAIN " + statement, *parameters)
                out.append("\n".join(row[0] for row in rows))
            else:
                # (A new text each time: sqlite3 would hand back the same statement prepared
                # before, and an EXPLAIN does not notice that the statistics have changed.)
                cursor = await raw.execute(f"EXPLAIN QUERY PLAN {statement} -- {uuid.uuid4()}", parameters)
                out.append("\n".join(row[3] for row in await cursor.fetchall()))
    return out


def _pg_literal(value) -> str:
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


async def forget_statistics(database) -> None:
    async with write_session(database) as session:
        if database.dialect == "sqlite":
            if (await session.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"))).scalar():
                await session.execute(text("DELETE FROM sqlite_stat1"))
            await sqlite_statistics_changed(session)
        await session.commit()


async def limited_statistics(database) -> None:
    """SQLite: what `PRAGMA analysis_limit` leaves (the periodic task's kind), here at its
    roughest."""
    async with write_session(database) as session:
        await session.execute(text("PRAGMA analysis_limit = 50"))
        await session.execute(text("ANALYZE"))
        await sqlite_statistics_changed(session)
        await session.commit()


async def test_a_participants_appointments_are_looked_up_by_id(database_url, backend):
    """SQLite without statistics, with rough ones and with full ones; PostgreSQL with its
    statistics and the generic plan a prepared statement switches to (which does not see
    how wide the window is)."""
    await clean(database_url)
    database = open_database(Settings(database_url=database_url))
    captured = Captured(database.engine)
    try:
        # PostgreSQL reads a table this small sequentially whatever the query: it gets more.
        organization_id, _ = await fill(database, 300 if backend == "sqlite" else 6000)
        window = repository.ParticipantCallFilter(
            organization_id=organization_id, kind=CallKind.APPOINTMENT, participant_unique_id="p1",
            starts_from=T0 + timedelta(days=3), starts_before=T0 + timedelta(days=60),
        )
        for statistics in ("none", "limited", "full") if backend == "sqlite" else ("full",):
            await forget_statistics(database)
            if statistics == "limited":
                await limited_statistics(database)
            elif statistics == "full":
                async with write_session(database) as session:
                    if backend == "sqlite":
                        await session.execute(text("PRAGMA analysis_limit = 0"))  # (a setting of the connection)
                    await session.execute(text("ANALYZE"))
                    if backend == "sqlite":
                        await sqlite_statistics_changed(session)
                    await session.commit()
            async with read_session(database) as session:
                captured.statements.clear()
                rows, total = await repository.list_calls_with_participant_count(session, window, 5, 20)
            assert total > 20 and len(rows) == 20
            for plan in await plans(database, captured, generic=backend == "postgresql"):
                if backend == "sqlite":
                    # By id: through (id, organization_id, kind, starts_at) once statistics say
                    # it holds one row per id, through the primary key's index before.
                    searches = [line for line in plan.splitlines() if line.startswith("SEARCH calls")]
                    assert searches and all(line.endswith("(id=?)") for line in searches), (statistics, plan)
                    if statistics == "full":
                        assert "COVERING INDEX ix_calls_id_organization_id_kind_starts_at (id=?)" in plan, plan
                else:
                    assert "Index Cond: (id = participants.call_id)" in plan, plan
                    assert "ix_calls_organization_id_kind_starts_at" not in plan, plan
    finally:
        captured.close()
        await database.dispose()


async def test_a_deep_page_is_read_from_its_own_day(database_url, backend):
    """The page's statement reads a range of starts bounded on both sides: from the day that
    holds its first call to the end of the day of its last. (Given the window's own start
    beside the day's, SQLite took the looser bound and read from the window's start.)"""
    await clean(database_url)
    database = open_database(Settings(database_url=database_url))
    captured = Captured(database.engine)
    try:
        organization_id, host_id = await fill(database, 300)
        videos = repository.CallFilter(
            organization_id=organization_id, kind=CallKind.VIDEO_CALL, host_id=host_id, overlapping_from=T0 + timedelta(hours=7)
        )
        async with read_session(database) as session:
            captured.statements.clear()
            rows, total = await repository.list_calls(session, videos, 100, 20)
        assert total > 120 and len(rows) == 20
        del captured.statements[:-1]  # the page's statement
        [plan] = await plans(database, captured, generic=backend == "postgresql")
        if backend == "sqlite":
            assert "starts_at>? AND starts_at<?" in plan, plan
        else:
            assert "starts_at >= " in plan and "starts_at < " in plan, plan
    finally:
        captured.close()
        await database.dispose()


async def test_an_organizations_counts_by_day_are_read_from_their_window_alone(database_url, backend):
    """Every host's calls (an admin key's list) are counted from the day counts of the window's
    days, in the order of their days, from an index that holds the counts (before, every day
    count of the organization and kind, looked up in the table one by one, then sorted)."""
    await clean(database_url)
    database = open_database(Settings(database_url=database_url))
    captured = Captured(database.engine)
    try:
        organization_id, _ = await fill(database, 300)
        async with write_session(database) as session:
            if backend == "postgresql":
                # PostgreSQL reads a few dozen rows whichever way: give the organization three
                # years of a dozen hosts' days before the window, as a busy one has.
                await session.execute(text(
                    "INSERT INTO call_day_counts (organization_id, kind, host_id, product_id, day, live, cancelled) "
                    "SELECT :org, 'video_call', md5(h::text)::uuid, :nil, d::date, 1, 0 "
                    "FROM generate_series(1, 12) AS h, generate_series(:first, :last, interval '1 day') AS d"
                ), {"org": organization_id, "nil": NIL_ID, "first": T0 - timedelta(days=3 * 365), "last": T0 - timedelta(days=1)})
            await session.execute(text("ANALYZE"))
            if backend == "sqlite":
                await sqlite_statistics_changed(session)
            await session.commit()
        every_host = repository.CallFilter(
            organization_id=organization_id, kind=CallKind.VIDEO_CALL, overlapping_from=T0 + timedelta(days=20)
        )
        async with read_session(database) as session:
            captured.statements.clear()
            rows, total = await repository.list_calls(session, every_host, 0, 20)
        assert total > 20 and len(rows) == 20
        [plan] = [p for p in await plans(database, captured, generic=backend == "postgresql") if "call_day_counts" in p]
        if backend == "sqlite":
            assert "COVERING INDEX ix_call_day_counts_organization_id_kind_day (organization_id=? AND kind=? AND day>?)" in plan, plan
        else:
            assert "ix_call_day_counts_organization_id_kind_day" in plan, plan  # an index scan, or a bitmap of one
            assert "Seq Scan on call_day_counts" not in plan and "pk_call_day_counts" not in plan, plan
    finally:
        captured.close()
        await database.dispose()
