"""Participants: list, retrieve, update, bulk add and bulk remove (all or none)."""

import asyncio

import pytest

from tests.appointments.conftest import BASE, MISSING, assert_problem, create, detail, events, person, table_counts


@pytest.fixture
async def appointment(tenant) -> dict:
    return await create(
        tenant,
        participants=[
            person("admin@example.com", "moderator", "Admin User"),
            person("user1@example.com", "participant", "User One"),
            person("user2@example.com", "participant", None),
        ],
    )


async def test_list_participants_is_paged_in_the_order_added(tenant, appointment):
    a = f"{BASE}/{appointment['id']}"
    r = await tenant.client.get(f"{a}/participants/")
    assert r.status_code == 200
    assert r.json() == {"count": 3, "next": None, "previous": None, "results": appointment["participants"]}
    r = await tenant.client.get(f"{a}/participants/", params={"page_size": 2})
    assert r.json() == {
        "count": 3,
        "next": f"http://callgrid.test{a}/participants/?page_size=2&page=2",
        "previous": None,
        "results": appointment["participants"][:2],
    }
    r = await tenant.client.get(r.json()["next"])
    assert r.json() == {
        "count": 3,
        "next": None,
        "previous": f"http://callgrid.test{a}/participants/?page_size=2&page=1",
        "results": appointment["participants"][2:],
    }
    assert_problem(await tenant.client.get(f"{a}/participants/", params={"page": 3, "page_size": 2}), 404, "page")
    assert_problem(await tenant.client.get(f"{a}/participants/", params={"page": 0}), 400, "page")
    assert_problem(await tenant.client.get(f"{a}/participants/", params={"page_size": 101}), 400, "page_size")


async def test_retrieve_a_participant(tenant, appointment):
    a = f"{BASE}/{appointment['id']}"
    for participant in appointment["participants"]:
        r = await tenant.client.get(f"{a}/participants/{participant['id']}/")
        assert r.status_code == 200
        assert r.json() == participant


async def test_a_participant_of_another_appointment_is_a_404(tenant, appointment):
    other = await create(tenant)
    theirs = other["participants"][0]["id"]
    a = f"{BASE}/{appointment['id']}"
    for bad in (theirs, MISSING, "nope"):
        assert_problem(await tenant.client.get(f"{a}/participants/{bad}/"), 404, "participant_id", bad)
        r = await tenant.client.patch(f"{a}/participants/{bad}/", json={"display_name": "x"})
        assert_problem(r, 404, "participant_id", bad)
    assert await detail(tenant, other["id"]) == other
    # A participant id under an appointment that does not exist: the appointment is what is missing.
    assert_problem(await tenant.client.get(f"{BASE}/{MISSING}/participants/{theirs}/"), 404, "id")
    assert_problem(await tenant.client.get(f"{BASE}/{MISSING}/participants/"), 404, "id")


async def test_update_a_participant(app, tenant, appointment):
    a = f"{BASE}/{appointment['id']}"
    user1 = appointment["participants"][1]
    r = await tenant.client.patch(f"{a}/participants/{user1['id']}/", json={"display_name": "Updated Name"})
    assert r.status_code == 200, r.text
    assert r.json() == {**user1, "display_name": "Updated Name"}
    r = await tenant.client.patch(f"{a}/participants/{user1['id']}", json={"role": "moderator"})
    assert r.json() == {**user1, "display_name": "Updated Name", "role": "moderator"}
    r = await tenant.client.patch(f"{a}/participants/{user1['id']}/", json={"display_name": None})
    assert r.json() == {**user1, "display_name": None, "role": "moderator"}
    now = await detail(tenant, appointment["id"])
    assert now["participants"][1] == r.json()
    assert now["participants"][0] == appointment["participants"][0]
    assert now["updated_at"] > appointment["updated_at"]
    sent = await events(app, tenant.organization_id)
    assert [t for t, _ in sent] == ["appointment.created"] + ["appointment.updated"] * 3
    assert sent[-1][1] == now
    # Nothing to change: the same answer, no event.
    r = await tenant.client.patch(f"{a}/participants/{user1['id']}/", json={})
    assert r.json() == now["participants"][1]
    r = await tenant.client.patch(f"{a}/participants/{user1['id']}/", json={"role": "moderator"})
    assert r.json() == now["participants"][1]
    assert len(await events(app, tenant.organization_id)) == 4


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"display_name": "x" * 61}, "display_name"),
        ({"display_name": 5}, "display_name"),
        ({"role": "host"}, "role"),
        ({"role": None}, "role"),
        ({"unique_id": "someone.else"}, "unique_id"),
        ({"id": MISSING}, "id"),
    ],
)
async def test_a_bad_participant_update_is_a_400(tenant, appointment, patch, field):
    a = f"{BASE}/{appointment['id']}"
    user1 = appointment["participants"][1]
    assert_problem(await tenant.client.patch(f"{a}/participants/{user1['id']}/", json=patch), 400, field)
    assert await detail(tenant, appointment["id"]) == appointment


