"""Key guessing: a request whose API key is refused (401) spends its address's `public` budget
too, after the answer. Once that budget is spent, the address's requests with a key this
process has not seen accepted are refused (429) until the window ends; keys that work keep
working from there (one misconfigured client behind an office's address stops no one else).

Each key has a budget of its own (`api`), so without this a client inventing a new key for
every request would never run out, and each invented key costs a database lookup. The count
is shared through Redis when configured (every process spends the same counter); the
refusals are decided in each process, so a spent address gets at most one more 401 per
process before it is refused."""

import math
import time

# Bounds of the two tables (addresses refused, keys seen accepted): past them the oldest go.
MAX_ENTRIES = 10_000
# A key seen accepted is trusted from a refused address for this long after it was last seen.
KEY_TRUSTED_FOR = 300.0


class Guessing:
    def __init__(self) -> None:
        self._refused: dict[str, tuple[float, list[tuple[bytes, bytes]], str]] = {}  # address -> (until, headers, detail)
        self._accepted: dict[str, float] = {}  # key digest -> until

    def refusal(self, address: str, key: str) -> tuple[list[tuple[bytes, bytes]], str] | None:
        """(headers, detail) of a 429 for a request of `address` with `key`, or None to serve it."""
        if not self._refused:
            return None
        entry = self._refused.get(address)
        if entry is None:
            return None
        now = time.monotonic()
        until, headers, detail = entry
        if until <= now:
            del self._refused[address]
            return None
        if self._accepted.get(key, 0.0) > now:
            return None
        wait = str(max(1, math.ceil(until - now))).encode()
        headers = [(name, wait if name in (b"retry-after", b"ratelimit-reset") else value) for name, value in headers]
        return headers, detail

    def accepted(self, key: str) -> None:
        if len(self._accepted) >= MAX_ENTRIES:
            self._accepted.clear()
        self._accepted[key] = time.monotonic() + KEY_TRUSTED_FOR

    def refuse(self, address: str, seconds: float, headers: list[tuple[bytes, bytes]], detail: str) -> None:
        if len(self._refused) >= MAX_ENTRIES:
            now = time.monotonic()
            self._refused = {a: e for a, e in self._refused.items() if e[0] > now}
            if len(self._refused) >= MAX_ENTRIES:
                self._refused.clear()
        self._refused[address] = (time.monotonic() + seconds, headers, detail)
