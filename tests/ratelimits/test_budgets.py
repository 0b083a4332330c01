"""Which budget a request spends and whose it is, read from the scope alone."""

import pytest

from callgrid.ratelimits.budgets import make_budget, spender


def scope(path: str, method: str = "GET", *, key: str | None = None, client: str = "192.0.2.1", kind: str = "http"):
    headers = [(b"authorization", key.encode())] if key is not None else []
    return {"type": kind, "path": path, "method": method, "headers": headers, "client": (client, 50000)}


@pytest.mark.parametrize(
    ("path", "method", "budget"),
    [
        ("/api/v1/hosts", "GET", "api"),
        ("/api/v1/external/workshops/video-calls", "POST", "api"),
        ("/v1/eventCalls", "POST", "api"),
        ("/v1/rooms", "POST", "api"),
        ("/v1/rooms/r1/members", "POST", "api"),
        ("/v1/rooms/r1/join-tokens", "POST", "tokens"),
        ("/v1/rooms/r1/replay-tokens", "POST", "tokens"),
        ("/api/v1/api-keys", "POST", "tokens"),
        ("/api/v1/api-keys", "GET", "api"),
    ],
)
def test_api_requests_spend_their_keys_budget(path, method, budget):
    spent = spender(scope(path, method, key="Bearer cg_one"))
    assert spent is not None and spent[0] == budget
    assert spent == spender(scope(path, method, key="cg_one", client="198.51.100.9"))  # the key alone, another address
    assert spent[1] != spender(scope(path, method, key="Bearer cg_two"))[1]
    assert "cg_one" not in spent[1]  # a digest of the key, never the key


@pytest.mark.parametrize(
    ("path", "method", "budget"),
    [
        ("/book/acme/intro", "GET", "public"),
        ("/book/acme/intro/slots", "GET", "public"),
        ("/book/acme/intro", "POST", "bookings"),
        ("/bookings/tok", "GET", "public"),
        ("/bookings/tok.ics", "GET", "public"),
        ("/bookings/tok/cancel", "POST", "bookings"),
        ("/bookings/tok/reschedule", "POST", "bookings"),
        ("/rooms/r1", "GET", "public"),
        ("/rooms/r1/replay", "GET", "public"),
        ("/v1/rooms/r1/join-info", "GET", "public"),
        ("/v1/rooms/r1/replay", "GET", "public"),
        ("/api/v1/hosts", "GET", "public"),  # no key: refused (401), paid for by the address
        ("/nowhere", "GET", "public"),
    ],
)
def test_public_requests_spend_their_addresss_budget(path, method, budget):
    assert spender(scope(path, method)) == (budget, "192.0.2.1")
    if not path.startswith(("/api/", "/nowhere")):  # pages: a key changes nothing
        assert spender(scope(path, method, key="Bearer cg_one")) == (budget, "192.0.2.1")


def test_a_rooms_socket_is_a_join():
    assert spender(scope("/v1/rooms/r1/live", kind="websocket")) == ("joins", "192.0.2.1")


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc", "/docs/assets/x.js", "/static/room.js"])
def test_probes_documents_and_files_spend_nothing(path):
    assert spender(scope(path)) is None


def test_ipv6_clients_are_counted_by_their_64():
    first = spender(scope("/book/a/b", client="2001:db8:1:2::1"))
    assert first == ("public", "2001:db8:1:2::/64")
    assert spender(scope("/book/a/b", client="2001:db8:1:2:ffff::9")) == first
    assert spender(scope("/book/a/b", client="2001:db8:1:3::1")) != first
    assert spender(scope("/book/a/b", client="::ffff:192.0.2.7")) == ("public", "192.0.2.7")


def test_budgets_are_read_in_the_limits_notation():
    budget = make_budget("api", "100/second;3000/minute")
    assert [(item.amount, item.get_expiry()) for item in budget.windows] == [(100, 1), (3000, 60)]
    assert budget.policy == b"100;w=1, 3000;w=60"
    assert budget.keys("k") == [(item.key_for("k"), item.get_expiry()) for item in budget.windows]
    assert make_budget("api", "") is None
