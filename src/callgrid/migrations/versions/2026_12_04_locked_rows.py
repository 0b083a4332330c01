"""callgrid_locked_rows: a host's lock, a booking's check and its writes in one call (issue 8)

Revision ID: 20261204_locked_rows
Revises: 20261127_key_roles
Create Date: 2026-12-04
"""

from alembic import op

revision = "20261204_locked_rows"
down_revision = "20261127_key_roles"
branch_labels = None
depends_on = None

# PostgreSQL only (db.sections): the transaction-scoped advisory lock, then the statement, run
# with a snapshot taken once the lock is held (a VOLATILE function takes one per statement under
# READ COMMITTED), in the caller's transaction: called on its own, one round trip from the lock
# to the commit, so the lock is held for the database's own time only. The statement's one
# parameter is `args`, the text of its values, read as `$1[n]::type`: an array argument is
# expanded once on entry, so each read is a lookup, not a walk or a copy of the whole. (A
# `jsonb` argument was copied whole on each read: for a year-long series, gigabytes.) It runs
# with the caller's privileges.
_CREATE = """
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


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION callgrid_locked_rows(bigint, text, text[])")
