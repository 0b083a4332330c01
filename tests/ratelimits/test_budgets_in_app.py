"""Rate limits in the app, in this process: over a budget is a 429 in the API's own shape
with `Retry-After` and the `RateLimit-*` headers; each budget and each key or address is
counted apart. Every test runs with counters in memory and, when CALLGRID_TEST_REDIS_URL is
set, in Redis (under a prefix of the test's own)."""

import os
import uuid
from contextlib import AsyncExitStack

import httpx
import pytest

from callgrid.app import create_app
from callgrid.config import Settings
from tests.support.databases import clean
from tests.support.tenants import BASE_URL, make_tenant

REDIS_URL = os.environ.get("CALLGRID_TEST_REDIS_URL")
HUGE = "100000/second"


@pytest.fixture(params=["memory", "redis"])
async def limited(request, database_urls):
    """`await limited(**budgets)`: an app of its own (its counters start empty) with those budgets."""
    if request.param == "redis" and not REDIS_URL:
        pytest.skip("CALLGRID_TEST_REDIS_URL is not set")
    url = database_urls["sqlite"]
    await clean(url)
    async with AsyncExitStack() as stack:

        async def make(**budgets: str):
            fields = {f"rate_limit_{name}": HUGE for name in ("api", "tokens", "public", "bookings", "joins")}
            fields.update({f"rate_limit_{name}": value for name, value in budgets.items()})
            if request.param == "redis":
                fields.update(redis_url=REDIS_URL, redis_prefix=f"callgrid-test-{uuid.uuid4().hex}")
            settings = Settings(
                database_url=url, public_url=BASE_URL, api_key_cache_seconds=0.0, run_embedded_worker=False,
                database_pool_size=2, rate_limits=True, **fields,
            )
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            return app

        yield make


def anonymous(app, address: str = "192.0.2.10") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url=BASE_URL)


def assert_refused(response: httpx.Response, *, limit: int, window: int, words: str) -> dict:
    """A 429 with its headers; its body (problem details unless the API has its own shape)."""
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= window
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == "0"
    assert response.headers["ratelimit-reset"] == str(retry_after)
    assert f"{limit};w={window}" in response.headers["ratelimit-policy"]
    body = response.json()
    if response.headers["content-type"] == "application/problem+json":
        assert body["type"] == "about:blank" and body["title"] == "Too Many Requests" and body["status"] == 429
        assert body["detail"].startswith(f"rate limit exceeded: at most {limit} {words}")
        assert body["detail"].endswith(f"retry in {retry_after} second{'s' if retry_after != 1 else ''}")
        assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_a_keys_budget_per_minute_then_429_and_another_key_is_untouched(limited):
    app = await limited(api=f"{HUGE};3/minute")
    acme, globex = await make_tenant(app, "Acme"), await make_tenant(app, "Globex")
    async with acme.client, globex.client:
        for remaining in (2, 1, 0):
            answer = await acme.client.get("/api/v1/hosts")
            assert answer.status_code == 200, answer.text
            assert answer.headers["ratelimit-limit"] == "3"
            assert answer.headers["ratelimit-remaining"] == str(remaining)
            assert 1 <= int(answer.headers["ratelimit-reset"]) <= 60
            assert answer.headers["ratelimit-policy"] == "100000;w=1, 3;w=60"
            assert "retry-after" not in answer.headers
        refused = await acme.client.post("/api/v1/contacts", json={"name": "Never", "email": "never@example.com"})
        assert_refused(refused, limit=3, window=60, words="requests per minute for this API key")
        # Each API in its own shape: the video-calls API's.
        refused = await acme.client.get("/api/v1/external/workshops/video-calls")
        body = assert_refused(refused, limit=3, window=60, words="")
        assert body == {
            "code": 429, "type": "Too many requests", "statusMessage": "TOO_MANY_REQUESTS", "success": False,
            "message": f"rate limit exceeded: at most 3 requests per minute for this API key; retry in {refused.headers['retry-after']} seconds",
            "requestId": refused.headers["x-request-id"],
        }

        answer = await globex.client.get("/api/v1/hosts")
        assert answer.status_code == 200 and answer.headers["ratelimit-remaining"] == "2"
    # Nothing was done by the refused create.
    async with (await make_tenant(app, "Initech")).client as initech:
        assert (await initech.get("/api/v1/contacts")).status_code == 200


async def test_a_keys_budget_per_second(limited):
    app = await limited(api="2/second;1000/minute")
    acme = await make_tenant(app, "Acme")
    async with acme.client:
        # The window begins at the first request and lasts a second: these take milliseconds.
        answers = [await acme.client.get("/api/v1/hosts") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["ratelimit-remaining"] for a in answers[:2]] == ["1", "0"]
    assert answers[0].headers["ratelimit-policy"] == "2;w=1, 1000;w=60"
    body = assert_refused(answers[2], limit=2, window=1, words="requests per second for this API key")
    assert answers[2].headers["retry-after"] == "1" and body["detail"].endswith("retry in 1 second")


async def test_token_creation_has_a_budget_of_its_own(limited):
    app = await limited(api="1000/minute", tokens="2/minute")
    acme = await make_tenant(app, "Acme")
    async with acme.client:
        created = await acme.client.post("/v1/rooms", json={"name": "Standup", "type": "open"})
        assert created.status_code in (200, 201), created.text
        room = created.json()["room"]["id"]
        for user in ("ana", "bo"):
            token = await acme.client.post(f"/v1/rooms/{room}/join-tokens", json={"user_id": user})
            assert token.status_code in (200, 201), token.text
            assert token.headers["ratelimit-policy"] == "2;w=60"
        refused = await acme.client.post(f"/v1/rooms/{room}/join-tokens", json={"user_id": "cy"})
        assert_refused(refused, limit=2, window=60, words="token creations per minute for this API key")
        # Replay tokens and API keys come out of the same budget; the rest of the API does not.
        assert (await acme.client.post(f"/v1/rooms/{room}/replay-tokens", json={})).status_code == 429
        assert (await acme.client.post("/api/v1/api-keys", json={})).status_code == 429
        answer = await acme.client.get(f"/v1/rooms/{room}")
        assert answer.status_code == 200 and answer.headers["ratelimit-policy"] == "1000;w=60"


