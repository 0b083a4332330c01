"""Pagination: one way to count and fetch a page; each API writes its own page shape."""

from collections.abc import Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.errors import NotFound

T = TypeVar("T")


class PageParams(BaseModel):
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def _page_params(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="page number, from 1")] = 1,
    page_size: Annotated[int, Query(ge=1, le=100, description="items per page")] = 20,
) -> PageParams:
    return PageParams(page=page, page_size=page_size)


PageQuery = Annotated[PageParams, Depends(_page_params)]


def offset_of(page: int, size: int) -> int:
    return (page - 1) * size


def max_page(total: int, size: int) -> int:
    return max(1, -(-total // size))


def past_the_end(page: int) -> NotFound:
    return NotFound(f"page {page} is past the last page", field="page")


class Pagination(BaseModel):
    total_count: int
    max_page: int


class Page(BaseModel, Generic[T]):
    """The management API's one list shape."""

    items: list[T]
    pagination: Pagination

    @classmethod
    def of(cls, items: list[T], total: int, params: PageParams) -> "Page[T]":
        return cls(items=items, pagination=Pagination(total_count=total, max_page=max_page(total, params.page_size)))


async def count(session: AsyncSession, statement: Select) -> int:
    """How many rows `statement` matches in all."""
    return (await session.execute(select(func.count()).select_from(statement.order_by(None).subquery()))).scalar_one()


async def fetch_page(session: AsyncSession, statement: Select, offset: int, limit: int) -> tuple[Sequence, int]:
    """One page of `statement`'s rows and the number of rows it matches in all."""
    total = await count(session, statement)
    if total <= offset:
        return [], total
    rows = (await session.execute(statement.offset(offset).limit(limit))).scalars().all()
    return rows, total
