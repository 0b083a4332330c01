"""The `Idempotency-Key` header of a request, from its lookup to its stored answer.

- Without the header nothing happens (one header read).
- With it, the key's committed row is looked up on its own (the fast path): a fresh row with
  the request's fingerprint answers with its stored response (`Idempotent-Replayed: true`),
  one with another fingerprint with a 409.
- Otherwise the row is inserted, without an answer, as the first statement of the request's
  write transaction: what the endpoint writes goes into the same transaction (a write section
  runs inside a session that has begun, `db.sections.run_section`). A concurrent request with
  the key waits on the unique index (PostgreSQL) or for the write lock (SQLite) until that
  transaction ends, then fails to insert, reads the committed row and replays it. If the first
  request fails, its transaction and its row are rolled back, and the waiting one runs.
- `IdempotentRoute` stores the endpoint's 2xx answer in the row when the endpoint returns,
  before the session commits: the object and its answer commit together, or neither does.
  Any other answer removes the row, so a retry runs again.

Requests of one process with the same key wait for each other in the process first, so that
at most one of them at a time holds a database connection while it waits for the key.

On PostgreSQL a request that holds a key holds its write session's connection until it commits,
and takes a second one meanwhile (its reads). At most half the pool's connections are held so
(`_holders`): with every connection held by a request waiting for another, none would come back.
"""

import asyncio
from datetime import datetime
import hashlib
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.db.session import WriteSession
from callgrid.errors import Conflict
from callgrid.idempotency import repository
from callgrid.tenancy.auth import CurrentPrincipal, Principal

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
# The answer's headers stored and replayed besides its content type.
KEPT_HEADERS = ("location",)

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER, min_length=1, max_length=255,
        description="a key of the client's choice (e.g. a UUID) that makes a retry safe: for 24 hours, the same key "
                    "with the same request answers the first answer again without creating anything; with another "
                    "request, 409. Scoped to the API key.",
    ),
]

_SCOPE_KEY = "callgrid.idempotency"


class _Claim:
    """A key this request holds: its turn in the process, then its row in the session's transaction."""

    __slots__ = ("turn", "session", "row_id", "fingerprint", "claimed_at", "holders")

    def __init__(self, turn: tuple, fingerprint: str):
        self.turn = turn
        self.fingerprint = fingerprint
        self.holders: asyncio.Semaphore | None = None  # its place among them, once it has one
        self.session: AsyncSession | None = None
        self.row_id: UUID | None = None
        self.claimed_at: datetime | None = None


class _Replay(Exception):
    def __init__(self, response: Response):
        self.response = response


class _Turns:
    """The requests of this process holding or waiting for each key, in turn."""

    def __init__(self) -> None:
        self._locks: dict[tuple, list] = {}  # key -> [lock, holders and waiters]

    async def take(self, turn: tuple) -> None:
        entry = self._locks.get(turn)
        if entry is None:
            entry = self._locks[turn] = [asyncio.Lock(), 0]
        entry[1] += 1
        try:
            await entry[0].acquire()
        except BaseException:
            self._leave(turn, entry)
            raise

    def give_back(self, turn: tuple) -> None:
        entry = self._locks[turn]
        entry[0].release()
        self._leave(turn, entry)

    def _leave(self, turn: tuple, entry: list) -> None:
        entry[1] -= 1
        if entry[1] == 0:
            del self._locks[turn]


_turns = _Turns()


