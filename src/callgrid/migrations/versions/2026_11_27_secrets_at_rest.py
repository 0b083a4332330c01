"""webhook signing secrets and custom header values stored encrypted (issue 13)

Revision ID: 20261127_secrets_at_rest
Revises: 20261126_management
Create Date: 2026-11-27
"""

revision = "20261127_secrets_at_rest"
down_revision = "20261126_management"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the change that needs it


def downgrade() -> None:
    pass
