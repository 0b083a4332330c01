import re
from datetime import datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.db.errors import is_unique_violation
from callgrid.errors import BadRequest, Conflict, NotFound
from callgrid.tenancy import repository, revocations
from callgrid.tenancy.keys import generate_key, hash_key
from callgrid.tenancy.models import ApiKey, KeyRole, Organization, WhitelabelDomain
from callgrid.tenancy.schemas import DomainCreate


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64] or "org"


async def create_organization(session: AsyncSession, name: str, *, slug: str | None = None) -> Organization:
    """The organization alone; `callgrid.onboarding` gives it its owner host and first key."""
    name = name.strip()
    if not name:
        raise BadRequest("must not be empty", field="name")
    slug = slugify(slug or name)
    if await repository.get_organization_by_slug(session, slug):
        raise Conflict(f"an organization with slug {slug!r} exists", field="slug")
    organization = Organization(name=name, slug=slug)
    session.add(organization)
    await session.flush()
    return organization


async def create_api_key(
    session: AsyncSession, organization_id: UUID, host_id: UUID, *, name: str = "", role: KeyRole = KeyRole.HOST
) -> str:
    """A new key acting as `host_id`, which the caller has checked is a host of the organization."""
    return (await add_api_key(session, organization_id, host_id, name=name, role=role))[1]


async def add_api_key(
    session: AsyncSession, organization_id: UUID, host_id: UUID, *, name: str = "", role: KeyRole = KeyRole.HOST
) -> tuple[ApiKey, str]:
    """A new key acting as `host_id` (checked by the caller) with `role`: its row and the key
    itself, which is stored only as a hash."""
    key = generate_key()
    row = ApiKey(
        organization_id=organization_id, host_id=host_id, name=name, prefix=key[:8], key_hash=hash_key(key), role=role.value
    )
    session.add(row)
    await session.flush()
    return row, key


async def revoke_api_key(session: AsyncSession, organization_id: UUID, key_id: UUID, *, now: datetime) -> ApiKey:
    """Revoke a working key of the organization (404 for a revoked one, or another
    organization's); every process stops taking it when this commits."""
    key = await repository.get_key(session, organization_id, key_id)
    if key is None or key.revoked_at is not None:
        raise NotFound(f"no API key with id {key_id}", field="key_id")
    await revoke_keys(session, [key], now=now)
    return key


async def revoke_keys(session: AsyncSession, keys: list[ApiKey], *, now: datetime) -> None:
    """Revoke these keys (rows of the session), telling every process when it commits."""
    live = [key for key in keys if key.revoked_at is None]
    for key in live:
        key.revoked_at = now
    await session.flush()
    await revocations.announce(session, [key.key_hash for key in live])


async def add_domain(session: AsyncSession, organization_id: UUID, data: DomainCreate) -> WhitelabelDomain:
    """A host name brands one organization's links: taken by another, it is a 409 (which does
    not say which organization holds it)."""
    hostname = data.hostname.lower()
    existing = await repository.domain_by_hostname(session, hostname)
    if existing is not None:
        raise _taken(hostname, existing.organization_id == organization_id)
    domain = WhitelabelDomain(organization_id=organization_id, hostname=hostname)
    session.add(domain)
    try:
        await session.flush()
    except IntegrityError as exc:  # registered by a concurrent request since the check
        if not is_unique_violation(exc):
            raise
        raise _taken(hostname, None) from None
    return domain


def _taken(hostname: str, ours: bool | None) -> Conflict:
    whose = {True: "by this organization", False: "by another organization", None: ""}[ours]
    return Conflict(
        f"{hostname} is already registered {whose}".rstrip() + " (a host name brands one organization's links)",
        field="hostname",
    )


async def remove_domain(session: AsyncSession, organization_id: UUID, domain_id: UUID) -> None:
    domain = (
        await session.execute(
            select(WhitelabelDomain).where(WhitelabelDomain.id == domain_id, WhitelabelDomain.organization_id == organization_id)
        )
    ).scalar_one_or_none()
    if domain is None:
        raise NotFound(f"no white-label domain with id {domain_id}", field="domain_id")
    await session.delete(domain)
    await session.flush()
