"""No input, however strange, gets a 500, and every answer is one the document describes:
schemathesis drives every operation of the served OpenAPI document against a real server
process with a valid key, with valid and invalid data, and checks each response against the
document (its status code listed for the operation, its content type and body as documented,
its documented headers present)."""

import json
from contextlib import ExitStack

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import start_server
from tests.support.databases import BACKENDS, empty_database_sync

pytestmark = pytest.mark.slow  # a real server process, schemathesis

# Examples per operation (derandomized: the same cases every run), for every operation of the
# document on both databases. Valid data exercises the services, and hypothesis tries its
# boundary values (empty, huge, extreme dates) first, so a few suffice; invalid data is where
# a 500 hides, in more shapes: each negative case makes some part of the request invalid (a
# parameter, a header, the body, a field's type or bounds), and a dozen per operation still
# reach each part of it. (Were 10 and 25: the run's longest tests, over 30 s per database.)
EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 12}

# What every response must satisfy: no 5xx, and conformance to the document.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


# Each backend's server and its fuzzing in a process of its own under `pytest -n 2`.
@pytest.fixture(scope="module", params=[pytest.param(b, marks=pytest.mark.xdist_group(f"fuzz-{b}")) for b in BACKENDS])
def fuzzed(request, tmp_path_factory):
    with ExitStack() as stack:
        url = stack.enter_context(empty_database_sync(request.param, tmp_path_factory.mktemp("fuzz"), "callgrid_fuzz"))
        server = start_server(url)
        stack.callback(server.stop)
        yield _seeded(server)


def _seeded(server):
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
    return server


def _operations(server):
    loaded = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    return [result.ok() for result in loaded.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_is_documented_and_none_is_a_500(fuzzed, mode):
    headers = {"Authorization": f"Bearer {fuzzed.first_key}"}
    failures: list[str] = []
    connection = requests.Session()  # kept alive across the cases
    operations = _operations(fuzzed)
    assert len(operations) >= 20, "the whole API is in the OpenAPI document"
    for operation in operations:
        secured = bool(operation.definition.raw.get("security"))

        @settings(max_examples=EXAMPLES[mode], deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        @given(case=operation.as_strategy(generation_mode=mode))
        def probe(case):
            # The generator writes an Authorization of its own from the bearer scheme: ours instead.
            case.headers = {**(case.headers or {}), **headers}
            response = case.call(base_url=fuzzed.base_url, session=connection)
            # Negative cases may leave the key out on purpose (a 401, documented); valid ones never.
            if response.status_code == 401 and secured and mode is GenerationMode.POSITIVE:
                failures.append(f"[the valid key refused] {case.method} {case.formatted_path} -> {response.text[:200]}")
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (FailureGroup, AssertionError) as failed:
                found = failed.exceptions if isinstance(failed, FailureGroup) else [failed]
                titles = "; ".join(sorted({getattr(f, "title", type(f).__name__) for f in found}))
                body = json.dumps(case.body, default=str)[:500] if case.body is not None else None
                failures.append(f"[{titles}] {case.method} {case.formatted_path} query={case.query!r} "
                                f"headers={case.headers!r} body={body} -> {response.status_code} {response.text[:300]}")

        try:
            probe()
        except Unsatisfiable:
            pass  # e.g. an operation with nothing that can be made invalid
    connection.close()
    assert not failures, "\n".join(failures[:20])
