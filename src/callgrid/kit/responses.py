"""JSON answers made of plain values (what the renderers make: str, int, float, bool, None,
lists and dicts), written straight away. An endpoint that returns a dict has FastAPI walk it
with `jsonable_encoder` first: a third of a video-calls page's time. A value that is not
plain is still encoded as that walk would have encoded it."""

import json
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse


class PlainJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"), default=jsonable_encoder
        ).encode("utf-8")
