from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from callgrid.kit.models import StrictModel
from callgrid.kit.timestamps import UtcTimestamp
from callgrid.tenancy.models import KeyRole

HOSTNAME = r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"


class DomainCreate(StrictModel):
    hostname: Annotated[str, Field(min_length=1, max_length=253, pattern=HOSTNAME)]


class DomainRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    hostname: str
    created_at: UtcTimestamp


class ApiKeyCreate(StrictModel):
    name: Annotated[str, Field(max_length=255, description="a label for the key")] = ""
    host_id: UUID | None = Field(None, description="the host the key acts as; the organization's owner when left out")
    role: KeyRole = Field(
        KeyRole.HOST,
        description="`admin`: the whole organization (every host's objects, keys, webhooks, hosts, domains); "
        "`host`: only what its host may (docs/roles.md)",
    )


class ApiKeyRead(BaseModel):
    """A key as lists show it: never the key itself, which is stored only as a hash."""

    model_config = ConfigDict(from_attributes=True)
    id: UUID
    name: str = Field(description="its label")
    host_id: UUID = Field(description="the host it acts as")
    role: KeyRole = Field(description="`admin` or `host` (docs/roles.md)")
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    created_at: UtcTimestamp
    last_used_at: UtcTimestamp | None = Field(description="when it was last used (to the minute: written at most once a minute)")


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="the key: shown only in this answer, stored only as a hash")
