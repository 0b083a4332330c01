"""idempotency keys for POSTs that create (issue 13)

Revision ID: 20261127_idempotency
Revises: 20261127_secrets_at_rest
Create Date: 2026-11-27
"""

revision = "20261127_idempotency"
down_revision = "20261127_secrets_at_rest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the change that needs it


def downgrade() -> None:
    pass
