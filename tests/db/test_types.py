"""UTCDateTime's SQLite text, written in one step, is the text SQLAlchemy's own formatting
wrote: what is stored already sorts and compares with it."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from callgrid.db.base import UTCDateTime

DIALECT = sqlite.dialect()
FAST = UTCDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
SQLALCHEMY = DateTime(timezone=True).dialect_impl(DIALECT).bind_processor(DIALECT)


def sqlalchemy_text(value: datetime) -> str:
    """What SQLAlchemy's SQLite DATETIME writes for the value in UTC, without its zone."""
    return SQLALCHEMY(value.astimezone(UTC).replace(tzinfo=None))


offsets = st.one_of(st.just(UTC), st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))))


@given(moment=st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)), offset=offsets)
def test_the_sqlite_text_is_sqlalchemys(moment, offset):
    value = moment.replace(tzinfo=offset)
    assert FAST(value) == sqlalchemy_text(value)
    assert len(FAST(value)) == 26  # microseconds always written, as SQLAlchemy writes them


def test_none_stays_null_and_a_naive_datetime_is_refused():
    assert FAST(None) is None
    with pytest.raises(ValueError, match="naive"):
        FAST(datetime(2030, 1, 1))
