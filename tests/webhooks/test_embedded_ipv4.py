"""Webhook targets: an IPv6 address that carries an IPv4 one (mapped, compatible, translated,
NAT64, 6to4, Teredo) is judged by the IPv4 it leads to, at registration and at delivery."""

import ipaddress
from uuid import UUID

import httpx
import pytest

from callgrid.app import create_app
from callgrid.db.engine import IMMEDIATE
from callgrid.webhooks.models import WebhookEndpoint
from callgrid.webhooks.signing import new_secret
from callgrid.webhooks.targets import TargetError, Target, is_public, resolve_for_delivery
from tests.support.problems import assert_problem
from tests.webhooks.test_delivery import _settled, emit_committed, until

BASE = "/api/v1/webhook-endpoints"

# (IPv6 address, the IPv4 address it carries): every form carrying a loopback or private IPv4.
CARRIERS = [
    ("::ffff:127.0.0.1", "127.0.0.1"),  # IPv4-mapped
    ("::ffff:10.0.0.1", "10.0.0.1"),
    ("::ffff:7f00:1", "127.0.0.1"),  # the same, written in hex
    ("::127.0.0.1", "127.0.0.1"),  # IPv4-compatible (deprecated)
    ("::7f00:1", "127.0.0.1"),
    ("::a9fe:a9fe", "169.254.169.254"),  # the cloud metadata address
    ("::ffff:0:7f00:1", "127.0.0.1"),  # IPv4-translated (SIIT)
    ("64:ff9b::7f00:1", "127.0.0.1"),  # NAT64, well-known prefix
    ("64:ff9b::192.168.1.1", "192.168.1.1"),
    ("64:ff9b::a00:1", "10.0.0.1"),
    ("2002:7f00:1::1", "127.0.0.1"),  # 6to4
    ("2002:c0a8:101::", "192.168.1.1"),
    ("2002:a9fe:a9fe::1", "169.254.169.254"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),  # Teredo: client 127.0.0.1 (bits inverted)
    ("2001:0:c0a8:101::1", "192.168.1.1"),  # Teredo: server 192.168.1.1
]
# NAT64's local-use prefix: the IPv4 sits where the operator's prefix length puts it.
LOCAL_NAT64 = ["64:ff9b:1::7f00:1", "64:ff9b:1:7f00:1::"]
# The same forms carrying a public IPv4 are public: the rule is the IPv4's.
PUBLIC_CARRIERS = ["::ffff:93.184.216.34", "64:ff9b::93.184.216.34", "2002:5db8:d822::1", "::ffff:0:5db8:d822"]


@pytest.fixture
def embedded_worker() -> bool:
    return False


@pytest.fixture
async def strict(app, tenant):
    """The service with the default rule: private, loopback and link-local targets refused."""
    settings = app.state.settings.model_copy(update={"webhook_allow_private_targets": False, "run_embedded_worker": False})
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://callgrid.test",
            headers={"Authorization": f"Bearer {tenant.key}"},
        ) as client:
            yield client


@pytest.mark.parametrize("address, carried", CARRIERS)
def test_an_ipv6_address_carrying_a_private_ipv4_is_not_public(address, carried):
    assert not ipaddress.ip_address(carried).is_global
    assert is_public(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize("address", LOCAL_NAT64)
def test_nat64_local_use_addresses_are_not_public(address):
    assert is_public(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize("address", PUBLIC_CARRIERS)
def test_an_ipv6_address_carrying_a_public_ipv4_is_public(address):
    assert is_public(ipaddress.ip_address(address)) is True


@pytest.mark.parametrize("address, carried", CARRIERS)
async def test_registration_refuses_each_form_naming_the_ipv4_it_carries(strict, address, carried):
    url = f"http://[{address}]:8080/hook"
    problem = assert_problem(await strict.post(BASE, json={"url": url}), 400, "url", "CALLGRID_WEBHOOK_ALLOW_PRIVATE_TARGETS")
    assert f"carries {carried}" in problem["detail"] or carried in problem["detail"], problem
    assert (await strict.get(BASE)).json()["pagination"]["total_count"] == 0


@pytest.mark.parametrize("address", LOCAL_NAT64)
async def test_registration_refuses_nat64_local_use(strict, address):
    assert_problem(await strict.post(BASE, json={"url": f"https://[{address}]/hook"}), 400, "url", "private")


async def test_a_change_of_url_to_a_carrier_is_refused(strict):
    created = await strict.post(BASE, json={"url": "https://[64:ff9b::93.184.216.34]/hook"})
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["id"]
    assert_problem(await strict.patch(f"{BASE}/{endpoint_id}", json={"url": "http://[::7f00:1]/x"}), 400, "url", "127.0.0.1")
    assert (await strict.get(f"{BASE}/{endpoint_id}")).json()["url"] == "https://[64:ff9b::93.184.216.34]/hook"


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "127.1", "0177.0.0.1"])
async def test_other_spellings_of_loopback_are_refused_once_resolved(strict, host):
    """Names the resolver reads as numbers (decimal, hex, octal, short forms) are judged by the
    address it gives."""
    assert_problem(await strict.post(BASE, json={"url": f"http://{host}/hook"}), 400, "url", "127.0.0.1")


@pytest.mark.parametrize("address, carried", CARRIERS + [(a, None) for a in LOCAL_NAT64])
async def test_delivery_resolution_refuses_each_form(address, carried):
    with pytest.raises(TargetError, match="private, loopback or link-local"):
        await resolve_for_delivery(Target("http", address, 80), timeout=1.0)


@pytest.mark.webhook_settings(webhook_allow_private_targets=False, run_embedded_worker=True)
async def test_rows_written_past_the_api_are_refused_at_delivery(app, tenant, receiver):
    """Endpoints written straight to the table (as before this rule) with each form, the ones
    carrying 127.0.0.1 on the receiver's port: each attempt is refused before connecting."""
    ids = []
    async with app.state.sessionmaker() as session:
        await session.connection(execution_options={IMMEDIATE: True})
        for address, _ in CARRIERS:
            endpoint = WebhookEndpoint(
                organization_id=UUID(tenant.organization_id), url=f"http://[{address}]:{receiver.port}/hook", secret=new_secret()
            )
            session.add(endpoint)
            await session.flush()
            ids.append(str(endpoint.id))
        await session.commit()
    await emit_committed(app, tenant.organization_id, "appointment.created", {"id": "x"})
    for (address, carried), endpoint_id in zip(CARRIERS, ids, strict=True):
        history = await until(lambda: _settled(tenant, endpoint_id, 3, "failed"), timeout=20)
        for attempt in history:
            assert attempt["status_code"] is None
            assert attempt["error"].startswith("refused target"), attempt
            assert f"carries {carried}" in attempt["error"] or carried in attempt["error"], (address, attempt["error"])
    assert receiver.received() == []
