"""products.creator_id: NO ACTION instead of RESTRICT, checked at the end of the statement,
so that deleting an organization (which cascades to its hosts and its products in one
statement) works whatever order the database cascades in; a host with products still cannot
be deleted on its own

Revision ID: 20261123_products_creator
Revises: 20261123_event_calls
Create Date: 2026-11-23
"""

from alembic import op

revision = "20261123_products_creator"
down_revision = "20261123_event_calls"
branch_labels = None
depends_on = None

_FK = "fk_products_creator_id_hosts"


def _recreate(ondelete: str) -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_constraint(_FK, type_="foreignkey")
        batch_op.create_foreign_key(_FK, "hosts", ["creator_id"], ["id"], ondelete=ondelete)


def upgrade() -> None:
    _recreate("NO ACTION")


def downgrade() -> None:
    _recreate("RESTRICT")
