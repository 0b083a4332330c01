"""Ids in paths and bodies: a value that is not a UUID names nothing, so it reads as missing."""

from uuid import UUID

from callgrid.errors import NotFound


def not_found(what: str, value: object, field: str) -> NotFound:
    return NotFound(f"no {what} with id {value}", field=field)


def parse_id(value: str | None, *, what: str, field: str = "id") -> UUID:
    """The UUID in `value`, or the same 404 as for an id that does not exist."""
    try:
        return UUID(value)
    except (TypeError, ValueError, AttributeError):
        raise not_found(what, value, field) from None


def optional_id(value: str | None) -> UUID | None:
    """An id to leave out of something: one that names nothing leaves nothing out."""
    if value is None:
        return None
    try:
        return UUID(value)
    except ValueError:
        return None
