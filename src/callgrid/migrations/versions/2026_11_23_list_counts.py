"""lists: per-day call counts kept by triggers, covering participant indexes, statistics

- `call_day_counts`: how many calls (live / cancelled) of one organization, kind, host and
  product start on one UTC day. Triggers on `calls` keep it exact on every insert, delete and
  update of a column it depends on; the lists count and seek with it (callgrid.calls.listing).
  SQLite: row triggers, an upsert for what is added, an UPDATE for what is taken away.
  PostgreSQL: statement triggers with transition tables, one upsert per statement whose
  changes are summed per key and applied in key order (two statements touching the same keys
  lock them in the same order). Filled from the calls already there.
- participants: (unique_id, organization_id, call_id) instead of (unique_id), and
  (contact_id, call_id): the lists' participant and contact filters read the index alone.
- statistics for the planner: ANALYZE after the indexes exist (the server keeps them
  current afterwards: callgrid.db.maintenance).

Revision ID: 20261123_list_counts
Revises: 20261123_webhook_notify
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "20261123_list_counts"
down_revision = "20261123_webhook_notify"
branch_labels = None
depends_on = None

KEY = "organization_id, kind, host_id, product_id, day"

SQLITE_NIL = "'00000000000000000000000000000000'"  # uuid.UUID(int=0) as SQLite stores a Uuid


def _sqlite_key(row: str) -> str:
    return (
        f"{row}.organization_id, {row}.kind, coalesce({row}.host_id, {SQLITE_NIL}), "
        f"coalesce({row}.product_id, {SQLITE_NIL}), substr({row}.starts_at, 1, 10)"
    )


def _sqlite_add(row: str) -> str:
    return (
        f"INSERT INTO call_day_counts ({KEY}, live, cancelled) VALUES ({_sqlite_key(row)}, "
        f"{row}.status <> 'cancelled', {row}.status = 'cancelled') "
        f"ON CONFLICT ({KEY}) DO UPDATE SET live = live + excluded.live, cancelled = cancelled + excluded.cancelled;"
    )


def _sqlite_take(row: str) -> str:
    return (
        f"UPDATE call_day_counts SET live = live - ({row}.status <> 'cancelled'), "
        f"cancelled = cancelled - ({row}.status = 'cancelled') "
        f"WHERE ({KEY}) = ({_sqlite_key(row)});"
    )


SQLITE_TRIGGERS = [
    f"CREATE TRIGGER calls_day_counts_insert AFTER INSERT ON calls BEGIN {_sqlite_add('NEW')} END",
    f"CREATE TRIGGER calls_day_counts_delete AFTER DELETE ON calls BEGIN {_sqlite_take('OLD')} END",
    "CREATE TRIGGER calls_day_counts_update AFTER UPDATE OF organization_id, kind, host_id, product_id, starts_at, status "
    "ON calls WHEN OLD.organization_id IS NOT NEW.organization_id OR OLD.kind IS NOT NEW.kind "
    "OR OLD.host_id IS NOT NEW.host_id OR OLD.product_id IS NOT NEW.product_id "
    "OR substr(OLD.starts_at, 1, 10) IS NOT substr(NEW.starts_at, 1, 10) "
    "OR (OLD.status = 'cancelled') IS NOT (NEW.status = 'cancelled') "
    f"BEGIN {_sqlite_take('OLD')} {_sqlite_add('NEW')} END",
]

PG_NIL = "'00000000-0000-0000-0000-000000000000'::uuid"


def _pg_rows(table: str, sign: str) -> str:
    return (
        f"SELECT organization_id, kind, coalesce(host_id, {PG_NIL}) AS host_id, "
        f"coalesce(product_id, {PG_NIL}) AS product_id, (starts_at AT TIME ZONE 'UTC')::date AS day, "
        f"{sign}(status <> 'cancelled')::int AS live, {sign}(status = 'cancelled')::int AS cancelled FROM {table}"
    )


def _pg_apply(changes: str) -> str:
    return (
        f"INSERT INTO call_day_counts AS c ({KEY}, live, cancelled) "
        f"SELECT {KEY}, sum(live), sum(cancelled) FROM ({changes}) AS changes "
        f"GROUP BY {KEY} HAVING sum(live) <> 0 OR sum(cancelled) <> 0 ORDER BY {KEY} "
        f"ON CONFLICT ({KEY}) DO UPDATE SET live = c.live + excluded.live, cancelled = c.cancelled + excluded.cancelled;"
    )


PG_FUNCTION = f"""
CREATE FUNCTION callgrid_call_day_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_pg_apply(_pg_rows('added', '+'))}
    ELSIF TG_OP = 'DELETE' THEN
        {_pg_apply(_pg_rows('removed', '-'))}
    ELSE
        {_pg_apply(_pg_rows('added', '+') + ' UNION ALL ' + _pg_rows('removed', '-'))}
    END IF;
    RETURN NULL;
