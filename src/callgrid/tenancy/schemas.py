from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from callgrid.kit.models import StrictModel

HOSTNAME = r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"


class DomainCreate(StrictModel):
    hostname: Annotated[str, Field(min_length=1, max_length=253, pattern=HOSTNAME)]


class DomainRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    hostname: str
    created_at: datetime
