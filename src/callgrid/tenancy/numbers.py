"""Per-organization numbers: 1, 2, 3, ... for each kind of object (hosts, contacts, event
types, bookings), what the event-calls API uses as ids.

A number is taken in the transaction that writes its row, by one upsert on the organization's
counter: the counter's row stays locked (PostgreSQL) or the database's single writer is held
(SQLite) until that transaction ends, so concurrent writers wait for each other, and a
transaction that rolls back gives its numbers back. No gaps, no repeats.
"""

from uuid import UUID

from sqlalchemy import Connection, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.tenancy.models import NumberCounter

_COUNTERS = NumberCounter.__table__


_STATEMENTS: dict[str, object] = {}


def take_step(dialect_name: str, organization_id: UUID, kind: str, count: int = 1) -> tuple:
    """The upsert as a write section's step (callgrid.db.sections); its one row holds the last
    number taken: the numbers are `last - count + 1 .. last`."""
    statement = _STATEMENTS.get(dialect_name)
    if statement is None:
        insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
        base = insert(_COUNTERS).values(
            organization_id=bindparam("organization_id"), kind=bindparam("kind"), last_number=bindparam("count")
        )
        statement = _STATEMENTS[dialect_name] = base.on_conflict_do_update(
            index_elements=[_COUNTERS.c.organization_id, _COUNTERS.c.kind],
            set_={"last_number": _COUNTERS.c.last_number + base.excluded.last_number},
        ).returning(_COUNTERS.c.last_number)
    return statement, {"organization_id": organization_id, "kind": kind, "count": count}


async def take(session: AsyncSession, organization_id: UUID, kind: str, count: int = 1) -> int:
    """Take `count` numbers of `kind` in the session's transaction; returns the first."""
    statement, params = take_step(session.get_bind().dialect.name, organization_id, kind, count)
    last = (await session.execute(statement, params)).scalar_one()
    return last - count + 1


def take_on(connection: Connection, organization_id: UUID, kind: str) -> int:
    """`take` on a synchronous connection (inside a flush: the ORM's before-insert hooks)."""
    statement, params = take_step(connection.dialect.name, organization_id, kind)
    return connection.execute(statement, params).scalar_one()
