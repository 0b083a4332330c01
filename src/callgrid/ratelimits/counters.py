"""Fixed windows' counters: a window begins at its first request and lasts its period (the
`limits` library's fixed window); a request adds one to each window of its budget.

`hit` takes `(key, period in seconds)` pairs and answers `(count, seconds until the window
resets)` for each. In memory it is a dictionary's work; in Redis one round trip, whatever the
number of windows: `limits`' own script (`INCRBY`, and `EXPIRE` on the window's first
request) and a `PTTL` for each window, pipelined.
"""

import time
from collections.abc import Sequence

import redis.asyncio as redis
from limits.aio.storage import RedisStorage
from redis.exceptions import NoScriptError

Windows = Sequence[tuple[str, int]]


class MemoryCounters:
    """This process's own counters (without Redis)."""

    def __init__(self, size: int = 100_000, clock=time.monotonic):
        self.size = size
        self.clock = clock
        self._windows: dict[str, list] = {}  # key -> [ends at, count]

    async def hit(self, windows: Windows) -> list[tuple[int, float]]:
        now = self.clock()
        answers = []
        for key, period in windows:
            window = self._windows.get(key)
            if window is None or window[0] <= now:
                if window is None and len(self._windows) >= self.size:
                    self._forget_ended(now)
                window = self._windows[key] = [now + period, 0]
            window[1] += 1
            answers.append((window[1], window[0] - now))
        return answers

    def _forget_ended(self, now: float) -> None:
        self._windows = {key: window for key, window in self._windows.items() if window[0] > now}
        if len(self._windows) >= self.size:
            self._windows.clear()  # too many clients at once to remember: everyone starts anew

    async def close(self) -> None:
        pass


class RedisCounters:
    """Counters shared by every process on one Redis, under `<prefix>:ratelimit:`."""

    failures = (redis.RedisError, OSError, TimeoutError)

    def __init__(self, url: str, prefix: str, *, timeout: float = 0.5):
        # A slow Redis costs a request `timeout` at most; it then passes (the middleware's choice).
        pool = redis.ConnectionPool.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, client_name="callgrid-ratelimits"
        )
        self.storage = RedisStorage(
            "async+redis://", implementation="redispy", key_prefix=f"{prefix}:ratelimit", connection_pool=pool
        )
        self.bridge = self.storage.bridge
        self.client: redis.Redis = self.bridge.get_connection()
        self.script = self.bridge.lua_incr_expire

    async def hit(self, windows: Windows) -> list[tuple[int, float]]:
        keys = [(self.bridge.prefixed_key(key), period) for key, period in windows]
        try:
            replies = await self._pipeline(keys)
        except NoScriptError:
            # A Redis that has not seen the script yet (new, restarted, flushed): load it once.
            await self.client.script_load(self.script.script)
            replies = await self._pipeline(keys)
        answers = []
        for index, (_, period) in enumerate(keys):
            count, ttl_ms = replies[2 * index], replies[2 * index + 1]
            answers.append((int(count), ttl_ms / 1000 if ttl_ms > 0 else float(period)))
        return answers

    async def _pipeline(self, keys: list[tuple[str, int]]) -> list:
        pipe = self.client.pipeline(transaction=False)
        for key, period in keys:
            pipe.evalsha(self.script.sha, 1, key, period, 1)
            pipe.pttl(key)
        return await pipe.execute()

    async def close(self) -> None:
        await self.client.aclose()
        await self.client.connection_pool.disconnect()
