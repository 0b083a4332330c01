"""A connection pool that serves its waiters in the order they came.

SQLAlchemy's asyncio pool hands a returned connection to whoever asks next, and a request that
gives a connection back and asks again at once (a read, then its write section) takes it before
the waiter woken for it has run; that waiter goes back to the end of the line. Under load a
few requests were passed over again and again: with 32 creates on 20 connections the p99 was
eight times the median (bench/create_calls.py). Here a returned connection goes straight to the
first waiter, and nobody takes a free connection while others wait.
"""

import asyncio
from collections import deque

from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import queue as sqla_queue
from sqlalchemy.util.concurrency import await_


class FairQueue(sqla_queue.QueueCommon):
    """The pool's idle connections, and its waiters in line (first come, first served)."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False):
        self.maxsize = maxsize
        self.use_lifo = use_lifo
        self._items: deque = deque()
        self._waiters: deque[asyncio.Future] = deque()

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._items)

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        if self.full():
            raise sqla_queue.Full()
        self._items.append(item)

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)  # the pool never holds more than it made: a put never has to wait

    def get_nowait(self):
        # The pool asks without waiting only while it may still open connections (and when it
        # disposes of them): nobody waits then, as a returned connection goes to a waiter.
        if self._items:
            return self._items.pop() if self.use_lifo else self._items.popleft()
        raise sqla_queue.Empty()

    def get(self, block: bool = True, timeout: float | None = None):
        if not block or self._items and not self._waiting():
            return self.get_nowait()
        return await_(self._wait(timeout))

    def _waiting(self) -> bool:
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()
        return bool(self._waiters)

    async def _wait(self, timeout: float | None):
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(waiter)
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():
                self.put_nowait(waiter.result())  # handed over as this waiter gave up: the next one's
            else:
                waiter.cancel()
            if isinstance(error, TimeoutError):
                raise sqla_queue.Empty() from None
            raise


class FairAsyncPool(AsyncAdaptedQueuePool):
    _queue_class = FairQueue
    # Logs where SQLAlchemy's own pool logs (`sqlalchemy.pool`), not in Callgrid's loggers.
    _sqla_logger_namespace = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"
