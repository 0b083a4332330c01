"""webhooks: NOTIFY delivery workers when events are inserted (PostgreSQL only)

A statement-level trigger on `webhook_events` runs `pg_notify('callgrid_webhook_events', '')`
once per INSERT statement. The notification is part of the inserting transaction: it costs no
round trip of its own, is delivered when the transaction commits and not at all when it rolls
back, and PostgreSQL folds a transaction's identical notifications into one. Delivery workers
LISTEN on the channel (callgrid.webhooks.wakeup.PG_CHANNEL) and wake at once instead of at
their next poll. SQLite has no such thing: this migration does nothing there.

Revision ID: 20261123_webhook_notify
Revises: 20261121_calls_kind_index
Create Date: 2026-11-23
"""

from alembic import op

revision = "20261123_webhook_notify"
down_revision = "20261121_calls_kind_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION callgrid_notify_webhook_events() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('callgrid_webhook_events', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER webhook_events_notify AFTER INSERT ON webhook_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION callgrid_notify_webhook_events()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS webhook_events_notify ON webhook_events")
    op.execute("DROP FUNCTION IF EXISTS callgrid_notify_webhook_events()")
