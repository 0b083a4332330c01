"""No input, however strange, gets a 500: schemathesis drives every operation of the served
OpenAPI document against a real server process, with valid and invalid data."""

import asyncio
import json
import uuid

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from sqlalchemy.engine import make_url

from tests.conftest import BACKENDS, POSTGRES_URL, _admin, _asyncpg_url
from tests.e2e.conftest import start_server
from tests.processes import stop_process


@pytest.fixture(scope="module", params=BACKENDS)
def fuzzed(request, tmp_path_factory):
    if request.param == "sqlite":
        url, name = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}", None
    else:
        name = f"callgrid_fuzz_{uuid.uuid4().hex[:12]}"
        asyncio.run(_admin(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
        url = make_url(_asyncpg_url(POSTGRES_URL)).set(database=name).render_as_string(hide_password=False)
    server = start_server(url)
    # Real ids for the generator to stumble on: a product, a contact and a call.
    headers = {"Authorization": f"Bearer {server.first_key}"}
    with httpx.Client(base_url=server.base_url, headers=headers) as client:
        product = client.post("/api/v1/products", json={"title": "Fuzzed"}).json()
        client.post("/api/v1/contacts", json={"email": "fuzz@example.com"})
        client.post(
            "/api/v1/external/workshops/video-calls",
            json={"title": "t", "mango": product["id"], "startDate": "2099-01-01", "fromTime": "10:00",
                  "timezoneName": "UTC", "duration": 30},
        )
    yield server
    stop_process(server.process)
    if name:
        asyncio.run(_admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _operations(server):
    loaded = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    return [result.ok() for result in loaded.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_gets_a_500(fuzzed, mode):
    headers = {"Authorization": f"Bearer {fuzzed.first_key}"}
    failures: list[str] = []
    operations = _operations(fuzzed)
    assert len(operations) >= 20, "the whole API is in the OpenAPI document"
    for operation in operations:

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
        @given(case=operation.as_strategy(generation_mode=mode))
        def probe(case):
            response = case.call(base_url=fuzzed.base_url, headers=headers)
            if response.status_code >= 500:
                body = json.dumps(case.body, default=str)[:500] if case.body is not None else None
                failures.append(f"{case.method} {case.formatted_path} query={case.query!r} body={body} -> "
                                f"{response.status_code} {response.text[:200]}")

        try:
            probe()
        except Unsatisfiable:
            pass  # e.g. an operation with nothing that can be made invalid
    assert not failures, "\n".join(failures[:20])
