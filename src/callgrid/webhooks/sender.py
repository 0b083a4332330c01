"""One HTTP attempt: resolve and check the target, sign, POST, classify the answer."""

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import httpx

from callgrid.db.base import utcnow
from callgrid.webhooks.events import envelope
from callgrid.webhooks.schedule import parse_retry_after
from callgrid.webhooks.signing import signature_headers
from callgrid.webhooks.targets import TargetError, parse_url, resolve_for_delivery

USER_AGENT = "Callgrid-Webhooks/0.1"
MAX_RESPONSE_READ = 64 * 1024
# 1 for the first attempt of an event to an endpoint, 2 for the first retry, ...
ATTEMPT_HEADER = "callgrid-attempt"


@dataclass(frozen=True)
class Job:
    """A claimed delivery and everything needed to send it, read in the claiming transaction."""

    delivery_id: UUID
    lease_token: UUID
    organization_id: UUID
    attempt: int  # the number this attempt gets (1 for the first)
    step: int  # failed attempts since the schedule (re)started
    event_id: UUID
    event_type: str
    event_created_at: datetime
    payload: str
    endpoint_id: UUID
    url: str
    headers: dict[str, str]
    secret: str
    # The payload is the body itself, without the envelope (a room's own webhook).
    raw: bool = False


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int
    retry_after: float | None
    attempted_at: datetime

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def body_of(job: Job) -> str:
    if job.raw:
        return job.payload
    return envelope(job.event_id, job.event_type, job.event_created_at, job.payload)


async def send(client: httpx.AsyncClient, job: Job, *, timeout: float, allow_private: bool) -> Outcome:
    started = time.monotonic()
    attempted_at = utcnow()
    status = retry_after = None
    error = None
    try:
        async with asyncio.timeout(timeout):
            request = await _request(client, job, allow_private=allow_private, timeout=timeout)
            # The answer's status is all that counts. A short body is read (and dropped) so
            # the connection can be reused; a long one is cut off with the connection.
            response = await client.send(request, stream=True)
            try:
                status = response.status_code
                retry_after = parse_retry_after(response.headers.get("retry-after"), utcnow())
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read > MAX_RESPONSE_READ:
                        break
            finally:
                await response.aclose()
    except TargetError as exc:
        error = f"refused target: {exc}"
    except TimeoutError:
        error = f"no answer within {timeout:g} s"
    except (httpx.LocalProtocolError, UnicodeEncodeError) as exc:
        # Not the message: it quotes the header that could not be written, and header values
        # are secrets (kept encrypted, never shown).
        error = f"{type(exc).__name__}: the request could not be written (a header value is not valid HTTP)"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
    if status is not None and not 200 <= status < 300 and error is None:
        error = f"HTTP {status}"
    duration_ms = int((time.monotonic() - started) * 1000)
    return Outcome(status, error[:1000] if error else None, duration_ms, retry_after, attempted_at)


async def _request(client: httpx.AsyncClient, job: Job, *, allow_private: bool, timeout: float) -> httpx.Request:
    target = parse_url(job.url)
    url = httpx.URL(job.url)
    extensions: dict = {}
    headers = dict(job.headers)
    if not allow_private:
        # Connect to the address that was checked, not to whatever the name says next.
        address = await resolve_for_delivery(target, timeout)
        headers["host"] = url.netloc.decode("ascii")
        url = url.copy_with(host=str(address))
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
    body = body_of(job)
    headers.update(
        {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            ATTEMPT_HEADER: str(job.attempt),
            **signature_headers(job.secret, str(job.event_id), body, utcnow()),
        }
    )
    return client.build_request("POST", url, content=body.encode(), headers=headers, extensions=extensions)
