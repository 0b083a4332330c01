"""The pure parts: retry schedule, Retry-After, target addresses, envelope and signature."""

import ipaddress
import json
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook

from callgrid.config import Settings
from callgrid.webhooks.events import envelope
from callgrid.webhooks.schedule import next_delay, parse_retry_after, parse_schedule
from callgrid.webhooks.signing import new_secret, signature_headers
from callgrid.webhooks.targets import TargetError, is_public, parse_url


def test_default_schedule_is_the_documented_one():
    assert parse_schedule(Settings().webhook_retry_schedule) == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


def test_schedule_delays_follow_each_failed_attempt_then_give_up():
    steps = parse_schedule("0,5,300")
    assert [next_delay(steps, failed, None) for failed in (1, 2, 3)] == [5, 300, None]


def test_retry_after_is_honoured_up_to_the_next_steps_length():
    steps = parse_schedule("0,5,300")
    assert next_delay(steps, 1, 2.0) == 2.0  # sooner than the step: as asked
    assert next_delay(steps, 1, 60.0) == 5.0  # longer than the step: capped
    assert next_delay(steps, 3, 1.0) is None  # the schedule is spent either way


def test_retry_after_as_seconds_or_http_date():
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Tue, 01 Jan 2030 12:00:30 GMT", now) == 30
    assert parse_retry_after("Tue, 01 Jan 2030 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


@pytest.mark.parametrize("value", ["", "a,b", "0,-1", "5,,nan", "inf"])
def test_bad_schedules_are_refused_at_startup(value):
    with pytest.raises(ValidationError):
        Settings(webhook_retry_schedule=value)


@pytest.mark.parametrize(
    "address, public",
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("93.184.216.34", True),
        ("2606:4700:4700::1111", True),
    ],
)
def test_only_global_unicast_addresses_are_public(address, public):
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    "url, rule",
    [
        ("ftp://example.com/", "http or https"),
        ("example.com/hook", "http or https"),
        ("http:///hook", "host"),
        ("https://user:pw@example.com/", "credentials"),
        ("https://example.com/#x", "fragment"),
        ("https://example.com:99999/", "valid URL"),
        ("https://exa mple.com/", "whitespace"),
    ],
)
def test_target_url_syntax(url, rule):
    with pytest.raises(TargetError, match=rule):
        parse_url(url)


def test_envelope_is_the_documented_shape_and_stable():
    event_id = UUID("01a1fc89-adec-754f-add6-49c97443c69b")
    created = datetime(2030, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)
    body = envelope(event_id, "ping", created, '{"a":[1,2]}')
    assert json.loads(body) == {
        "id": str(event_id),
        "type": "ping",
        "created_at": "2030-01-01T12:00:00.123Z",
        "data": {"a": [1, 2]},
    }
    assert envelope(event_id, "ping", created, '{"a":[1,2]}') == body


def test_signature_verifies_with_standardwebhooks_and_only_with_its_secret():
    secret = new_secret()
    assert secret.startswith("whsec_")
    body = '{"id":"x","type":"ping","created_at":"2030-01-01T00:00:00Z","data":{}}'
    headers = signature_headers(secret, "x", body, datetime.now(UTC))
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers) == json.loads(body)
    with pytest.raises(Exception):
        Webhook(new_secret()).verify(body, headers)
    stale = signature_headers(secret, "x", body, datetime.now(UTC) - timedelta(minutes=10))
    with pytest.raises(Exception):
        Webhook(secret).verify(body, stale)