async def test_add_participants_answers_the_appointment(app, tenant, appointment):
    a = f"{BASE}/{appointment['id']}"
    added = [person("user3@example.com", "participant", "User Three"), person("mod2@example.com", "moderator")]
    r = await tenant.client.post(f"{a}/add-participants/", json=added)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["participants"][:3] == appointment["participants"]
    assert [(p["unique_id"], p["role"], p["display_name"]) for p in data["participants"][3:]] == [
        ("user3@example.com", "participant", "User Three"),
        ("mod2@example.com", "moderator", None),
    ]
    assert data["updated_at"] > appointment["updated_at"]
    assert await detail(tenant, appointment["id"]) == data
    assert (await events(app, tenant.organization_id))[-1] == ("appointment.participants_added", data)


async def test_add_a_duplicate_within_the_body_is_a_400_and_nothing_is_added(app, tenant, appointment):
    a = f"{BASE}/{appointment['id']}"
    r = await tenant.client.post(f"{a}/add-participants/", json=[person("new1"), person("new2"), person("new1")])
    assert_problem(r, 400, "[2].unique_id", "new1", "more than once")
    assert await detail(tenant, appointment["id"]) == appointment
    assert [t for t, _ in await events(app, tenant.organization_id)] == ["appointment.created"]


async def test_add_one_already_present_is_a_400_and_nothing_is_added(app, tenant, appointment):
    a = f"{BASE}/{appointment['id']}"
    r = await tenant.client.post(f"{a}/add-participants/", json=[person("new1"), person("user2@example.com", "moderator")])
    assert_problem(r, 400, "[1].unique_id", "user2@example.com", "already a participant")
    assert await detail(tenant, appointment["id"]) == appointment
    assert await table_counts(app) == (1, 3)
    assert [t for t, _ in await events(app, tenant.organization_id)] == ["appointment.created"]


async def test_unique_ids_are_exact(tenant, appointment):
    # Case and surrounding text make another identifier (the API does not guess at emails).
    a = f"{BASE}/{appointment['id']}"
    r = await tenant.client.post(f"{a}/add-participants/", json=[person("Admin@Example.com"), person("admin@example.com ")])
    assert r.status_code == 200, r.text
    assert [p["unique_id"] for p in r.json()["participants"]][-2:] == ["Admin@Example.com", "admin@example.com "]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "body"),
        ({"role": "participant", "unique_id": "x"}, "body"),
        ([{"role": "participant"}], "[0].unique_id"),
        ([person("ok"), {"role": "guest", "unique_id": "x"}], "[1].role"),
        ([person("x" * 256)], "[0].unique_id"),
        ([person("x", display_name="y" * 61)], "[0].display_name"),
        ([{**person("x"), "extra": 1}], "[0].extra"),
        (None, "body"),
        ("participants", "body"),
    ],
)
async def test_a_bad_add_body_is_a_400_and_nothing_is_added(app, tenant, appointment, payload, field):
    r = await tenant.client.post(f"{BASE}/{appointment['id']}/add-participants/", json=payload)
    assert_problem(r, 400, field)
    assert await detail(tenant, appointment["id"]) == appointment


async def test_add_is_bounded_at_500_per_request(app, tenant, appointment):
    a = f"{BASE}/{appointment['id']}"
    r = await tenant.client.post(f"{a}/add-participants/", json=[person(f"u{n}") for n in range(501)])
    assert_problem(r, 400, "body", "500")
    assert await detail(tenant, appointment["id"]) == appointment
    r = await tenant.client.post(f"{a}/add-participants/", json=[person(f"u{n}") for n in range(500)])
    assert r.status_code == 200
    assert len(r.json()["participants"]) == 503


