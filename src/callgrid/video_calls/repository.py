"""Reads the video-calls API needs beside the calls core: a product with the acting host."""

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.directory.models import Host, Product


async def product_with_host(
    session: AsyncSession, organization_id: UUID, product_id: UUID, host_id: UUID
) -> tuple[Product, Host] | None:
    """The organization's product and the acting host, in one round trip."""
    row = (
        await session.execute(
            select(Product, Host)
            .outerjoin(Host, Host.id == host_id)
            .where(Product.id == product_id, Product.organization_id == organization_id)
        )
    ).first()
    return (row[0], row[1]) if row else None
