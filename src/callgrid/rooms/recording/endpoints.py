"""The recordings API: `/v1/rooms/{id}/recordings` (docs/rooms.md, Recording).

The media answer (`media_answer`, also behind a replay's signed media links) honours one HTTP
byte range (`Range: bytes=a-b`, `a-`, `-n`): 206 with `Content-Range`, 416 for a range past
the end; several ranges are answered with the whole file (200), as HTTP allows. It reads
through the recording storage, not a local path, so it works for any storage behind the
interface.
"""

import re
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from callgrid.db.session import ReadSession, WriteSession
from callgrid.errors import Conflict, NotFound, render_problem
from callgrid.kit.ids import parse_id
from callgrid.rooms import render as room_render
from callgrid.rooms import service as room_service
from callgrid.rooms.recording.models import Recording, RecordingStatus
from callgrid.rooms.recording.schemas import RecordingAnswer, RecordingList
from callgrid.rooms.recording.service import get_recording, page_recordings, render
from callgrid.rooms.recording.storage import RecordingStorage
from callgrid.tenancy.auth import CurrentPrincipal

router = APIRouter(prefix="/v1/rooms", tags=["rooms"])

Limit = Annotated[int, Query(ge=1, le=100, description="items per page, 1..100")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="items to skip")]
CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _storage(request: Request) -> RecordingStorage:
    return request.app.state.recording_storage


def _public_url(request: Request) -> str:
    return request.app.state.settings.public_url


def _not_found(recording_id: str) -> NotFound:
    return NotFound(f"no recording with id {recording_id} in this room", field="recording_id")


async def _recording(session, principal, room_id: str, recording_id: str) -> Recording:
    room = await room_service.get(session, principal.organization_id, room_id, host_id=principal.host_scope)
    parsed = parse_id(recording_id, what="recording", field="recording_id")
    recording = await get_recording(session, room.id, parsed)
    if recording is None:
        raise _not_found(recording_id)
    return recording


def _shown(request: Request, recording: Recording) -> dict:
    # While it is being written, its size is the file's so far.
    size = _storage(request).size(recording.path) if recording.status == RecordingStatus.RECORDING else None
    return render(recording, _public_url(request), size_bytes=size)


@router.get("/{room_id}/recordings", response_model=RecordingList, summary="A room's recordings, oldest first")
async def list_recordings(
    room_id: str, request: Request, principal: CurrentPrincipal, session: ReadSession, limit: Limit = 20, offset: Offset = 0
):
    room = await room_service.get(session, principal.organization_id, room_id, host_id=principal.host_scope)
    recordings, total = await page_recordings(session, room.id, offset, limit)
    return {"recordings": [_shown(request, r) for r in recordings], "paging": room_render.paging(limit, offset, total)}


@router.get("/{room_id}/recordings/{recording_id}", response_model=RecordingAnswer, summary="One recording")
async def get_one(room_id: str, recording_id: str, request: Request, principal: CurrentPrincipal, session: ReadSession):
    return {"recording": _shown(request, await _recording(session, principal, room_id, recording_id))}


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range asked for, as (first, last) inclusive; None for the whole file (no
    header, one we do not serve such as several ranges, or a malformed one). Raises
    ValueError for a range that cannot be satisfied."""
    if not header:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last n bytes
        count = int(last)
        if count == 0 or size == 0:
            raise ValueError("empty suffix range")
        return max(0, size - count), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise ValueError("range past the end")
    return start, end


def _read(storage: RecordingStorage, key: str, start: int, length: int) -> Iterator[bytes]:
    with storage.open_reader(key) as file:
        file.seek(start)
        left = length
        while left > 0:
            chunk = file.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk


_MEDIA = {"content": {"video/webm": {"schema": {"type": "string", "format": "binary"}}}}


@router.get(
    "/{room_id}/recordings/{recording_id}/media",
    summary="The recording's file (WebM), with HTTP range requests",
    response_class=Response,
    responses={
        200: {"description": "the whole file", **_MEDIA},
        206: {"description": "the byte range asked for (`Content-Range`)", **_MEDIA},
        416: {"description": "The range starts past the end of the file (`Content-Range: bytes */size`)"},
    },
)
async def media(room_id: str, recording_id: str, request: Request, principal: CurrentPrincipal, session: ReadSession):
    return await _media(room_id, recording_id, request, principal, session)


@router.head("/{room_id}/recordings/{recording_id}/media", include_in_schema=False)
async def media_head(room_id: str, recording_id: str, request: Request, principal: CurrentPrincipal, session: ReadSession):
    return await _media(room_id, recording_id, request, principal, session)


async def _media(room_id: str, recording_id: str, request: Request, principal, session) -> Response:
    return media_answer(request, await _recording(session, principal, room_id, recording_id))


def media_answer(request: Request, recording: Recording) -> Response:
    """The recording's file, or the byte range the request asks for (GET and HEAD); also the
    answer of a replay's signed link (callgrid.rooms.replay)."""
    storage = _storage(request)
    size = storage.size(recording.path)
    if size is None:
        raise NotFound(f"recording {recording.id} has no file", field="recording_id")
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff"}
    try:
        wanted = parse_range(request.headers.get("range"), size)
    except ValueError:
        message = f"the file has {size} bytes"
        request_id = (request.scope.get("state") or {}).get("request_id")
        refused = render_problem(416, f"range: {message}", [{"field": "range", "message": message}],
                                 {"request_id": request_id} if request_id else {})
        refused.headers.update({**headers, "Content-Range": f"bytes */{size}"})
        return refused
    start, end, status = (0, size - 1, 200) if wanted is None else (*wanted, 206)
    length = max(0, end - start + 1)
    headers["Content-Length"] = str(length)
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=recording.media_type)
    return StreamingResponse(_read(storage, recording.path, start, length), status_code=status, headers=headers, media_type=recording.media_type)


@router.delete("/{room_id}/recordings/{recording_id}", status_code=204, summary="Delete a recording and its file")
async def delete_recording(room_id: str, recording_id: str, request: Request, principal: CurrentPrincipal, session: WriteSession):
    recording = await _recording(session, principal, room_id, recording_id)
    if recording.status == RecordingStatus.RECORDING:
        raise Conflict("the recording is still being written; delete it once it is ready", field="recording_id")
    await session.delete(recording)
    await session.flush()
    # The file goes once the row's delete is committed (the session commits before the answer).
    return Response(status_code=204, background=BackgroundTask(_storage(request).delete, recording.path))
