"""/api/v1/api-keys: an organization's API keys: list (never the key itself), create (the key
shown once), revoke; admin keys only (a key could otherwise make itself an admin). Here, beside `onboarding`, because a key acts as a host: it needs both
`tenancy` (keys) and `directory` (hosts)."""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from callgrid import onboarding
from callgrid.db.session import ReadSession, WriteSession
from callgrid.idempotency.requests import Idempotent, IdempotentRoute
from callgrid.kit.clock import Now
from callgrid.kit.ids import parse_id
from callgrid.kit.pagination import Page, PageQuery, fetch_page
from callgrid.tenancy import repository, service
from callgrid.tenancy.auth import AdminPrincipal
from callgrid.tenancy.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead

router = APIRouter(prefix="/api/v1", tags=["api keys"], route_class=IdempotentRoute)

KeyId = Annotated[str, Path(description="the key's id (not the key)")]


@router.get("/api-keys", response_model=Page[ApiKeyRead], summary="List the organization's API keys")
async def list_keys(params: PageQuery, principal: AdminPrincipal, session: ReadSession, request: Request):
    """Every key that works (revoked ones are gone), oldest first: its label, the host it acts
    as, its first characters, when it was created and last used. Never the key itself."""
    await request.app.state.key_usage.settle()  # this process's latest uses, written
    rows, total = await fetch_page(session, repository.keys_of(principal.organization_id), params.offset, params.page_size)
    return Page.of([ApiKeyRead.model_validate(r) for r in rows], total, params)


@router.post(
    "/api-keys", status_code=201, response_model=ApiKeyCreated, summary="Create an API key (shown once)",
    responses={404: {"description": "No host with that `host_id` (or a deleted one)"}}, dependencies=[Idempotent],
)
async def create_key(body: ApiKeyCreate, principal: AdminPrincipal, session: WriteSession):
    """The answer holds the key, shown only then (it is stored as a SHA-256 hash), and to a
    retry with the same `Idempotency-Key` within 24 hours (that answer is stored encrypted)."""
    row, key = await onboarding.add_api_key(
        session, principal.organization_id, body.host_id, name=body.name, role=body.role
    )
    return ApiKeyCreated.model_validate({**ApiKeyRead.model_validate(row).model_dump(), "key": key})


@router.delete(
    "/api-keys/{key_id}", status_code=204, response_class=Response, summary="Revoke an API key",
    responses={404: {"description": "No working key with that id"}},
)
async def revoke_key(key_id: KeyId, principal: AdminPrincipal, session: WriteSession, now: Now) -> Response:
    """The key stops working at once, in every server process (a key may revoke itself)."""
    await service.revoke_api_key(session, principal.organization_id, parse_id(key_id, what="API key", field="key_id"), now=now)
    return Response(status_code=204)
