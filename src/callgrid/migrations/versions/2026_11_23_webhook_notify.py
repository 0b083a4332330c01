"""webhooks: no schema change (kept so the revision chain stays as it was)

This revision first added a statement-level trigger on `webhook_events` that ran
`pg_notify('callgrid_webhook_events', '')` in every transaction inserting events. PostgreSQL
commits notifying transactions one at a time (a global lock around the notify queue at commit,
so they cannot share a WAL flush), and with every call creation inserting events the trigger
capped the create rate (bench/notify_commit_cost.py). It was dropped before release: each
`callgrid serve` process now sends that notification itself after a commit that carried events,
off the request's path (callgrid.webhooks.wakeup.publishing). Nothing is left for the schema to
do; the revision stays, empty, so the revisions after it apply unchanged.

Revision ID: 20261123_webhook_notify
Revises: 20261121_calls_kind_index
Create Date: 2026-11-23
"""

revision = "20261123_webhook_notify"
down_revision = "20261121_calls_kind_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