def _holders(request: Request) -> asyncio.Semaphore | None:
    """The places of the requests that hold a key in this app: half its pool on PostgreSQL
    (where reads and writes share the pool); SQLite's writes have a connection of their own."""
    state = request.app.state
    holders = getattr(state, "idempotency_holders", False)
    if holders is False:
        database = state.database
        holders = None
        if database.write_engine is database.engine:
            holders = asyncio.Semaphore(max(1, state.settings.database_pool_size // 2))
        state.idempotency_holders = holders
    return holders


# Request headers that change what a create answers (the video-calls API's links and times).
FINGERPRINTED_HEADERS = ("x-whitelabel-host", "x-timezone-offset")


def fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    headers = request.headers
    parts = [request.method.encode(), request.scope["path"].encode(), request.scope.get("query_string", b"")]
    parts += [headers.get(name, "").encode() for name in FINGERPRINTED_HEADERS]
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    digest.update(body)
    return digest.hexdigest()


async def begin(request: Request, principal: Principal, session: AsyncSession, key: str) -> None:
    """Claim `key` for this request in `session` (the request's write session, not begun yet),
    or answer for it: raises to replay the stored answer or with a 409."""
    if _SCOPE_KEY not in request.scope:
        raise RuntimeError(f"{request.scope.get('route')!r} takes {HEADER} but is not an IdempotentRoute")
    if request.scope[_SCOPE_KEY] is not None:
        raise RuntimeError(f"{HEADER} claimed twice in one request")
    if principal.key_id is None:
        return
    digest = fingerprint(request, await request.body())
    claim = _Claim((principal.key_id, key), digest)
    await _turns.take(claim.turn)
    request.scope[_SCOPE_KEY] = claim
    if (holders := _holders(request)) is not None:
        await holders.acquire()
        claim.holders = holders
    database = request.app.state.database
    now = request.app.state.clock()
    for _ in range(3):
        stored = await repository.find(database.engine, principal.key_id, key)
        if stored is not None and not stored.expired(now):
            raise _answer_for(stored, digest)
        try:
            claim.row_id = await repository.claim(
                session, api_key_id=principal.key_id, key=key, fingerprint=digest, now=now, replace_expired=stored is not None
            )
        except IntegrityError:  # taken meanwhile (by another process): its answer is committed now
            await session.rollback()
            continue
        claim.session, claim.claimed_at = session, now
        return
    raise Conflict("is in use by another request; retry it later", field=HEADER)


def _answer_for(stored: repository.Stored, digest: str) -> Exception:
    if stored.fingerprint != digest:
        return Conflict(
            "was already used for a different request (method, path, query or body); use a new key for a new request",
            field=HEADER,
        )
    if stored.status_code is None:
        return Conflict("is in use by a request still running; retry it later", field=HEADER)
    headers = dict(stored.headers)
    headers[REPLAYED] = "true"
    return _Replay(Response(stored.body, status_code=stored.status_code, headers=headers, media_type=stored.content_type))


async def _finish(claim: _Claim, response: Response) -> None:
    body = getattr(response, "body", None)
    if not (200 <= response.status_code < 300 and isinstance(body, bytes)):
        await repository.release(claim.session, claim.row_id)
        return
    answer = {
        "status_code": response.status_code, "body": body, "content_type": response.headers.get("content-type"),
        "headers": [(name, response.headers[name]) for name in KEPT_HEADERS if name in response.headers],
    }
    if await repository.answer(claim.session, claim.row_id, **answer):
        return
    # A service rolled the transaction back and went on (a booking trying its next host): the
    # key's row went with it. Claimed again in what commits; if another request took the key
    # meanwhile, this one's work is rolled back and a retry gets that request's answer.
    api_key_id, key = claim.turn
    try:
        claim.row_id = await repository.claim(
            claim.session, api_key_id=api_key_id, key=key, fingerprint=claim.fingerprint, now=claim.claimed_at,
            replace_expired=False,
        )
    except IntegrityError:
        raise Conflict("was taken by another request meanwhile; retry it to get that request's answer", field=HEADER) from None
    await repository.answer(claim.session, claim.row_id, **answer)


class IdempotentRoute(APIRoute):
    """A route whose endpoint may take `Idempotency-Key` (the `Idempotent` dependency, or
    `begin` called by the endpoint's own): its answer is stored in the key's row once the
    endpoint has returned, before the function-scoped dependencies end (the write session
    commits there)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            request.scope[_SCOPE_KEY] = None
            try:
                try:
                    response = await handler(request)
                except _Replay as replay:
                    return replay.response
                claim: _Claim | None = request.scope[_SCOPE_KEY]
                if claim is not None and claim.row_id is not None:
                    await _finish(claim, response)
                return response
            finally:
                if (claim := request.scope[_SCOPE_KEY]) is not None:
                    if claim.holders is not None:
                        claim.holders.release()
                    _turns.give_back(claim.turn)

        return handle


async def _idempotent(request: Request, principal: CurrentPrincipal, session: WriteSession, key: IdempotencyKeyHeader = None) -> None:
    if key is not None:
        await begin(request, principal, session, key)


# For the POSTs that create (`dependencies=[Idempotent]`, on a router of `IdempotentRoute`s)
# and write through the request's `WriteSession`.
Idempotent = Depends(_idempotent, scope="function")
