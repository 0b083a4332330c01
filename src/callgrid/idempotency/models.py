from datetime import datetime
from uuid import UUID

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callgrid.db.base import Base, IdMixin, UTCDateTime, utcnow
from callgrid.db.encrypted import EncryptedString


class IdempotencyKey(IdMixin, Base):
    """One `Idempotency-Key` of one API key: the request it was first used for (a fingerprint)
    and, once that request's transaction committed, its answer. Written in the same
    transaction as what the request created, so a row with an answer means the object exists."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("api_key_id", "key", name="uq_idempotency_keys_api_key_id_key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    api_key_id: Mapped[UUID] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # sha256 (hex) of the method, path, query string and body.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    # Encrypted: answers hold secrets shown once (an API key, a webhook's signing secret, a join
    # token). The body's bytes as latin-1 text (one character per byte: any body goes through).
    body: Mapped[str | None] = mapped_column(EncryptedString(), default=None)
    content_type: Mapped[str | None] = mapped_column(String(255), default=None)
    # The other headers replayed with the answer, as JSON ([[name, value], ...]): Location when there is one.
    headers: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
