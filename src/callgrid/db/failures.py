"""A database Callgrid cannot use, said in one line: which URL (password masked), what is
wrong, what to do. For the CLI (`serve`, `migrate`, `worker`, `orgs`, `keys`) and `/readyz`."""

import asyncio
import socket
import sqlite3
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncEngine

CONNECT_WITHIN = 10.0  # seconds


class DatabaseUnusable(Exception):
    """The database cannot be used; `str()` is the one line to show."""


def mask_url(url: str) -> str:
    """`url` with its password (if any) as `***`."""
    try:
        parsed = make_url(url)
    except Exception:
        return "<an unreadable URL>"
    if parsed.password is not None:
        parsed = parsed.set(password="***")
    return parsed.render_as_string(hide_password=False)


def _sqlstate(exc: BaseException) -> str | None:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
        if isinstance(state, str):
            return state
        exc = getattr(exc, "orig", None) or exc.__cause__
    return None


def _message(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text_ = str(orig if orig is not None else exc) or type(exc).__name__
    return " ".join(text_.split())


def explain(exc: BaseException, url: str) -> str:
    """One line for a failure to connect to (or read from) the database at `url`."""
    shown = mask_url(url)
    try:
        parsed = make_url(url)
    except Exception:
        return f"CALLGRID_DATABASE_URL is not a database URL: {shown} (e.g. postgresql://user@host/db or sqlite:///./callgrid.db)"
    backend = parsed.get_backend_name()
    host = parsed.host or "localhost"
    port = parsed.port or 5432
    user = parsed.username or "postgres"
    name = parsed.database or ""
    where = f"database {shown}"
    if isinstance(exc, (NoSuchModuleError, ArgumentError, ImportError)) or backend not in ("postgresql", "sqlite"):
        return f"cannot use {where}: Callgrid runs on PostgreSQL (postgresql://...) or SQLite (sqlite:///...): {_message(exc)}"
    if backend == "sqlite":
        if isinstance(exc, (sqlite3.Error, DBAPIError)) and "unable to open" in _message(exc):
            return f"cannot open the SQLite {where}: does the directory of {name!r} exist and is it writable?"
        return f"cannot use the SQLite {where}: {_message(exc)}"
    state = _sqlstate(exc)
    if state == "3D000":
        return f"{where} does not exist: create it with `createdb -h {host} -p {port} -U {user} {name}`, then start again"
    if state == "28P01":
        return f"password authentication failed for user {user!r} on {where}: check the password in CALLGRID_DATABASE_URL"
    if state == "28000":
        return f"{where} refused the login: {_message(exc)} (create the role with `createuser -h {host} -p {port} {user}`, or fix pg_hba.conf)"
    if state == "53300":
        return f"{where} has too many connections: {_message(exc)} (lower CALLGRID_DATABASE_POOL_SIZE or raise max_connections)"
    if state == "57P03":
        return f"{where} is starting up or shutting down: try again in a moment"
    if isinstance(exc, ConnectionRefusedError) or (isinstance(exc, OSError) and exc.errno == 111):
        return f"{where}: connection refused at {host}:{port}: is PostgreSQL running and listening there?"
    if isinstance(exc, socket.gaierror):
        return f"{where}: cannot resolve the host {host!r}: check the host name in CALLGRID_DATABASE_URL"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return f"{where}: no answer from {host}:{port} within {CONNECT_WITHIN:g} s: is the address right, is a firewall in the way?"
    return f"cannot connect to {where}: {type(exc).__name__}: {_message(exc)}"


def check_url(url: str) -> None:
    """What can be said of `url` without connecting: a backend Callgrid runs on; for SQLite, a
    file whose directory exists (aiosqlite failing to open one leaves a thread behind that
    prints a traceback when the program ends)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUnusable(explain(exc, url)) from None
    backend = parsed.get_backend_name()
    if backend not in ("postgresql", "sqlite"):
        raise DatabaseUnusable(explain(ValueError(f"unsupported backend {backend!r}"), url))
    if backend == "sqlite" and parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
        path = Path(parsed.database)
        if not path.parent.is_dir() or path.is_dir():
            raise DatabaseUnusable(explain(sqlite3.OperationalError("unable to open database file"), url))


async def check_connection(engine: AsyncEngine, url: str, *, within: float = CONNECT_WITHIN) -> None:
    """Connect and run `SELECT 1`; raise `DatabaseUnusable` with the one line otherwise."""
    check_url(url)
    try:
        async with asyncio.timeout(within):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except (DBAPIError, OSError, TimeoutError, sqlite3.Error) as exc:
        raise DatabaseUnusable(explain(exc, url)) from None
