"""A router whose paths answer with and without their trailing slash, with no redirect."""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter


class SlashOptionalRouter(APIRouter):
    """Registers every path twice: as written (the documented form, in the OpenAPI schema) and
    its twin with the trailing slash added or removed (same endpoint, left out of the schema).
    Starlette would otherwise answer the twin with a redirect, which clients posting a body
    do not all follow."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, endpoint, **kwargs)
        twin = path.removesuffix("/") if path.endswith("/") else f"{path}/"
        super().add_api_route(twin, endpoint, **{**kwargs, "include_in_schema": False})
