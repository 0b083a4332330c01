"""Rate limits: a budget per API key for the APIs and per client address for the public
pages, counted in fixed windows (in this process, or shared through Redis).

- `budgets`: which budget a request spends, and whose it is (an API key, an address).
- `counters`: the windows' counters, in memory or in Redis (one round trip a request).
- `middleware`: the ASGI middleware that spends, refuses with 429 and writes the headers.
"""
