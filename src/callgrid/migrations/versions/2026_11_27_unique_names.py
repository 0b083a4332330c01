"""white-label host names unique across organizations; host emails unique per organization ignoring case (issue 13)

Revision ID: 20261127_unique_names
Revises: 20261127_idempotency
Create Date: 2026-11-27
"""

revision = "20261127_unique_names"
down_revision = "20261127_idempotency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the change that needs it


def downgrade() -> None:
    pass
