"""What a newcomer meets on the command line: a database Callgrid cannot use is one line on
stderr (the URL with its password masked, what to do) and exit status 2, for every command
that opens the database; `postgresql://` and `postgres://` URLs work; `--version`; links
name the address `serve` listens on."""

import asyncio
import json
import socket
import struct
import subprocess
import threading
from importlib.metadata import version

import httpx
import pytest

from tests.support import forked
from tests.support.databases import sqlite_url
from tests.support.postgres import POSTGRES_URL, new_database_sync
from tests.support.processes import free_port, stop_process
from tests.support.servers import CALLGRID, callgrid_env

pytestmark = pytest.mark.slow  # each case runs `callgrid` as a process

PASSWORD = "pw-Sh0uld-N0t-Show"

# Every command that opens the database, as a newcomer would type it.
COMMANDS = {
    "serve": ["serve", "--port", "0"],
    "migrate": ["migrate"],
    "worker": ["worker"],
    "orgs create": ["orgs", "create", "Acme"],
    "keys create": ["keys", "create", "--org", "acme"],
}


def run(database_url: str, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return forked.run(list(args), callgrid_env(database_url, **extra), timeout=120)


def assert_one_line_exit_2(done: subprocess.CompletedProcess, *fragments: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stdout == "", done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and done.stderr.endswith("\n"), done.stderr
    line = lines[0]
    assert "Traceback" not in line and PASSWORD not in line, line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


class RefusingPostgres:
    """A server that speaks just enough of PostgreSQL's protocol to refuse every login with
    "password authentication failed" (SQLSTATE 28P01), as a server with the wrong password
    configured would (the test server trusts every login)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._refuse, args=(connection,), daemon=True).start()

    @staticmethod
    def _read_packet(connection) -> bytes:
        header = connection.recv(4, socket.MSG_WAITALL)
        (length,) = struct.unpack("!I", header)
        return connection.recv(length - 4, socket.MSG_WAITALL)

    def _refuse(self, connection):
        with connection:
            try:
                packet = self._read_packet(connection)
                if struct.unpack("!I", packet[:4])[0] in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                    connection.sendall(b"N")
                    packet = self._read_packet(connection)
                user = "app"
                fields = packet[4:].split(b"\0")
                if b"user" in fields:
                    user = fields[fields.index(b"user") + 1].decode()
                body = b"".join(
                    [b"SFATAL\0", b"VFATAL\0", b"C28P01\0",
                     f'Mpassword authentication failed for user "{user}"\0'.encode(), b"\0"]
                )
                connection.sendall(b"E" + struct.pack("!I", len(body) + 4) + body)
            except (OSError, struct.error):
                pass

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def refusing_postgres():
    server = RefusingPostgres()
    yield server
    server.close()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_refused_connection(command):
    port = free_port()  # nothing listens there
    done = run(f"postgres://app:{PASSWORD}@127.0.0.1:{port}/callgrid", *COMMANDS[command])
    assert_one_line_exit_2(done, f"postgresql+asyncpg://app:***@127.0.0.1:{port}/callgrid", "connection refused",
                           "is PostgreSQL running")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_wrong_password(command, refusing_postgres):
    url = f"postgresql://app:{PASSWORD}@127.0.0.1:{refusing_postgres.port}/callgrid"
    done = run(url, *COMMANDS[command])
    assert_one_line_exit_2(done, f"app:***@127.0.0.1:{refusing_postgres.port}/callgrid",
                           "password authentication failed for user 'app'", "check the password in CALLGRID_DATABASE_URL")


@pytest.mark.skipif(not POSTGRES_URL, reason="CALLGRID_TEST_POSTGRES_URL is not set")
@pytest.mark.parametrize("command", COMMANDS)
def test_a_database_that_does_not_exist(command):
    from sqlalchemy.engine import make_url

    server = make_url(POSTGRES_URL)
    name = f"callgrid_never_created_{free_port()}"
    url = server.set(drivername="postgresql", database=name, password=PASSWORD).render_as_string(hide_password=False)
    done = run(url, *COMMANDS[command])
    line = assert_one_line_exit_2(done, f"{name} does not exist", f"createdb -h {server.host}", f" {name}`")
    assert ":***@" in line


@pytest.mark.parametrize("command", COMMANDS)
def test_a_sqlite_file_in_a_directory_that_does_not_exist(command, tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "callgrid.db"
    done = run(f"sqlite:///{missing}", *COMMANDS[command])
    assert_one_line_exit_2(done, f"sqlite+aiosqlite:///{missing}", "does the directory", "exist")
    assert not missing.parent.exists()


def test_a_url_of_another_database(tmp_path):
    done = run(f"mysql://app:{PASSWORD}@127.0.0.1/callgrid", "migrate")
    assert_one_line_exit_2(done, "mysql://app:***@127.0.0.1/callgrid", "PostgreSQL", "SQLite")


def test_the_worker_refuses_a_database_never_migrated(tmp_path):
    url = sqlite_url(tmp_path / "fresh.db")
    done = run(url, "worker")
    assert_one_line_exit_2(done, "never migrated", "callgrid migrate")
    assert not (tmp_path / "fresh.db").exists(), "the worker creates no database"
    (tmp_path / "fresh.db").touch()  # an empty file: a database with no tables
    assert_one_line_exit_2(run(url, "worker"), "never migrated", "callgrid migrate")
    # Once migrated, the same worker starts (and stops on SIGTERM).
    assert run(url, "migrate").returncode == 0
    worker = subprocess.Popen([CALLGRID, "worker"], env=callgrid_env(url), stderr=subprocess.PIPE, text=True)
    try:
        assert "webhook worker started" in worker.stderr.readline()
    finally:
        stop_process(worker)
    assert worker.returncode == 0
    assert "webhook worker stopped" in worker.stderr.read()


@pytest.mark.skipif(not POSTGRES_URL, reason="CALLGRID_TEST_POSTGRES_URL is not set")
def test_postgresql_and_postgres_urls_are_read_as_asyncpg():
    with new_database_sync("callgrid_ops_urls") as url:
        plain = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        short = url.replace("postgresql+asyncpg://", "postgres://", 1)
        never = run(plain, "worker")
        assert_one_line_exit_2(never, "never migrated")
        migrated = run(plain, "migrate")
        assert migrated.returncode == 0 and migrated.stderr.strip() == "database is up to date", migrated.stderr
        created = run(short, "orgs", "create", "Acme", "--json")
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["organization"]["slug"] == "acme"
        key = run(short, "keys", "create", "--org", "acme")
        assert key.returncode == 0 and key.stdout.startswith("cg_"), key.stderr


def test_version():
    done = subprocess.run([CALLGRID, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"callgrid {version('callgrid')}\n"


def test_links_name_the_address_served_unless_public_url_is_set(tmp_path):
    port = free_port()
    env = callgrid_env(sqlite_url(tmp_path / "links.db"))
    assert "CALLGRID_PUBLIC_URL" not in env
    process = subprocess.Popen([CALLGRID, "serve", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        key = process.stdout.readline().strip()
        assert key.startswith("cg_")
        base = f"http://127.0.0.1:{port}"

        async def make_room():
            async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, trust_env=False) as http:
                for _ in range(600):
                    try:
                        if (await http.get("/healthz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        await asyncio.sleep(0.1)
                response = await http.post("/v1/rooms", json={"name": "Links", "type": "public"})
                assert response.status_code == 200, response.text
                return response.json()

        room = asyncio.run(make_room())
        assert room["room"]["url"].startswith(f"{base}/rooms/"), room
    finally:
        stop_process(process)
