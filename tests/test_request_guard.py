"""Bounds applied to every request: body size and the NUL character, which PostgreSQL cannot store."""

from sqlalchemy import func, select

from callgrid.directory.models import Product

VIDEO_CALLS = "/api/v1/external/workshops/video-calls"


async def count_products(sessionmaker) -> int:
    async with sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(Product))).scalar_one()


async def test_nul_in_a_json_string_is_refused_in_each_apis_shape(tenant, sessionmaker):
    response = await tenant.client.post(
        "/api/v1/products", content=b'{"title": "a\\u0000b"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"] == [
        {"field": "title", "message": "must not contain NUL characters or unpaired surrogates"}
    ]
    assert await count_products(sessionmaker) == 0

    response = await tenant.client.post(
        VIDEO_CALLS, content=b'{"title": "\\u0000"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and body["statusMessage"] == "BAD_REQUEST"
    assert body["message"] == "title: must not contain NUL characters or unpaired surrogates"


async def test_the_offending_string_is_named_wherever_it_is(tenant):
    response = await tenant.client.post(
        "/api/v1/appointments/",
        content=b'{"title": "ok", "participants": [{"role": "moderator", "unique_id": "a"}, '
        b'{"role": "participant", "unique_id": "\\ud800"}]}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "participants[1].unique_id"
    # A proper surrogate pair is an ordinary character.
    response = await tenant.client.post(
        "/api/v1/products", content=b'{"title": "\\ud83d\\ude00"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 201
    assert response.json()["title"] == "\U0001f600"


async def test_an_escaped_backslash_before_u0000_is_just_text(tenant):
    response = await tenant.client.post(
        "/api/v1/products", content=b'{"title": "a\\\\u0000b"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 201
    assert response.json()["title"] == "a\\u0000b"


async def test_nul_in_the_query_is_refused(tenant):
    response = await tenant.client.get("/api/v1/appointments/?participant_unique_id=a%00b")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "participant_unique_id", "message": "must not contain NUL characters or unpaired surrogates"}
    ]


async def test_bodies_over_the_limit_get_413_and_change_nothing(tenant, sessionmaker, settings):
    big = b'{"title": "x", "description": "' + b"y" * settings.max_body_bytes + b'"}'
    response = await tenant.client.post("/api/v1/products", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["errors"] == [{"field": "body", "message": f"must be at most {settings.max_body_bytes} bytes"}]

    async def streamed():
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b" " * 65536

    response = await tenant.client.post("/api/v1/products", content=streamed(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert await count_products(sessionmaker) == 0
