"""The key rows: one per (API key, key), an answer stored with them, expired rows replaced and
purged. On each database, through the request's kind of write session."""

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from callgrid.app import create_app
from callgrid.db.session import write_session
from callgrid.idempotency import repository
from callgrid.idempotency.models import IdempotencyKey
from callgrid.tenancy.models import ApiKey
from tests.support.tenants import add_key

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


async def _key_ids(app, tenant) -> list[UUID]:
    async with app.state.database.read() as session:
        return list((await session.execute(
            select(ApiKey.id).where(ApiKey.organization_id == UUID(tenant.organization_id)).order_by(ApiKey.created_at)
        )).scalars())


async def _claim(app, api_key_id, key, *, fingerprint="f" * 64, now=T0, replace_expired=False, answer=True) -> UUID:
    async with write_session(app.state.database) as session:
        row_id = await repository.claim(
            session, api_key_id=api_key_id, key=key, fingerprint=fingerprint, now=now, replace_expired=replace_expired
        )
        if answer:
            await repository.answer(
                session, row_id, status_code=201, body=b'{"id": "x"}', content_type="application/json",
                headers=[("location", "/things/x")],
            )
        await session.commit()
    return row_id


async def test_a_claimed_key_is_found_with_its_answer(app, tenant):
    (api_key_id,) = await _key_ids(app, tenant)
    assert await repository.find(app.state.database.engine, api_key_id, "k-1") is None
    row_id = await _claim(app, api_key_id, "k-1")
    stored = await repository.find(app.state.database.engine, api_key_id, "k-1")
    assert stored == repository.Stored(
        row_id, "f" * 64, 201, b'{"id": "x"}', "application/json", [("location", "/things/x")], T0
    )
    assert not stored.expired(T0 + timedelta(hours=23, minutes=59))
    assert stored.expired(T0 + timedelta(hours=24))


async def test_a_key_is_taken_once_per_api_key(app, tenant):
    await add_key(app, tenant)
    first, second = await _key_ids(app, tenant)
    await _claim(app, first, "same")
    with pytest.raises(IntegrityError):
        await _claim(app, first, "same")
    await _claim(app, second, "same")  # another API key's keys are its own
    assert (await repository.find(app.state.database.engine, second, "same")).status_code == 201


async def test_a_released_or_rolled_back_claim_leaves_no_row(app, tenant):
    (api_key_id,) = await _key_ids(app, tenant)
    async with write_session(app.state.database) as session:
        await repository.claim(session, api_key_id=api_key_id, key="gone", fingerprint="a" * 64, now=T0, replace_expired=False)
        await session.rollback()
    async with write_session(app.state.database) as session:
        row_id = await repository.claim(session, api_key_id=api_key_id, key="gone", fingerprint="a" * 64, now=T0, replace_expired=False)
        await repository.release(session, row_id)
        await session.commit()
    assert await repository.find(app.state.database.engine, api_key_id, "gone") is None


async def test_an_expired_row_is_replaced(app, tenant):
    (api_key_id,) = await _key_ids(app, tenant)
    await _claim(app, api_key_id, "old", fingerprint="1" * 64)
    later = T0 + timedelta(hours=25)
    with pytest.raises(IntegrityError):  # without replace_expired the old row stands in the way
        await _claim(app, api_key_id, "old", fingerprint="2" * 64, now=later)
    row_id = await _claim(app, api_key_id, "old", fingerprint="2" * 64, now=later, replace_expired=True)
    stored = await repository.find(app.state.database.engine, api_key_id, "old")
    assert (stored.id, stored.fingerprint, stored.created_at) == (row_id, "2" * 64, later)


async def test_a_fresh_row_is_not_replaced_as_expired(app, tenant):
    (api_key_id,) = await _key_ids(app, tenant)
    await _claim(app, api_key_id, "fresh")
    with pytest.raises(IntegrityError):
        await _claim(app, api_key_id, "fresh", now=T0 + timedelta(hours=23), replace_expired=True)


async def test_purge_deletes_only_rows_past_their_24_hours(app, tenant):
    (api_key_id,) = await _key_ids(app, tenant)
    for number in range(3):
        await _claim(app, api_key_id, f"old-{number}", now=T0 - timedelta(hours=24, seconds=number + 1))
    await _claim(app, api_key_id, "young", now=T0 - timedelta(hours=23))
    assert await repository.purge(app.state.database, T0) == 3
    assert await repository.purge(app.state.database, T0) == 0
    async with app.state.database.read() as session:
        keys = (await session.execute(select(IdempotencyKey.key))).scalars().all()
        assert keys == ["young"]
        assert (await session.execute(select(func.count()).select_from(IdempotencyKey))).scalar_one() == 1


async def test_rows_go_with_their_api_key(app, tenant):
    (api_key_id,) = await _key_ids(app, tenant)
    await _claim(app, api_key_id, "k")
    async with write_session(app.state.database) as session:
        await session.delete(await session.get(ApiKey, api_key_id))
        await session.commit()
    assert await repository.find(app.state.database.engine, api_key_id, "k") is None


async def test_a_server_purges_expired_keys_periodically(app, tenant, settings, clock):
    """Each server process deletes expired keys with its periodic planner statistics."""
    (api_key_id,) = await _key_ids(app, tenant)
    await _claim(app, api_key_id, "stale", now=clock() - timedelta(hours=30))
    await _claim(app, api_key_id, "fresh", now=clock() - timedelta(hours=1))
    server = create_app(settings.model_copy(update={"analyze_interval_seconds": 0.05}), clock=clock)
    async with server.router.lifespan_context(server):
        async with asyncio.timeout(30):
            while await repository.find(app.state.database.engine, api_key_id, "stale") is not None:
                await asyncio.sleep(0.05)
    assert await repository.find(app.state.database.engine, api_key_id, "fresh") is not None
