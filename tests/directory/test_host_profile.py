"""Hosts' profile (what the video-calls API's `creator` shows) and products' `affiliate_enabled`."""

import re

import pytest

from tests.directory.conftest import assert_problem

MILLIS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PROFILE = {
    "user_slug": "priya-k", "phone": "+91 98765 43210", "profile_pic_url": "https://pics.example.com/priya.jpg",
    "country": "India", "currency": "inr",
}


async def test_a_host_has_a_profile(tenant):
    r = await tenant.client.post("/api/v1/hosts", json={"name": "Priya K", "email": "priya@example.com", **PROFILE})
    assert r.status_code == 201, r.text
    host = r.json()
    assert {k: host[k] for k in (*PROFILE, "dial_code", "is_deactivated")} == {
        "user_slug": "priya-k", "phone": "+919876543210", "profile_pic_url": "https://pics.example.com/priya.jpg",
        "country": "India", "currency": "INR", "dial_code": "+91", "is_deactivated": False,
    }
    assert MILLIS_Z.match(host["created_at"]) and MILLIS_Z.match(host["updated_at"])
    # A new phone brings its code; null clears a field; the slug defaults to the name's.
    r = await tenant.client.patch(f"/api/v1/hosts/{host['id']}", json={"phone": "+1 415 555 0123", "country": None, "is_deactivated": True})
    assert r.status_code == 200, r.text
    assert (r.json()["phone"], r.json()["dial_code"], r.json()["country"], r.json()["is_deactivated"]) == ("+14155550123", "+1", None, True)
    r = await tenant.client.patch(f"/api/v1/hosts/{host['id']}", json={"phone": None})
    assert (r.json()["phone"], r.json()["dial_code"], r.json()["currency"]) == (None, None, "INR")
    plain = (await tenant.client.post("/api/v1/hosts", json={"name": "Élodie  O'Brien", "email": "e@example.com"})).json()
    assert (plain["user_slug"], plain["phone"], plain["currency"], plain["is_deactivated"]) == ("lodie-o-brien", None, None, False)


@pytest.mark.parametrize(
    "field, value",
    [
        ("user_slug", "Not A Slug"),
        ("user_slug", "-x"),
        ("phone", "12345"),
        ("profile_pic_url", "ftp://pics.example.com/a.jpg"),
        ("profile_pic_url", "not a url"),
        ("currency", "rupees"),
        ("country", ""),
        ("is_deactivated", "yes"),
    ],
)
async def test_bad_profile_fields_are_400_naming_them(tenant, field, value):
    r = await tenant.client.post("/api/v1/hosts", json={"name": "X", "email": "x@example.com", field: value})
    assert_problem(r, 400, field)


async def test_products_say_whether_affiliates_are_on(tenant):
    off = (await tenant.client.post("/api/v1/products", json={"title": "Off"})).json()
    on = (await tenant.client.post("/api/v1/products", json={"title": "On", "affiliate_enabled": True})).json()
    assert (off["affiliate_enabled"], on["affiliate_enabled"]) == (False, True)
    assert MILLIS_Z.match(on["created_at"])
    assert_problem(await tenant.client.post("/api/v1/products", json={"title": "x", "affiliate_enabled": "no"}), 400, "affiliate_enabled")
