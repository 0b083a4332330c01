"""/api/v1/products and a product's subscribers."""

import pytest

from tests.directory.conftest import MISSING, assert_page, assert_problem


async def create_product(tenant, **fields) -> dict:
    r = await tenant.client.post("/api/v1/products", json={"title": "Mango", **fields})
    assert r.status_code == 201, r.text
    return r.json()


async def create_contact(tenant, email: str) -> str:
    r = await tenant.client.post("/api/v1/contacts", json={"email": email})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_create_and_get(tenant):
    product = await create_product(
        tenant, title="Introduction to Coding", price=500, description="A guide.", recurring_type="monthly", no_of_days=30
    )
    assert set(product) == {
        "id", "creator_id", "title", "price", "description", "recurring_type", "no_of_days", "created_at", "updated_at",
        "affiliate_enabled",
    }
    assert product["creator_id"] == tenant.host_id
    assert product["title"] == "Introduction to Coding"
    assert product["price"] == 500
    assert product["description"] == "A guide."
    assert product["recurring_type"] == "MONTHLY"
    assert product["no_of_days"] == 30
    r = await tenant.client.get(f"/api/v1/products/{product['id']}")
    assert r.status_code == 200
    assert r.json() == product


async def test_defaults_and_cents(tenant):
    product = await create_product(tenant, price="19.99")
    assert product["price"] == 19.99
    assert (product["description"], product["recurring_type"], product["no_of_days"]) == ("", "ONETIME", None)
    assert (await create_product(tenant))["price"] == 0


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"price": -1}, "price"),
        ({"price": "abc"}, "price"),
        ({"price": 1.005}, "price"),
        ({"price": 10**12}, "price"),
        ({"price": "NaN"}, "price"),
        ({"price": "Infinity"}, "price"),
        ({"recurring_type": "FORTNIGHTLY"}, "recurring_type"),
        ({"recurring_type": 3}, "recurring_type"),
        ({"no_of_days": -1}, "no_of_days"),
        ({"no_of_days": 1.5}, "no_of_days"),
        ({"no_of_days": 10**20}, "no_of_days"),
        ({"description": "x" * 10_001}, "description"),
        ({"creator_id": MISSING}, "creator_id"),
    ],
)
async def test_bad_product_is_400_naming_the_field(tenant, fields, field):
    assert_problem(await tenant.client.post("/api/v1/products", json={"title": "Mango", **fields}), 400, field)
    assert_page(await tenant.client.get("/api/v1/products"), total=0)


async def test_list_is_the_organizations_products(tenant, other_tenant):
    ids = [(await create_product(tenant, title=f"P{n}"))["id"] for n in range(3)]
    await create_product(other_tenant, title="Theirs")
    items = assert_page(await tenant.client.get("/api/v1/products"), total=3)
    assert [p["id"] for p in items] == ids
    assert [p["title"] for p in items] == ["P0", "P1", "P2"]


async def test_unknown_and_other_organizations_products_are_404(tenant, other_tenant):
    theirs = await create_product(other_tenant)
    contact = await create_contact(tenant, "fan@example.com")
    for product_id in (MISSING, theirs["id"]):
        assert_problem(await tenant.client.get(f"/api/v1/products/{product_id}"), 404, "product_id")
        assert_problem(await tenant.client.get(f"/api/v1/products/{product_id}/subscribers"), 404, "product_id")
        r = await tenant.client.post(f"/api/v1/products/{product_id}/subscribers", json={"contact_id": contact})
        assert_problem(r, 404, "product_id")
        r = await tenant.client.delete(f"/api/v1/products/{product_id}/subscribers/{contact}")
        assert_problem(r, 404, "product_id")


async def test_subscribe_list_and_remove(tenant):
    product = await create_product(tenant)
    a = await create_contact(tenant, "a@example.com")
    b = await create_contact(tenant, "b@example.com")
    base = f"/api/v1/products/{product['id']}/subscribers"
    r = await tenant.client.post(base, json={"contact_id": a})
    assert r.status_code == 201, r.text
    assert r.json()["id"] == a and r.json()["email"] == "a@example.com"
    await tenant.client.post(base, json={"contact_id": b})
    # Subscribing twice is harmless and lists once.
    r = await tenant.client.post(base, json={"contact_id": a})
    assert r.status_code == 201
    items = assert_page(await tenant.client.get(base), total=2)
    assert [c["id"] for c in items] == [a, b]
    r = await tenant.client.delete(f"{base}/{a}")
    assert r.status_code == 204
    assert r.content == b""
    assert [c["id"] for c in assert_page(await tenant.client.get(base), total=1)] == [b]
    # Removing again: that contact does not subscribe.
    assert_problem(await tenant.client.delete(f"{base}/{a}"), 404, "contact_id")


async def test_subscribers_are_per_product(tenant):
    one = await create_product(tenant, title="One")
    two = await create_product(tenant, title="Two")
    a = await create_contact(tenant, "a@example.com")
    await tenant.client.post(f"/api/v1/products/{one['id']}/subscribers", json={"contact_id": a})
    assert_page(await tenant.client.get(f"/api/v1/products/{two['id']}/subscribers"), total=0)
    assert_problem(await tenant.client.delete(f"/api/v1/products/{two['id']}/subscribers/{a}"), 404, "contact_id")


async def test_another_organizations_contact_cannot_subscribe(tenant, other_tenant):
    product = await create_product(tenant)
    theirs = await create_contact(other_tenant, "theirs@example.com")
    base = f"/api/v1/products/{product['id']}/subscribers"
    for contact_id in (theirs, MISSING):
        assert_problem(await tenant.client.post(base, json={"contact_id": contact_id}), 404, "contact_id")
    assert_page(await tenant.client.get(base), total=0)


@pytest.mark.parametrize("payload, field", [({}, "contact_id"), ({"contact_id": "x"}, "contact_id"), ({"contact_id": 1}, "contact_id")])
async def test_bad_subscribe_is_400(tenant, payload, field):
    product = await create_product(tenant)
    r = await tenant.client.post(f"/api/v1/products/{product['id']}/subscribers", json=payload)
    assert_problem(r, 400, field)
