"""Reads the video-calls API needs beside the calls core: a product with the acting host."""

from types import SimpleNamespace
from uuid import UUID

from sqlalchemy import LABEL_STYLE_TABLENAME_PLUS_COL, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.db.sections import read_rows
from callgrid.directory.models import Host, Product

_PRODUCTS, _HOSTS = Product.__table__, Host.__table__

# Built once: building a statement costs more than running this one.
_PRODUCT_WITH_HOST = (
    select(_PRODUCTS, _HOSTS)
    .select_from(_PRODUCTS)
    .outerjoin(_HOSTS, _HOSTS.c.id == bindparam("host_id", type_=_HOSTS.c.id.type))
    .where(
        _PRODUCTS.c.id == bindparam("product_id"),
        _PRODUCTS.c.organization_id == bindparam("organization_id"),
        _PRODUCTS.c.deleted_at.is_(None),  # a deleted product is kept for its calls, not chosen for new ones
    )
    .set_label_style(LABEL_STYLE_TABLENAME_PLUS_COL)
)
_PRODUCT_KEYS = tuple(column.key for column in _PRODUCTS.c)
_HOST_KEYS = tuple(column.key for column in _HOSTS.c)


async def product_with_host(
    session: AsyncSession, organization_id: UUID, product_id: UUID, host_id: UUID
) -> tuple[SimpleNamespace, SimpleNamespace] | None:
    """The organization's product and the acting host, their columns as attributes (for
    rendering), in one round trip."""
    rows = await read_rows(
        session, _PRODUCT_WITH_HOST, {"product_id": product_id, "organization_id": organization_id, "host_id": host_id}
    )
    if not rows:
        return None
    row = rows[0]
    split = len(_PRODUCT_KEYS)
    # Values to render, not objects to change: no ORM instances on the hot path.
    product = SimpleNamespace(**dict(zip(_PRODUCT_KEYS, row[:split])))
    host = SimpleNamespace(**dict(zip(_HOST_KEYS, row[split:])))
    return product, host
