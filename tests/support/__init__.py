"""Helpers shared by the tests: one copy of each, imported where needed.

- `processes`: free ports, waiting for a port, stopping a process;
- `postgres`: the test PostgreSQL server (`CALLGRID_TEST_POSTGRES_URL`): databases made and dropped;
- `databases`: the backends a database test runs on, migrating and cleaning a database;
- `servers`: `callgrid serve` as a process of its own, and the CLI;
- `time`: the tests' movable clock and the fixed moment most API tests run at;
- `problems`: what an RFC 9457 problem answer must look like;
- `rows`: organizations and hosts written straight into a service-level test's session;
- `tenants`: organizations with a key and an HTTP client of the app in this process.
"""
