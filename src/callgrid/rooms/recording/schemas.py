"""The recordings API's answers, and the `data` of `recording.ready`."""

from typing import Literal

from pydantic import BaseModel

from callgrid.rooms.schemas import Paging


class RecordingOut(BaseModel):
    id: str
    room_id: str
    session_id: str
    member_id: str
    user_id: str | None
    started_at: str
    ended_at: str | None
    duration_ms: int | None
    size_bytes: int | None
    media_type: str
    status: Literal["recording", "ready", "interrupted"]
    media_url: str


class RecordingList(BaseModel):
    recordings: list[RecordingOut]
    paging: Paging


class RecordingAnswer(BaseModel):
    recording: RecordingOut
