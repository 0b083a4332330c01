"""/api/v1/whitelabel-domains: the host names an organization serves its pages under."""

from fastapi import APIRouter, Response

from callgrid.db.session import ReadSession, WriteSession
from callgrid.idempotency.requests import Idempotent, IdempotentRoute
from callgrid.kit.ids import parse_id
from callgrid.kit.pagination import Page, PageQuery, fetch_page
from callgrid.tenancy import repository, service
from callgrid.tenancy.auth import AdminPrincipal
from callgrid.tenancy.schemas import DomainCreate, DomainRead

# Tagged as before the move, so the OpenAPI document is unchanged.
router = APIRouter(prefix="/api/v1", tags=["directory"], route_class=IdempotentRoute)


@router.post("/whitelabel-domains", status_code=201, response_model=DomainRead, dependencies=[Idempotent])
async def add_domain(body: DomainCreate, principal: AdminPrincipal, session: WriteSession):
    return await service.add_domain(session, principal.organization_id, body)


@router.get("/whitelabel-domains", response_model=Page[DomainRead])
async def list_domains(params: PageQuery, principal: AdminPrincipal, session: ReadSession):
    rows, total = await fetch_page(session, repository.domains_of(principal.organization_id), params.offset, params.page_size)
    return Page.of([DomainRead.model_validate(r) for r in rows], total, params)


@router.delete(
    "/whitelabel-domains/{domain_id}", status_code=204, response_class=Response, summary="Remove a white-label host name",
    responses={404: {"description": "No white-label domain with that id"}},
)
async def remove_domain(domain_id: str, principal: AdminPrincipal, session: WriteSession) -> Response:
    """The host name no longer brands the video-calls API's links (an `x-whitelabel-host` naming
    it is then taken as any other host name)."""
    await service.remove_domain(session, principal.organization_id, parse_id(domain_id, what="white-label domain", field="domain_id"))
    return Response(status_code=204)