async def test_bookings_have_a_budget_of_their_own_per_address(limited):
    app = await limited(public="1000/minute", bookings="2/minute")
    booking = {"dateTime": "2030-01-07T10:00:00Z", "name": "Ana", "email": "ana@example.com", "timeZone": "UTC"}
    async with anonymous(app) as visitor, anonymous(app, "198.51.100.7") as neighbour:
        for _ in range(2):
            answer = await visitor.post("/book/acme/intro", json=booking)
            assert answer.status_code == 404 and answer.headers["ratelimit-policy"] == "2;w=60"
        refused = await visitor.post("/bookings/some-token/cancel", json={})
        assert_refused(refused, limit=2, window=60, words="bookings per minute for this address")
        assert (await visitor.post("/bookings/some-token/reschedule", json={})).status_code == 429
        # Reading pages is another budget; another address books on.
        page = await visitor.get("/book/acme/intro")
        assert page.status_code == 404 and page.headers["ratelimit-policy"] == "1000;w=60"
        answer = await neighbour.post("/book/acme/intro", json=booking)
        assert answer.status_code == 404 and answer.headers["ratelimit-remaining"] == "1"


async def test_public_pages_are_counted_per_address(limited):
    app = await limited(public="4/minute")
    async with anonymous(app, "2001:db8:7:7::1") as visitor, anonymous(app, "2001:db8:7:7::2") as same_64:
        async with anonymous(app, "192.0.2.99") as other:
            for path in ("/book/acme/intro", "/bookings/some-token", "/rooms/r1"):
                answer = await visitor.get(path)
                assert answer.status_code in (200, 404) and "ratelimit-remaining" in answer.headers, path
            # Without a key the API refuses (401) at the address's cost.
            assert (await same_64.get("/api/v1/hosts")).status_code == 401
            refused = await visitor.get("/v1/rooms/r1/join-info")
            assert_refused(refused, limit=4, window=60, words="requests per minute for this address")
            assert (await same_64.get("/book/acme/intro/slots")).status_code == 429
            # Probes and documents are not counted.
            assert (await visitor.get("/healthz")).status_code == 200
            assert (await visitor.get("/openapi.json")).status_code == 200
            # Another address is untouched.
            answer = await other.get("/book/acme/intro")
            assert answer.status_code == 404 and answer.headers["ratelimit-remaining"] == "3"


async def test_a_429_is_what_the_openapi_document_says(limited):
    """Each API's refusal, as its operation's documented 429: the body's required fields in its
    schema's shape and every header the document lists."""
    app = await limited(api="1/minute", public="1/minute")
    document = app.openapi()
    acme = await make_tenant(app, "Acme")
    async with acme.client, anonymous(app) as visitor:
        asked = [
            (acme.client, "GET", "/api/v1/external/workshops/video-calls", "/api/v1/external/workshops/video-calls"),
            (acme.client, "GET", "/api/v1/appointments/", "/api/v1/appointments/"),
            (acme.client, "GET", "/v1/rooms", "/v1/rooms"),
            (visitor, "GET", "/book/acme/intro/slots", "/book/{organization_slug}/{slug}/slots"),
        ]
        for client, method, url, path in asked:
            for _ in range(2):
                refused = await client.request(method, url)
            assert refused.status_code == 429, (url, refused.text)
            documented = document["paths"][path][method.lower()]["responses"]["429"]
            for header in documented["headers"]:
                assert header.lower() in refused.headers, (url, header)
            (media_type, content), = documented["content"].items()
            assert refused.headers["content-type"] == media_type
            schema = document["components"]["schemas"][content["schema"]["$ref"].rpartition("/")[2]]
            body = refused.json()
            assert set(schema["required"]) <= body.keys(), (url, body)
            assert body.get("status", body.get("code")) == 429


async def test_invented_keys_spend_their_addresss_budget_and_are_then_refused(limited):
    """Every invented key has a fresh `api` budget, so a guesser never runs out of those: each
    401 spends the address's `public` budget, and once it is spent the address's requests with
    keys not seen working are refused. A key that works goes on working from there, and
    another address guesses on its own budget."""
    app = await limited(public="3/minute")
    acme = await make_tenant(app, "Acme")

    def guesser(address: str, key: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url=BASE_URL,
                                 headers={"Authorization": f"Bearer cg_guess_{key}"})

    async with acme.client:
        assert (await acme.client.get("/api/v1/hosts")).status_code == 200  # acme's key is seen working
        answers = []
        for n in range(6):
            async with guesser("192.0.2.10", str(n)) as guess:
                answers.append(await guess.get("/api/v1/hosts"))
        # 3 in the budget, a 4th spends past it (counted after its answer), then refusals.
        assert [a.status_code for a in answers] == [401, 401, 401, 401, 429, 429]
        body = assert_refused(answers[-1], limit=3, window=60, words="refused API keys per minute for this address")
        assert body["status"] == 429
        # The same address with a key that works: served.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("192.0.2.10", 40000)),
                                     base_url=BASE_URL, headers={"Authorization": f"Bearer {acme.key}"}) as office:
            assert (await office.get("/api/v1/hosts")).status_code == 200
        async with guesser("192.0.2.11", "x") as elsewhere:
            assert (await elsewhere.get("/api/v1/hosts")).status_code == 401
