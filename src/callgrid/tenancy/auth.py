import time
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer

from callgrid.errors import Forbidden, Unauthorized
from callgrid.tenancy import repository
from callgrid.tenancy.keys import hash_key
from callgrid.tenancy.models import KeyRole


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an organization, acting as one of its hosts."""

    organization_id: UUID
    organization_name: str
    host_id: UUID
    key_id: UUID | None = None
    role: KeyRole = KeyRole.HOST

    @property
    def is_admin(self) -> bool:
        return self.role == KeyRole.ADMIN

    @property
    def host_scope(self) -> UUID | None:
        """The one host whose objects the key sees; None for an admin key, which sees every host's."""
        return None if self.is_admin else self.host_id

    def sees_host(self, host_id: UUID | None) -> bool:
        """Whether an object of `host_id` (of the key's organization) is visible to the key."""
        return self.is_admin or (host_id is not None and host_id == self.host_id)


class KeyCache:
    """Recently seen keys, so the hot path does not look every key up again.

    An entry lives `ttl` seconds at most; a revoked key is forgotten at once, in every process
    (`callgrid.tenancy.revocations`: the request asks the watcher whether the cache may be trusted).
    """

    def __init__(self, ttl: float, size: int = 10_000):
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, Principal]] = {}
        # Moves at every forgetting: a key read before a revocation arrived is not cached after it.
        self.epoch = 0

    def get(self, key_hash: str) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key_hash: str, principal: Principal, epoch: int | None = None) -> None:
        if self.ttl <= 0 or (epoch is not None and epoch != self.epoch):
            return
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[key_hash] = (time.monotonic() + self.ttl, principal)

    def discard(self, key_hash: str) -> None:
        self.epoch += 1
        self._entries.pop(key_hash, None)

    def clear(self) -> None:
        self.epoch += 1
        self._entries.clear()


class _DeclaredBearer(HTTPBearer):
    """The API key as the OpenAPI document declares it: `components.securitySchemes.bearer`
    and the `security` of every operation that depends on `_authenticate` (the Authorize
    button of /docs). Reading the key is `_authenticate`'s, which also takes it without `Bearer `."""

    async def __call__(self) -> None:  # type: ignore[override]
        return None


bearer_scheme = _DeclaredBearer(
    scheme_name="bearer",
    bearerFormat="API key",
    description="An API key (`callgrid orgs create`, `callgrid keys create`): `Authorization: Bearer <key>`, or the key alone.",
    auto_error=False,
)


async def _authenticate(request: Request, _declared: Annotated[None, Security(bearer_scheme)] = None) -> Principal:
    return await authenticate(request)


# What `CurrentPrincipal` adds to an operation in the OpenAPI document, for a hot route that
# calls `authenticate` from its own dependency (`openapi_extra=DECLARES_BEARER`): each level of
# dependencies costs FastAPI a solve per request.
DECLARES_BEARER = {"security": [{"bearer": []}]}


async def authenticate(request: Request) -> Principal:
    """The caller, from the key cache or else a short read of its own: never inside the
    request's write transaction, so no write lock is held while a key is checked."""
    header = request.headers.get("authorization", "").strip()
    scheme, _, token = header.partition(" ")
    if not token:  # the key alone, without `Bearer ` (the event-calls API's clients send it so)
        scheme, token = "bearer", scheme
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing API key in the Authorization header (`Bearer <key>` or the key alone)")
    key_hash = hash_key(token.strip())
    state = request.app.state
    cache: KeyCache = state.key_cache
    watcher = getattr(state, "key_watcher", None)
    # Trusted only while revocations made elsewhere reach this process (revocations.py).
    trusted = watcher is None or watcher.vouch()
    principal = cache.get(key_hash) if trusted else None
    if principal is None:
        epoch = cache.epoch
        found = await repository.key_holder(request.app.state.database.engine, key_hash)
        if found is None:
            raise Unauthorized("invalid token")
        organization_id, organization_name, host_id, key_id, role = found
        principal = Principal(organization_id, organization_name, host_id, key_id, KeyRole(role))
        if trusted:
            cache.put(key_hash, principal, epoch)
    usage = getattr(state, "key_usage", None)
    if usage is not None:
        usage.touch(principal.key_id, state.clock())
    # For the request's log line (callgrid.observability.request_id), without another lookup.
    request.state.organization_id = principal.organization_id
    return principal


authenticated = Depends(_authenticate)
CurrentPrincipal = Annotated[Principal, authenticated]


def needs_admin(principal: Principal, *, field: str | None = None) -> None:
    """403 for a host key: the operation (or the `field` of its body) is the organization's
    (docs/roles.md)."""
    if not principal.is_admin:
        raise Forbidden(
            f"this needs an API key with the role admin (this key's role is {principal.role.value})",
            field=field, extra={"required_role": KeyRole.ADMIN.value},
        )


ADMIN_ROLE = KeyRole.ADMIN.value


async def _authenticate_admin(
    principal: CurrentPrincipal, _declared: Annotated[None, Security(bearer_scheme, scopes=[ADMIN_ROLE])] = None
) -> Principal:
    """The caller, if its key is an admin's. The document's `security` of the operation names the
    role (OpenAPI 3.1: the roles a bearer scheme requires), and `callgrid.openapi` adds its 403."""
    needs_admin(principal)
    return principal


AdminPrincipal = Annotated[Principal, Depends(_authenticate_admin)]
# What a route that refuses host keys only for some objects says in the OpenAPI document.
FORBIDDEN_RESPONSE = {403: {"description": "This needs an API key with the role admin (docs/roles.md)"}}
