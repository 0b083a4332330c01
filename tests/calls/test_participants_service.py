"""callgrid.calls.participants called directly, on a real migrated database (both backends), in
a transaction rolled back after each test: changes are all or nothing, refusals say why."""

from datetime import timedelta
from uuid import uuid4

import pytest
from sqlalchemy import select

from callgrid.calls import participants
from callgrid.calls.models import Call, CallKind, Participant
from callgrid.calls.participants import NewParticipant, ParticipantError, Problem
from tests.support.rows import add_organization
from tests.support.time import NOW

LATER = NOW + timedelta(minutes=10)


async def new_call(session, organization_id, title: str = "Consultation") -> Call:
    call = Call(organization_id=organization_id, host_id=None, kind=CallKind.APPOINTMENT, title=title,
                starts_at=NOW + timedelta(days=1), ends_at=NOW + timedelta(days=1, hours=1), created_at=NOW, updated_at=NOW)
    session.add(call)
    await session.flush()
    return call


@pytest.fixture
async def call(service_session) -> Call:
    organization, _host = await add_organization(service_session)
    return await new_call(service_session, organization.id)


async def present(session, call: Call) -> list[tuple[str, str, str | None]]:
    """(unique_id, role, display_name) of the call's participants in the database, in the order added."""
    rows = (await session.execute(participants.call_participants(call.organization_id, call.id))).scalars().all()
    return [(p.unique_id, p.role, p.display_name) for p in rows]


def people(*unique_ids: str, role: str = "participant") -> list[NewParticipant]:
    return [NewParticipant(unique_id=u, role=role) for u in unique_ids]


async def test_add_writes_every_participant_and_touches_the_call(service_session, call):
    added = await participants.add(service_session, call, [NewParticipant("host@example.com", "moderator", "Host"),
                                                            *people("a@example.com", "b@example.com")], now=LATER)
    assert [p.unique_id for p in added] == ["host@example.com", "a@example.com", "b@example.com"]
    assert await present(service_session, call) == [
        ("host@example.com", "moderator", "Host"), ("a@example.com", "participant", None), ("b@example.com", "participant", None),
    ]
    assert all(p.organization_id == call.organization_id and p.created_at == LATER for p in added)
    assert call.updated_at == LATER
    assert await participants.count(service_session, call.id) == 3


async def test_add_refuses_a_unique_id_repeated_in_the_list_and_adds_none(service_session, call):
    with pytest.raises(ParticipantError) as caught:
        await participants.add(service_session, call, people("a", "b", "c", "b"), now=LATER)
    error = caught.value
    assert (error.problem, error.value, error.index, error.first, error.attribute) == (Problem.REPEATED, "b", 3, 1, "unique_id")
    assert error.problem == "repeated" and error.field == "[3].unique_id" and error.status_code == 400
    assert await present(service_session, call) == []
    assert call.updated_at == NOW


async def test_add_refuses_one_already_present_and_adds_none_of_the_others(service_session, call):
    await participants.add(service_session, call, people("a", "b"), now=NOW)
    with pytest.raises(ParticipantError) as caught:
        await participants.add(service_session, call, people("c", "d", "a"), now=LATER)
    error = caught.value
    assert (error.problem, error.value, error.index, error.field) == (Problem.ALREADY_PRESENT, "a", 2, "[2].unique_id")
    assert error.problem == "already_present"
    assert [u for u, *_ in await present(service_session, call)] == ["a", "b"]


async def test_a_unique_id_of_another_call_is_no_obstacle(service_session, call):
    other = await new_call(service_session, call.organization_id, "Another")
    await participants.add(service_session, other, people("a"), now=NOW)
    await participants.add(service_session, call, people("a"), now=NOW)
    assert [u for u, *_ in await present(service_session, call)] == ["a"]
    assert [u for u, *_ in await present(service_session, other)] == ["a"]


async def test_add_refuses_going_over_the_limit_with_the_counts(service_session, call):
    await participants.add(service_session, call, people("a", "b"), now=NOW, max_total=3)
    with pytest.raises(ParticipantError) as caught:
        await participants.add(service_session, call, people("c", "d"), now=LATER, max_total=3)
    error = caught.value
    assert (error.problem, error.limit, error.counts, error.index, error.field) == (Problem.TOO_MANY, 3, (2, 2), None, "body")
    await participants.add(service_session, call, people("c"), now=LATER, max_total=3)  # exactly the limit
    assert [u for u, *_ in await present(service_session, call)] == ["a", "b", "c"]


async def test_remove_takes_out_exactly_those_given(service_session, call):
    a, b, c = await participants.add(service_session, call, people("a", "b", "c"), now=NOW)
    assert await participants.remove(service_session, call, [c.id, a.id], now=LATER, keep_at_least=1) == 2
    assert [u for u, *_ in await present(service_session, call)] == ["b"]
    assert call.updated_at == LATER


async def test_remove_refuses_an_id_that_is_not_a_participant_of_this_call_and_removes_none(service_session, call):
    a, b = await participants.add(service_session, call, people("a", "b"), now=NOW)
    other = await new_call(service_session, (await add_organization(service_session, "Globex"))[0].id, "Theirs")
    (theirs,) = await participants.add(service_session, other, people("x"), now=NOW)
    for stranger in (theirs.id, uuid4()):
        with pytest.raises(ParticipantError) as caught:
            await participants.remove(service_session, call, [a.id, stranger], now=LATER)
        error = caught.value
        assert (error.problem, error.value, error.index, error.field) == (Problem.NOT_PRESENT, stranger, 1, "[1].id")
    assert [u for u, *_ in await present(service_session, call)] == ["a", "b"]
    assert [u for u, *_ in await present(service_session, other)] == ["x"]


async def test_remove_refuses_a_repeated_id_and_leaving_too_few(service_session, call):
    a, b = await participants.add(service_session, call, people("a", "b"), now=NOW)
    with pytest.raises(ParticipantError) as repeated:
        await participants.remove(service_session, call, [b.id, a.id, b.id], now=LATER)
    assert (repeated.value.problem, repeated.value.index, repeated.value.first, repeated.value.field) == (
        Problem.REPEATED, 2, 0, "[2].id")
    with pytest.raises(ParticipantError) as too_few:
        await participants.remove(service_session, call, [a.id, b.id], now=LATER, keep_at_least=1)
    assert (too_few.value.problem, too_few.value.limit, too_few.value.counts) == (Problem.TOO_FEW, 1, (2, 2))
    assert too_few.value.problem == "too_few"
    assert [u for u, *_ in await present(service_session, call)] == ["a", "b"]
    assert call.updated_at == NOW


async def test_update_changes_what_differs_and_reports_whether_anything_did(service_session, call):
    (a,) = await participants.add(service_session, call, [NewParticipant("a", "participant", "Ann")], now=NOW)
    assert await participants.update(service_session, call, a, now=LATER, display_name="Ann", role="participant") is False
    assert (a.updated_at, call.updated_at) == (NOW, NOW)
    assert await participants.update(service_session, call, a, now=LATER, role="moderator") is True
    later_still = LATER + timedelta(minutes=1)
    assert await participants.update(service_session, call, a, now=later_still, display_name=None) is True
    row = (await service_session.execute(
        select(Participant.role, Participant.display_name, Participant.updated_at)
        .where(Participant.id == a.id).execution_options(populate_existing=True))).one()
    assert tuple(row) == ("moderator", None, later_still)
    assert call.updated_at == later_still