async def test_an_appointment_holds_at_most_1000_participants(tenant, appointment):
    a = f"{BASE}/{appointment['id']}"
    for batch in range(2):
        r = await tenant.client.post(f"{a}/add-participants/", json=[person(f"u{batch}-{n}") for n in range(498)])
        assert r.status_code == 200, r.text
    full = await detail(tenant, appointment["id"])
    assert len(full["participants"]) == 999
    r = await tenant.client.post(f"{a}/add-participants/", json=[person("one-more"), person("too-many")])
    assert_problem(r, 400, "body", "1000")
    assert await detail(tenant, appointment["id"]) == full
    r = await tenant.client.post(f"{a}/add-participants/", json=[person("one-more")])
    assert r.status_code == 200
    assert len(r.json()["participants"]) == 1000


async def test_concurrent_adds_of_one_unique_id_let_exactly_one_in(app, tenant, appointment):
    a = f"{BASE}/{appointment['id']}"
    answers = await asyncio.gather(
        *(tenant.client.post(f"{a}/add-participants/", json=[person(f"solo{n}"), person("same")]) for n in range(8))
    )
    assert sorted(r.status_code for r in answers) == [200] + [400] * 7
    for r in answers:
        if r.status_code == 400:
            assert_problem(r, 400, "[1].unique_id", "already a participant")
    final = await detail(tenant, appointment["id"])
    assert [p["unique_id"] for p in final["participants"]].count("same") == 1
    assert len(final["participants"]) == 5
    assert [t for t, _ in await events(app, tenant.organization_id)].count("appointment.participants_added") == 1


async def test_remove_participants_answers_the_appointment(app, tenant, appointment):
    a = f"{BASE}/{appointment['id']}"
    admin, user1, user2 = appointment["participants"]
    r = await tenant.client.post(f"{a}/remove-participants/", json=[{"id": user2["id"]}, {"id": admin["id"]}])
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["participants"] == [user1]
    assert data["updated_at"] > appointment["updated_at"]
    assert await detail(tenant, appointment["id"]) == data
    assert (await events(app, tenant.organization_id))[-1] == ("appointment.participants_removed", data)
    assert_problem(await tenant.client.get(f"{a}/participants/{admin['id']}/"), 404, "participant_id")
    # A removed unique_id can be added back (as a new participant).
    r = await tenant.client.post(f"{a}/add-participants/", json=[person("admin@example.com", "moderator")])
    assert r.status_code == 200
    assert r.json()["participants"][-1]["id"] != admin["id"]


async def test_remove_an_unknown_id_is_a_400_and_nothing_is_removed(app, tenant, appointment):
    other = await create(tenant)
    a = f"{BASE}/{appointment['id']}"
    keep = appointment["participants"][1]["id"]
    for stranger in (MISSING, other["participants"][0]["id"]):
        r = await tenant.client.post(f"{a}/remove-participants/", json=[{"id": keep}, {"id": stranger}])
        assert_problem(r, 400, "[1].id", stranger, "not a participant")
    assert await detail(tenant, appointment["id"]) == appointment
    assert await detail(tenant, other["id"]) == other
    assert await table_counts(app) == (2, 4)
    assert [t for t, _ in await events(app, tenant.organization_id)] == ["appointment.created"] * 2


async def test_remove_the_same_id_twice_in_one_body_is_a_400(tenant, appointment):
    pid = appointment["participants"][1]["id"]
    r = await tenant.client.post(f"{BASE}/{appointment['id']}/remove-participants/", json=[{"id": pid}, {"id": pid}])
    assert_problem(r, 400, "[1].id", "more than once")
    assert await detail(tenant, appointment["id"]) == appointment


async def test_removing_every_participant_is_refused(tenant, appointment):
    everyone = [{"id": p["id"]} for p in appointment["participants"]]
    r = await tenant.client.post(f"{BASE}/{appointment['id']}/remove-participants/", json=everyone)
    assert_problem(r, 400, "body", "at least 1")
    assert await detail(tenant, appointment["id"]) == appointment


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "body"),
        ([{"id": "not-a-uuid"}], "[0].id"),
        ([{}], "[0].id"),
        ([{"id": MISSING, "unique_id": "x"}], "[0].unique_id"),
        ([MISSING], "[0]"),
        ({"id": MISSING}, "body"),
        ([{"id": MISSING}] * 501, "body"),
    ],
)
async def test_a_bad_remove_body_is_a_400(tenant, appointment, payload, field):
    r = await tenant.client.post(f"{BASE}/{appointment['id']}/remove-participants/", json=payload)
    assert_problem(r, 400, field)
    assert await detail(tenant, appointment["id"]) == appointment
