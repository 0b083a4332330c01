"""API keys get a role: admin or host (issue 13)

Revision ID: 20261127_key_roles
Revises: 20261127_unique_names
Create Date: 2026-11-27
"""

revision = "20261127_key_roles"
down_revision = "20261127_unique_names"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the change that needs it


def downgrade() -> None:
    pass
