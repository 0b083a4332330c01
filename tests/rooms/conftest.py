"""Rooms tests: the app served by a real uvicorn in this process (WebSockets need a real
server; httpx's ASGI transport has none), real WebSocket clients (`websockets`), and the app's
movable clock (tokens expire by it)."""

import asyncio
import json
import time
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from callgrid.config import Settings
from tests.support.processes import free_port
from tests.support.time import now  # noqa: F401 (autouse: the app's clock at NOW)


def pytest_configure(config):
    config.addinivalue_line("markers", "room_settings(**fields): Settings fields for the rooms tests' app")


@pytest.fixture
def settings(request, database_url, embedded_worker) -> Settings:
    fields: dict[str, Any] = {"run_embedded_worker": embedded_worker, "rate_limits": False}
    marker = request.node.get_closest_marker("room_settings")
    if marker is not None:
        fields.update(marker.kwargs)
    return Settings(database_url=database_url, public_url="http://callgrid.test", api_key_cache_seconds=0.0, **fields)


@asynccontextmanager
async def serve(app):
    """`app` on a real uvicorn on loopback, in this event loop (its lifespan is the caller's);
    yields the base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    deadline = time.monotonic() + 10
    while not served.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        served.should_exit = True
        await asyncio.wait_for(task, timeout=10)


@pytest.fixture
async def server(app):
    """The test's app on a real uvicorn on loopback."""
    async with serve(app) as base:
        yield base


def live_url(base: str, room_id: str, **query: str) -> str:
    from urllib.parse import urlencode

    ws = base.replace("http://", "ws://", 1)
    return f"{ws}/v1/rooms/{room_id}/live" + (f"?{urlencode(query)}" if query else "")


class Peer:
    """One participant's WebSocket, with its messages kept in order."""

    def __init__(self, ws):
        self.ws = ws
        self.seen: list[dict] = []
        self._unread: list[dict] = []
        self.welcome: dict | None = None

    @classmethod
    async def join(cls, url: str) -> "Peer":
        """Connect and read the `welcome` (fails if the join is refused)."""
        peer = cls(await connect(url, open_timeout=10, ping_interval=None))
        peer.welcome = await peer.next("welcome")
        return peer

    @property
    def session_id(self) -> str:
        return self.welcome["session_id"]

    async def send(self, message: dict) -> None:
        await self.ws.send(json.dumps(message))

    async def next(self, type_: str, timeout: float = 10.0, **match: Any) -> dict:
        """The first unread message of `type_` (with the fields in `match`); others stay unread."""
        async with asyncio.timeout(timeout):
            while True:
                for index, message in enumerate(self._unread):
                    if message["type"] == type_ and all(message.get(k) == v for k, v in match.items()):
                        return self._unread.pop(index)
                message = json.loads(await self.ws.recv())
                self.seen.append(message)
                self._unread.append(message)

    async def closed(self, timeout: float = 10.0) -> tuple[int, str]:
        """Read until the server closes; its close code and reason."""
        async with asyncio.timeout(timeout):
            try:
                while True:
                    message = json.loads(await self.ws.recv())
                    self.seen.append(message)
                    self._unread.append(message)
            except ConnectionClosed as closed:
                if closed.rcvd is None:
                    raise AssertionError(f"closed without a close frame: {closed!r}") from None
                return closed.rcvd.code, closed.rcvd.reason

    async def close(self) -> None:
        await self.ws.close()


async def refused(url: str) -> tuple[int, str]:
    """A join that must be refused: the close code and reason, and no message before them."""
    async with connect(url, open_timeout=10, ping_interval=None) as ws:
        try:
            message = await asyncio.wait_for(ws.recv(), timeout=10)
        except ConnectionClosed as closed:
            return closed.rcvd.code, closed.rcvd.reason
        raise AssertionError(f"the join was not refused: {message}")


async def create_room(tenant, **fields) -> dict:
    body = {"name": "Weekly Meet", "type": "public", **fields}
    response = await tenant.client.post("/v1/rooms", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def join_token(tenant, room_id: str, user_id: str, **fields) -> dict:
    response = await tenant.client.post(f"/v1/rooms/{room_id}/join-tokens", json={"user_id": user_id, **fields})
    assert response.status_code == 200, response.text
    return response.json()


@asynccontextmanager
async def heartbeats(*peers: Peer, every: float = 0.3):
    """Peers that send `ping` while the block runs (as the room page does). Given a list, the
    peers added to it later send pings too."""
    if len(peers) == 1 and isinstance(peers[0], list):
        peers = peers[0]

    async def beat():
        while True:
            for peer in list(peers):
                try:
                    await peer.send({"type": "ping"})
                except ConnectionClosed:
                    pass
            await asyncio.sleep(every)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
