from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callgrid.db.base import Base, IdMixin, TimestampMixin, UTCDateTime


class Organization(IdMixin, TimestampMixin, Base):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(255))
    slug: Mapped[str] = mapped_column(String(64), unique=True)


class KeyRole(StrEnum):
    """What a key may do: `admin` the whole organization, `host` what its own host may (docs/roles.md)."""

    ADMIN = "admin"
    HOST = "host"


class ApiKey(IdMixin, TimestampMixin, Base):
    __tablename__ = "api_keys"

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    host_id: Mapped[UUID] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16), default=KeyRole.HOST.value, server_default=KeyRole.HOST.value)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Written at most once a minute per key (callgrid.tenancy.usage), off the request's path.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class ApiKeyChanges(Base):
    """One row, whose `version` moves on every revocation or deletion of an API key: on SQLite,
    triggers on `api_keys` move it (migration 20261206_api_key_changes), and a process that
    sees the database change reads this row alone to know whether its key cache still holds
    (callgrid.tenancy.revocations). PostgreSQL tells the processes through NOTIFY instead."""

    __tablename__ = "api_key_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer)


class WhitelabelDomain(IdMixin, TimestampMixin, Base):
    """A host name (e.g. `calls.example.com`) under which an organization serves its pages."""

    __tablename__ = "whitelabel_domains"
    # One organization per host name (stored in lower case): it brands that organization's links.
    __table_args__ = (Index("uq_whitelabel_domains_hostname", "hostname", unique=True),)

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    hostname: Mapped[str] = mapped_column(String(253))


class NumberCounter(Base):
    """The last number handed out per organization and kind of object (hosts, contacts, event
    types, bookings): see `callgrid.tenancy.numbers`."""

    __tablename__ = "number_counters"

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)
