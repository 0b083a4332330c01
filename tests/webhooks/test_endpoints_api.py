"""The management API: /api/v1/webhook-endpoints."""

import ipaddress
import socket
import uuid

import httpx
import pytest

from callgrid.app import create_app
from tests.support.problems import assert_problem
from tests.webhooks.conftest import create_endpoint

BASE = "/api/v1/webhook-endpoints"
URL = "https://hooks.example.com/callgrid"


@pytest.fixture
def embedded_worker() -> bool:
    """The management API alone: nothing is delivered here, so these tests share one app."""
    return False


@pytest.fixture
async def strict(app, tenant):
    """The same service with the default rule: private, loopback and link-local targets refused."""
    settings = app.state.settings.model_copy(update={"webhook_allow_private_targets": False, "run_embedded_worker": False})
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application),
            base_url="http://callgrid.test",
            headers={"Authorization": f"Bearer {tenant.key}"},
        ) as client:
            yield client


async def test_create_shows_the_secret_once_and_reads_never(tenant):
    created = await create_endpoint(tenant, URL, description="CRM", events=["video_call.created"], headers={"X-Token": "t"})
    assert created["secret"].startswith("whsec_")
    assert created["url"] == URL
    assert created["events"] == ["video_call.created"]
    assert created["header_names"] == ["X-Token"] and "headers" not in created  # the values are write-only
    assert created["description"] == "CRM"
    assert created["enabled"] is True and created["disabled_reason"] is None
    one = (await tenant.client.get(f"{BASE}/{created['id']}")).json()
    listed = (await tenant.client.get(BASE)).json()
    assert "secret" not in one
    assert all("secret" not in item for item in listed["items"])
    assert one == {k: v for k, v in created.items() if k != "secret"}


async def test_defaults_every_event_type_enabled_no_headers(tenant):
    created = await create_endpoint(tenant, URL)
    assert created["events"] is None  # null: every type, including ones added later
    assert created["enabled"] is True
    assert created["header_names"] == []
    assert created["description"] == ""


async def test_list_is_paged_in_creation_order(tenant):
    ids = [(await create_endpoint(tenant, f"{URL}/{i}"))["id"] for i in range(3)]
    first = (await tenant.client.get(BASE, params={"page_size": 2})).json()
    second = (await tenant.client.get(BASE, params={"page_size": 2, "page": 2})).json()
    assert [e["id"] for e in first["items"] + second["items"]] == ids
    assert first["pagination"] == {"total_count": 3, "max_page": 2}
    assert_problem(await tenant.client.get(BASE, params={"page_size": 101}), 400, "page_size")


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "url"),
        ({"url": "ftp://example.com/hook"}, "url"),
        ({"url": "https://user:secret@example.com/hook"}, "url"),
        ({"url": "https://" + "a" * 2050 + ".com"}, "url"),
        ({"url": URL, "events": ["video_call.exploded"]}, "events[0]"),
        ({"url": URL, "events": []}, "events"),
        ({"url": URL, "events": "ping"}, "events"),
        ({"url": URL, "headers": {"Webhook-Id": "x"}}, "headers"),
        ({"url": URL, "headers": {"content-type": "text/plain"}}, "headers"),
        ({"url": URL, "headers": {"Host": "evil.example"}}, "headers"),
        ({"url": URL, "headers": {"Callgrid-Attempt": "1"}}, "headers"),
        ({"url": URL, "headers": {"bad header": "x"}}, "headers"),
        ({"url": URL, "headers": {"X-A": "one\r\nX-B: two"}}, "headers"),
        ({"url": URL, "headers": {"X-Auth": "Bearer secret "}}, "headers"),  # h11 would refuse it at every delivery
        ({"url": URL, "headers": {"X-Auth": "\tsecret"}}, "headers"),
        ({"url": URL, "headers": {"X-Auth": "s\u00e9cret"}}, "headers"),
        ({"url": URL, "headers": {f"X-{i}": "v" for i in range(21)}}, "headers"),
        ({"url": URL, "description": "d" * 1001}, "description"),
        ({"url": URL, "enabled": "maybe"}, "enabled"),
        ({"url": URL, "secret": "whsec_mine"}, "secret"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field_and_creates_nothing(tenant, body, field):
    assert_problem(await tenant.client.post(BASE, json=body), 400, field)
    assert (await tenant.client.get(BASE)).json()["pagination"]["total_count"] == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://api.localhost/hook",
        "http://[::1]/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.20/hook",
        "http://172.16.4.4/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/hook",
        "http://0.0.0.0/hook",
    ],
)
async def test_private_loopback_and_link_local_targets_are_refused(strict, url):
    assert_problem(await strict.post(BASE, json={"url": url}), 400, "url", "CALLGRID_WEBHOOK_ALLOW_PRIVATE_TARGETS")


