"""event calls: per-organization numbers (hosts, contacts; counters), hosts' date overrides,
contacts' emails unique ignoring case, event types and their hosts, bookings

Revision ID: 20261123_event_calls
Revises: 20261123_rooms
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from callgrid.db.base import UTCDateTime

revision = "20261123_event_calls"
down_revision = "20261123_rooms"
branch_labels = None
depends_on = None


def _number_rows(table: str) -> None:
    """Numbers 1, 2, 3, ... per organization for the rows there are, oldest first, and the
    counter left at the last one."""
    op.execute(
        f"""
        UPDATE {table} SET number = (
            SELECT numbered.n FROM (
                SELECT id, ROW_NUMBER() OVER (PARTITION BY organization_id ORDER BY created_at, id) AS n
                FROM {table}
            ) AS numbered
            WHERE numbered.id = {table}.id
        )
        """
    )
    op.execute(
        f"""
        INSERT INTO number_counters (organization_id, kind, last_number)
        SELECT organization_id, '{table}', MAX(number) FROM {table} GROUP BY organization_id
        """
    )


def upgrade() -> None:
    op.create_table(
        "number_counters",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"],
            name=op.f("fk_number_counters_organization_id_organizations"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "kind", name=op.f("pk_number_counters")),
    )

    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("date_overrides", sa.JSON(), nullable=True))
    op.execute("UPDATE hosts SET date_overrides = '{}'")
    _number_rows("hosts")
    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.alter_column("number", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("date_overrides", existing_type=sa.JSON(), nullable=False)
        batch_op.create_unique_constraint("uq_hosts_organization_id_number", ["organization_id", "number"])

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number", sa.Integer(), nullable=True))
    _number_rows("contacts")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.alter_column("number", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint("uq_contacts_organization_id_number", ["organization_id", "number"])
    # Two contacts whose emails differ only in case must be merged by hand before this.
    op.create_index(
        "uq_contacts_organization_id_lower_email", "contacts", ["organization_id", sa.text("lower(email)")], unique=True
    )

    op.create_table(
        "event_types",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("slot_interval_minutes", sa.Integer(), nullable=True),
        sa.Column("minimum_notice_minutes", sa.Integer(), nullable=False),
        sa.Column("booking_window_days", sa.Integer(), nullable=False),
        sa.Column("buffer_before_minutes", sa.Integer(), nullable=False),
        sa.Column("buffer_after_minutes", sa.Integer(), nullable=False),
        sa.Column("redirect_url", sa.String(length=2048), nullable=True),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"],
            name=op.f("fk_event_types_organization_id_organizations"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_types")),
        sa.UniqueConstraint("organization_id", "number", name="uq_event_types_organization_id_number"),
    )
    op.create_index(
        "uq_event_types_organization_id_slug", "event_types", ["organization_id", "slug"], unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"), postgresql_where=sa.text("deleted_at IS NULL"),
    )

    op.create_table(
        "event_type_hosts",
        sa.Column("event_type_id", sa.Uuid(), nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_type_id"], ["event_types.id"], name=op.f("fk_event_type_hosts_event_type_id_event_types"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], name=op.f("fk_event_type_hosts_host_id_hosts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_type_id", "host_id", name=op.f("pk_event_type_hosts")),
    )
    op.create_index("ix_event_type_hosts_host_id", "event_type_hosts", ["host_id"], unique=False)

    op.create_table(
        "bookings",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("event_type_id", sa.Uuid(), nullable=False),
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("buffer_before_minutes", sa.Integer(), nullable=False),
        sa.Column("buffer_after_minutes", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.Column("rescheduled_from_id", sa.Uuid(), nullable=True),
        sa.Column("rescheduled_to_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_bookings_organization_id_organizations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["event_type_id"], ["event_types.id"], name=op.f("fk_bookings_event_type_id_event_types"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_bookings_call_id_calls"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], name=op.f("fk_bookings_host_id_hosts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_bookings_contact_id_contacts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["rescheduled_from_id"], ["bookings.id"], name=op.f("fk_bookings_rescheduled_from_id_bookings"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["rescheduled_to_id"], ["bookings.id"], name=op.f("fk_bookings_rescheduled_to_id_bookings"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("organization_id", "number", name="uq_bookings_organization_id_number"),
        sa.UniqueConstraint("call_id", name="uq_bookings_call_id"),
        sa.UniqueConstraint("token", name="uq_bookings_token"),
        sa.UniqueConstraint("public_id", name="uq_bookings_public_id"),
    )
    op.create_index(
        "ix_bookings_event_type_id_host_id_created_at", "bookings", ["event_type_id", "host_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_bookings_event_type_id_host_id_created_at", table_name="bookings")
    op.drop_table("bookings")
    op.drop_index("ix_event_type_hosts_host_id", table_name="event_type_hosts")
    op.drop_table("event_type_hosts")
    op.drop_index("uq_event_types_organization_id_slug", table_name="event_types")
    op.drop_table("event_types")
    op.drop_index("uq_contacts_organization_id_lower_email", table_name="contacts")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_contacts_organization_id_number", type_="unique")
        batch_op.drop_column("number")
    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_hosts_organization_id_number", type_="unique")
        batch_op.drop_column("date_overrides")
        batch_op.drop_column("number")
    op.drop_table("number_counters")
