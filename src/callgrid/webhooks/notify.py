"""In-process wake-up for delivery workers: `emit` + commit -> the worker looks now."""

import asyncio


class Notifier:
    def __init__(self) -> None:
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def register(self) -> asyncio.Event:
        wake = asyncio.Event()
        self._waiters.add((asyncio.get_running_loop(), wake))
        return wake

    def unregister(self, wake: asyncio.Event) -> None:
        self._waiters = {item for item in self._waiters if item[1] is not wake}

    def notify(self) -> None:
        for loop, wake in list(self._waiters):
            if loop.is_closed():
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                wake.set()
            else:
                loop.call_soon_threadsafe(wake.set)


notifier = Notifier()