async def test_a_name_resolving_to_a_private_address_is_refused(strict):
    """A host name is judged by the addresses it resolves to. The machine's own name resolves
    (through /etc/hosts, as on any Debian machine) to a loopback or private address."""
    name = socket.gethostname()
    addresses = {info[4][0].split("%")[0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    assert addresses and not any(ipaddress.ip_address(a).is_global for a in addresses), addresses
    assert_problem(await strict.post(BASE, json={"url": f"http://{name}/hook"}), 400, "url", "private")


async def test_public_targets_are_accepted_and_private_ones_refused_on_change(strict):
    created = await strict.post(BASE, json={"url": "https://93.184.216.34/hook"})
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["id"]
    assert_problem(await strict.patch(f"{BASE}/{endpoint_id}", json={"url": "http://127.0.0.1/x"}), 400, "url")
    assert (await strict.get(f"{BASE}/{endpoint_id}")).json()["url"] == "https://93.184.216.34/hook"


async def test_patch_changes_only_what_is_given(tenant):
    created = await create_endpoint(tenant, URL, description="old", events=["ping"])
    path = f"{BASE}/{created['id']}"
    r = await tenant.client.patch(path, json={"description": "new", "events": ["video_call.created", "video_call.created"]})
    assert r.status_code == 200, r.text
    assert r.json()["description"] == "new"
    assert r.json()["events"] == ["video_call.created"]
    assert r.json()["url"] == URL
    r = await tenant.client.patch(path, json={"events": None, "url": URL + "/v2", "headers": {"X-A": "1"}, "enabled": False})
    assert r.status_code == 200, r.text
    assert r.json()["events"] is None
    assert r.json()["url"] == URL + "/v2"
    assert r.json()["header_names"] == ["X-A"]
    assert r.json()["enabled"] is False
    assert "secret" not in r.json()
    assert_problem(await tenant.client.patch(path, json={"url": None}), 400, "url")
    assert_problem(await tenant.client.patch(path, json={"headers": {"webhook-signature": "x"}}), 400, "headers")
    assert_problem(await tenant.client.patch(path, json={"nope": 1}), 400, "nope")


async def test_delete_then_it_is_gone(tenant):
    created = await create_endpoint(tenant, URL)
    path = f"{BASE}/{created['id']}"
    r = await tenant.client.delete(path)
    assert r.status_code == 204 and r.content == b""
    assert_problem(await tenant.client.get(path), 404, "id")
    assert_problem(await tenant.client.delete(path), 404, "id")


async def test_rotate_secret_returns_a_new_one(tenant):
    created = await create_endpoint(tenant, URL)
    r = await tenant.client.post(f"{BASE}/{created['id']}/rotate-secret")
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    assert secret.startswith("whsec_") and secret != created["secret"]


async def test_test_on_a_disabled_endpoint_is_a_conflict(tenant):
    created = await create_endpoint(tenant, URL, enabled=False)
    assert_problem(await tenant.client.post(f"{BASE}/{created['id']}/test"), 409, "enabled")


async def test_retry_of_an_event_never_sent_there_is_404(tenant):
    created = await create_endpoint(tenant, URL)
    assert_problem(
        await tenant.client.post(f"{BASE}/{created['id']}/deliveries/{uuid.uuid4()}/retry"), 404, "event_id"
    )


VERBS = [
    ("GET", "{base}/{id}", None),
    ("PATCH", "{base}/{id}", {"description": "mine now"}),
    ("DELETE", "{base}/{id}", None),
    ("POST", "{base}/{id}/rotate-secret", None),
    ("POST", "{base}/{id}/test", None),
    ("GET", "{base}/{id}/deliveries", None),
    ("POST", "{base}/{id}/deliveries/{event}/retry", None),
]


@pytest.mark.parametrize("method, template, body", VERBS)
async def test_another_organizations_endpoint_is_404_for_every_verb(tenant, other_tenant, method, template, body):
    theirs = await create_endpoint(other_tenant, URL)
    ping = await other_tenant.client.post(f"{BASE}/{theirs['id']}/test")
    path = template.format(base=BASE, id=theirs["id"], event=ping.json()["event_id"])
    foreign = await tenant.client.request(method, path, json=body)
    unknown = str(uuid.uuid4())
    missing = await tenant.client.request(method, template.format(base=BASE, id=unknown, event=uuid.uuid4()), json=body)
    assert_problem(foreign, 404, "id")
    # Exactly like an id that does not exist.
    assert foreign.json()["detail"].replace(theirs["id"], "X") == missing.json()["detail"].replace(unknown, "X")
    after = (await other_tenant.client.get(f"{BASE}/{theirs['id']}")).json()
    assert after == {k: v for k, v in theirs.items() if k != "secret"}
    assert (await tenant.client.get(BASE)).json()["items"] == []


async def test_a_malformed_id_is_a_400_and_no_key_is_a_401(tenant, anonymous):
    assert_problem(await tenant.client.get(f"{BASE}/not-a-uuid"), 400, "endpoint_id")
    assert_problem(await anonymous.get(BASE), 401)
    assert_problem(await anonymous.post(BASE, json={"url": URL}), 401)
