"""calls: list index by organization and kind

Every list asks for one kind of call (appointments, video calls) in start order; with the
kind in the index, counting and paging an organization's appointments reads only the index.

Revision ID: 20261121_calls_kind_index
Revises: 20261121_webhooks
Create Date: 2026-11-21
"""

from alembic import op

revision = "20261121_calls_kind_index"
down_revision = "20261121_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_organization_id_kind_starts_at", "calls", ["organization_id", "kind", "starts_at", "id"])
    op.drop_index("ix_calls_organization_id_starts_at", table_name="calls")


def downgrade() -> None:
    op.create_index("ix_calls_organization_id_starts_at", "calls", ["organization_id", "starts_at", "id"])
    op.drop_index("ix_calls_organization_id_kind_starts_at", table_name="calls")
