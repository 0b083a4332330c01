from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


async def get_clock(request: Request) -> Clock:
    """The app's notion of now; tests replace `app.state.clock` to move through a call's
    lifecycle. (`async def`: FastAPI runs a plain `def` dependency in a worker thread.)"""
    return request.app.state.clock


async def get_now(request: Request) -> datetime:
    """Now, read once per request: every part of a request sees the same instant."""
    return request.app.state.clock()


CurrentClock = Annotated[Clock, Depends(get_clock)]
Now = Annotated[datetime, Depends(get_now)]
