from uuid import UUID

from fastapi import APIRouter, Response

from callgrid.db.session import ReadSession, WriteSession
from callgrid.idempotency.requests import Idempotent, IdempotentRoute
from callgrid.directory import repository, service
from callgrid.directory.models import Contact, Host, Product
from callgrid.directory.schemas import (
    ContactCreate,
    ContactRead,
    HostCreate,
    HostRead,
    HostUpdate,
    ProductCreate,
    ProductRead,
    SubscriberAdd,
)
from callgrid.kit.clock import Now
from callgrid.kit.ids import parse_id
from callgrid.kit.pagination import Page, PageQuery, fetch_page
from callgrid.tenancy.auth import FORBIDDEN_RESPONSE, AdminPrincipal, CurrentPrincipal, Principal, needs_admin

def _own_host_or_admin(principal: Principal, host_id: UUID) -> None:
    """A host key reads and changes its own host record; any other host is the organization's."""
    if host_id != principal.host_id:
        needs_admin(principal)


router = APIRouter(prefix="/api/v1", tags=["directory"], route_class=IdempotentRoute)


@router.post("/hosts", status_code=201, response_model=HostRead, dependencies=[Idempotent])
async def create_host(body: HostCreate, principal: AdminPrincipal, session: WriteSession):
    return await service.create_host(session, principal.organization_id, body)


@router.get("/hosts", response_model=Page[HostRead])
async def list_hosts(params: PageQuery, principal: AdminPrincipal, session: ReadSession):
    rows, total = await fetch_page(session, repository.list_of(Host, principal.organization_id), params.offset, params.page_size)
    return Page.of([HostRead.model_validate(r) for r in rows], total, params)


@router.get("/hosts/{host_id}", response_model=HostRead, responses=FORBIDDEN_RESPONSE)
async def get_host(host_id: UUID, principal: CurrentPrincipal, session: ReadSession):
    _own_host_or_admin(principal, host_id)
    return await service.get_or_404(session, Host, principal.organization_id, host_id, "host")


@router.patch("/hosts/{host_id}", response_model=HostRead, responses=FORBIDDEN_RESPONSE)
async def update_host(host_id: UUID, body: HostUpdate, principal: CurrentPrincipal, session: WriteSession):
    _own_host_or_admin(principal, host_id)
    if "is_deactivated" in body.model_fields_set:
        needs_admin(principal, field="is_deactivated")  # the organization's decision, not the host's
    return await service.update_host(session, principal.organization_id, host_id, body)


@router.post("/contacts", status_code=201, response_model=ContactRead, dependencies=[Idempotent])
async def create_contact(body: ContactCreate, principal: AdminPrincipal, session: WriteSession):
    return await service.create_contact(session, principal.organization_id, body)


@router.get("/contacts", response_model=Page[ContactRead])
async def list_contacts(params: PageQuery, principal: CurrentPrincipal, session: ReadSession):
    rows, total = await fetch_page(session, repository.list_of(Contact, principal.organization_id), params.offset, params.page_size)
    return Page.of([ContactRead.model_validate(r) for r in rows], total, params)


@router.get("/contacts/{contact_id}", response_model=ContactRead)
async def get_contact(contact_id: UUID, principal: CurrentPrincipal, session: ReadSession):
    return await service.get_or_404(session, Contact, principal.organization_id, contact_id, "contact")


@router.delete(
    "/contacts/{contact_id}", status_code=204, response_class=Response, summary="Delete a contact (its history is kept)",
    responses={404: {"description": "No contact with that id"}},
)
async def delete_contact(contact_id: str, principal: AdminPrincipal, session: WriteSession, now: Now) -> Response:
    """Kept for the calls they took part in; gone from lists and gets, their subscriptions end
    and their email is free for a new contact."""
    await service.delete_contact(session, principal.organization_id, parse_id(contact_id, what="contact", field="contact_id"), now=now)
    return Response(status_code=204)


@router.post("/products", status_code=201, response_model=ProductRead, dependencies=[Idempotent])
async def create_product(body: ProductCreate, principal: AdminPrincipal, session: WriteSession):
    return await service.create_product(session, principal.organization_id, principal.host_id, body)


@router.get("/products", response_model=Page[ProductRead])
async def list_products(params: PageQuery, principal: CurrentPrincipal, session: ReadSession):
    rows, total = await fetch_page(session, repository.list_of(Product, principal.organization_id), params.offset, params.page_size)
    return Page.of([ProductRead.model_validate(r) for r in rows], total, params)


@router.get("/products/{product_id}", response_model=ProductRead)
async def get_product(product_id: UUID, principal: CurrentPrincipal, session: ReadSession):
    return await service.get_or_404(session, Product, principal.organization_id, product_id, "product")


@router.delete(
    "/products/{product_id}", status_code=204, response_class=Response, summary="Delete a product (its history is kept)",
    responses={404: {"description": "No product with that id"}},
)
async def delete_product(product_id: str, principal: AdminPrincipal, session: WriteSession, now: Now) -> Response:
    """Kept for its calls, which still show it; gone from lists and gets, and no longer chosen
    for a new video call (`mango`) or a new subscriber."""
    await service.delete_product(session, principal.organization_id, parse_id(product_id, what="product", field="product_id"), now=now)
    return Response(status_code=204)


@router.post("/products/{product_id}/subscribers", status_code=201, response_model=ContactRead, dependencies=[Idempotent])
async def add_subscriber(product_id: UUID, body: SubscriberAdd, principal: AdminPrincipal, session: WriteSession):
    return await service.subscribe(session, principal.organization_id, product_id, body.contact_id)


@router.get("/products/{product_id}/subscribers", response_model=Page[ContactRead])
async def list_subscribers(product_id: UUID, params: PageQuery, principal: CurrentPrincipal, session: ReadSession):
    await service.get_or_404(session, Product, principal.organization_id, product_id, "product")
    rows, total = await fetch_page(session, repository.subscribers_of(principal.organization_id, product_id), params.offset, params.page_size)
    return Page.of([ContactRead.model_validate(r) for r in rows], total, params)


@router.delete("/products/{product_id}/subscribers/{contact_id}", status_code=204)
async def remove_subscriber(product_id: UUID, contact_id: UUID, principal: AdminPrincipal, session: WriteSession):
    await service.unsubscribe(session, principal.organization_id, product_id, contact_id)
