"""/api/v1/contacts: create, list, get."""

import pytest

from tests.directory.conftest import MISSING, assert_page, assert_problem


async def test_create_and_get(tenant):
    r = await tenant.client.post(
        "/api/v1/contacts", json={"email": "Fan@Example.com", "phone": "+1 415 555 0123", "first_name": "Ada", "last_name": "L"}
    )
    assert r.status_code == 201, r.text
    contact = r.json()
    assert set(contact) == {"id", "number", "email", "phone", "first_name", "last_name", "created_at"}
    assert contact["email"] == "Fan@example.com"
    assert contact["phone"] == "+14155550123"  # E.164
    assert (contact["first_name"], contact["last_name"]) == ("Ada", "L")
    r = await tenant.client.get(f"/api/v1/contacts/{contact['id']}")
    assert r.status_code == 200
    assert r.json() == contact


async def test_email_or_phone_alone_is_enough(tenant):
    r = await tenant.client.post("/api/v1/contacts", json={"email": "a@example.com"})
    assert r.status_code == 201
    assert (r.json()["phone"], r.json()["first_name"], r.json()["last_name"]) == (None, "", "")
    r = await tenant.client.post("/api/v1/contacts", json={"phone": "+919876543210"})
    assert r.status_code == 201
    assert (r.json()["email"], r.json()["phone"]) == (None, "+919876543210")


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"email": "nope"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "+1 000 000 0000"}, "phone"),
        ({"email": "a@example.com", "first_name": "x" * 256}, "first_name"),
        ({"email": "a@example.com", "last_name": 7}, "last_name"),
        ({"email": "a@example.com", "nickname": "x"}, "nickname"),
    ],
)
async def test_bad_contact_is_400_naming_the_field(tenant, payload, field):
    assert_problem(await tenant.client.post("/api/v1/contacts", json=payload), 400, field)
    assert_page(await tenant.client.get("/api/v1/contacts"), total=0)


async def test_a_contact_needs_an_email_or_a_phone(tenant):
    data = assert_problem(await tenant.client.post("/api/v1/contacts", json={"first_name": "Ghost"}), 400)
    assert "email" in data["detail"] and "phone" in data["detail"]


async def test_list_in_creation_order(tenant, other_tenant):
    ids = []
    for n in range(3):
        r = await tenant.client.post("/api/v1/contacts", json={"email": f"c{n}@example.com"})
        ids.append(r.json()["id"])
    await other_tenant.client.post("/api/v1/contacts", json={"email": "theirs@example.com"})
    items = assert_page(await tenant.client.get("/api/v1/contacts"), total=3)
    assert [c["id"] for c in items] == ids
    items = assert_page(await tenant.client.get("/api/v1/contacts", params={"page_size": 2, "page": 2}), total=3, max_page=2)
    assert [c["id"] for c in items] == ids[2:]


async def test_unknown_and_other_organizations_contacts_are_404(tenant, other_tenant):
    r = await other_tenant.client.post("/api/v1/contacts", json={"email": "theirs@example.com"})
    for contact_id in (MISSING, r.json()["id"]):
        assert_problem(await tenant.client.get(f"/api/v1/contacts/{contact_id}"), 404, "contact_id")
    assert_problem(await tenant.client.get("/api/v1/contacts/12"), 400, "contact_id")


async def test_emails_are_unique_ignoring_case_and_numbers_count(tenant, other_tenant):
    first = await tenant.client.post("/api/v1/contacts", json={"email": "Sam@Example.com"})
    assert first.status_code == 201, first.text
    assert first.json()["number"] == 1
    r = await tenant.client.post("/api/v1/contacts", json={"email": "sam@example.COM", "first_name": "Twin"})
    assert_problem(r, 409, "email")
    assert r.json()["contact_id"] == first.json()["id"]
    assert_page(await tenant.client.get("/api/v1/contacts"), total=1)
    second = await tenant.client.post("/api/v1/contacts", json={"phone": "+919876543210"})
    assert second.json()["number"] == 2
    # Another organization counts on its own and may have the same email.
    r = await other_tenant.client.post("/api/v1/contacts", json={"email": "sam@example.com"})
    assert (r.status_code, r.json()["number"]) == (201, 1)
