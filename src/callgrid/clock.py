from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import Request

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


async def get_clock(request: Request) -> Clock:
    """The app's notion of now; tests replace `app.state.clock` to move through a call's lifecycle.
    (`async def`: FastAPI runs a plain `def` dependency in a worker thread, a thread hop per request.)"""
    return request.app.state.clock
