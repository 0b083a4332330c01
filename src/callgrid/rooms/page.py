"""The room page: `/rooms/{id}` (with `?token=`, `?key=`, or nothing for an open room) and the
files it loads from `/static/`, all from the package (callgrid/web/static): plain HTML, CSS and
ES modules, no build step, nothing from another site.

The page is the same file for every room. It asks `GET /v1/rooms/{id}/join-info` with the
credentials of its own address what the room allows, then joins over the live WebSocket
(docs/rooms.md); refusals (a bad link, a terminated room) are shown by the page from those
answers. Links in the page are relative, so it also works under a path prefix.
"""

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"

router = APIRouter(include_in_schema=False)

_files = StaticFiles(directory=STATIC)

# The page runs only its own scripts and styles; media and sockets go to this origin (the
# media between browsers is WebRTC, which CSP does not govern). The join token is in the
# page's address: no referrer leaves it.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self' blob: mediastream:; connect-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


# The camera, the microphone and screen sharing for the room page itself, for no frame in it
# (and for nothing that frames it from another origin).
_ROOM_HEADERS = {
    **_PAGE_HEADERS,
    "Permissions-Policy": "camera=(self), microphone=(self), display-capture=(self)",
}


@router.get("/rooms/{room_id}")
async def room_page(room_id: str) -> Response:
    return FileResponse(STATIC / "room.html", media_type="text/html; charset=utf-8", headers=_ROOM_HEADERS)


@router.get("/static/{path:path}")
async def static_file(path: str, request: Request) -> Response:
    """The page's scripts and styles (revalidated on every load: an upgrade shows at once)."""
    response = await _files.get_response(path, request.scope)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
