"""Work that must come first when the process is asked to stop (SIGTERM, or Ctrl-C's SIGINT
under a server): run it, then hand the signal to whoever handled it before (uvicorn, whose
graceful shutdown stops listening, lets requests in flight finish and then runs the app's
lifespan shutdown). Used for the rooms' sockets, which uvicorn would close with no reason."""

import asyncio
import logging
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

log = logging.getLogger("callgrid.stop")


def _handled(number: signal.Signals):
    """The handler to chain to: a server's (not Python's defaults: none is serving)."""
    handler = signal.getsignal(number)
    if not callable(handler) or handler is signal.default_int_handler:
        return None
    return handler


@asynccontextmanager
async def first_on_stop(work: Callable[[], Awaitable[None]], timeout: float) -> AsyncIterator[None]:
    """While inside, SIGTERM and SIGINT run `work` (at most `timeout` seconds) before the
    handler they had. A second signal goes to that handler at once. Outside the main thread,
    or where nobody handles the signals (tests), nothing is changed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous = {number: handler for number in (signal.SIGTERM, signal.SIGINT) if (handler := _handled(number))}
    started: list[asyncio.Task] = []

    async def run_then_pass_on(number: int) -> None:
        try:
            async with asyncio.timeout(timeout):
                await work()
        except Exception:
            log.exception("stopping: the work before the shutdown failed")
        finally:
            previous[number](number, None)

    def on_signal(number: int, frame) -> None:
        if started:
            previous[number](number, frame)
        else:
            loop.call_soon_threadsafe(lambda: started.append(loop.create_task(run_then_pass_on(number))))

    for number in previous:
        signal.signal(number, on_signal)
    try:
        yield
    finally:
        for number, handler in previous.items():
            if signal.getsignal(number) is on_signal:
                signal.signal(number, handler)