END
$$
"""

PG_TRIGGERS = [
    "CREATE TRIGGER calls_day_counts_insert AFTER INSERT ON calls REFERENCING NEW TABLE AS added "
    "FOR EACH STATEMENT EXECUTE FUNCTION callgrid_call_day_counts()",
    "CREATE TRIGGER calls_day_counts_delete AFTER DELETE ON calls REFERENCING OLD TABLE AS removed "
    "FOR EACH STATEMENT EXECUTE FUNCTION callgrid_call_day_counts()",
    "CREATE TRIGGER calls_day_counts_update AFTER UPDATE ON calls REFERENCING OLD TABLE AS removed NEW TABLE AS added "
    "FOR EACH STATEMENT EXECUTE FUNCTION callgrid_call_day_counts()",
]

TRIGGER_NAMES = ("calls_day_counts_insert", "calls_day_counts_delete", "calls_day_counts_update")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "call_day_counts",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("live", sa.Integer(), nullable=False),
        sa.Column("cancelled", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "kind", "host_id", "product_id", "day", name=op.f("pk_call_day_counts")),
    )
    op.create_index("ix_call_day_counts_product_id_day", "call_day_counts", ["product_id", "day"])
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        for statement in PG_TRIGGERS:
            op.execute(statement)
        op.execute(_pg_apply(_pg_rows("calls", "+")))
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
        op.execute(
            f"INSERT INTO call_day_counts ({KEY}, live, cancelled) SELECT {_sqlite_key('calls')}, "
            f"sum(status <> 'cancelled'), sum(status = 'cancelled') FROM calls GROUP BY 1, 2, 3, 4, 5"
        )

    op.create_index(
        "ix_participants_unique_id_organization_id_call_id", "participants", ["unique_id", "organization_id", "call_id"]
    )
    op.create_index("ix_participants_contact_id_call_id", "participants", ["contact_id", "call_id"])
    op.drop_index("ix_participants_unique_id", table_name="participants")

    # The planner's statistics, now that the indexes exist.
    if dialect == "postgresql":
        op.execute("ANALYZE calls, participants, subscriptions, call_day_counts")
    else:
        op.execute("ANALYZE")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_index("ix_participants_unique_id", "participants", ["unique_id"])
    op.drop_index("ix_participants_contact_id_call_id", table_name="participants")
    op.drop_index("ix_participants_unique_id_organization_id_call_id", table_name="participants")
    for name in TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER {name} ON calls" if dialect == "postgresql" else f"DROP TRIGGER {name}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION callgrid_call_day_counts()")
    op.drop_index("ix_call_day_counts_product_id_day", table_name="call_day_counts")
    op.drop_table("call_day_counts")
    if dialect == "sqlite":
        # The statistics this migration's ANALYZE created (derived data; the next ANALYZE
        # makes them again).
        op.execute("DROP TABLE IF EXISTS sqlite_stat1")
        op.execute("DROP TABLE IF EXISTS sqlite_stat4")
