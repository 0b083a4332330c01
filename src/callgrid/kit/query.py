"""Query parameters an operation does not take are refused (400 naming them), as unknown body
fields are (`StrictModel`): a misspelt filter (`?groupid=`, `?page_sise=`) would otherwise be
ignored silently and answer something else than what was asked.

One dependency of the whole app (`FastAPI(dependencies=...)`), so every route has it, those of
routers written later too. It compares the request's parameter names with the ones the matched
route declares (its own and its dependencies', read once per route from FastAPI's dependency
tree). Pages people open in a browser (left out of the OpenAPI document and outside `/api/` and
`/v1/`: their links may carry anything a mail or chat client adds) and WebSockets are not checked.
"""

from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.requests import HTTPConnection

_DECLARED = "_callgrid_declared_query"
# The APIs' paths: checked even where a route is left out of the document (the appointments
# API's twin of each path, with or without its trailing slash).
API_PATHS = ("/api/", "/v1/")


def _model(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def declared_query(route: APIRoute) -> frozenset[str]:
    """The names of the query parameters `route` takes (aliases, as clients send them)."""
    names = getattr(route, _DECLARED, None)
    if names is None:
        found: set[str] = set()
        stack, seen = [route.dependant], set()
        while stack:
            dependant = stack.pop()
            if id(dependant) in seen:
                continue
            seen.add(id(dependant))
            for field in dependant.query_params:
                model = _model(field.field_info.annotation)
                if model is not None:  # a model of query parameters: its fields
                    found.update(info.alias or name for name, info in model.model_fields.items())
                else:
                    found.add(field.alias)
            stack.extend(dependant.dependencies)
        names = frozenset(found)
        setattr(route, _DECLARED, names)
    return names


async def refuse_unknown_query(connection: HTTPConnection) -> None:
    scope = connection.scope
    if scope.get("type") != "http" or not scope.get("query_string"):
        return
    route = scope.get("route")
    if not isinstance(route, APIRoute) or not (route.include_in_schema or route.path.startswith(API_PATHS)):
        return
    allowed = declared_query(route)
    unknown = [name for name in dict.fromkeys(connection.query_params.keys()) if name and name not in allowed]
    if unknown:
        takes = ", ".join(sorted(allowed)) if allowed else "no query parameters"
        raise RequestValidationError(
            [
                {"type": "extra_forbidden", "loc": ("query", name), "msg": f"is not a query parameter of this operation (it takes {takes})"}
                for name in unknown
            ]
        )
