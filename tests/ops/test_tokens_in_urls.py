"""Tokens in pages' addresses (join, manage and booking tokens, `?token=`, `?key=`) reach no
log line of a real `callgrid serve` (at debug, text and JSON), and no `Referer`: every page
says `Referrer-Policy: no-referrer`."""

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.databases import sqlite_url
from tests.support.servers import Served, callgrid_env

pytestmark = pytest.mark.slow  # a real server process

SECRETS = {
    "query token": "Qtoken-0123456789abcdefXYZ",
    "query key": "Qkey-0123456789abcdefXYZ",
    "manage token": "Mtoken0123456789abcdefXYZ",
    "path token": "Ptoken0123456789abcdefXYZ",
    "socket token": "Stoken-0123456789abcdefXYZ",
}


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_no_token_of_an_address_is_logged(tmp_path, log_format):
    server = Served(callgrid_env(sqlite_url(tmp_path / "tokens.db"), CALLGRID_LOG_FORMAT=log_format),
                    log=tmp_path / "serve.log", args=("--log-level", "debug"))
    s = SECRETS
    try:
        async with server.client(server.first_key) as http:
            room = (await http.post("/v1/rooms", json={"name": "R", "type": "public"})).json()["room"]
            pages = [
                f"/rooms/{room['id']}?token={s['query token']}&key={s['query key']}",
                f"/rooms/{room['id']}/replay?token={s['query token']}",
                f"/bookings/{s['manage token']}",
                f"/bookings/{s['manage token']}.ics",
                f"/bookings/{s['path token']}/no-such-page",
                f"/book/acme/intro?key={s['query key']}",
            ]
            for path in pages:
                r = await http.get(path)
                if r.headers.get("content-type", "").startswith("text/html"):
                    assert r.headers["referrer-policy"] == "no-referrer", path
            assert (await http.put(f"/bookings/{s['manage token']}")).status_code == 405
            assert (await http.post(f"/bookings/{s['path token']}/cancel?token={s['query token']}", json={})).status_code in (400, 404)
            ws = server.base_url.replace("http", "ws") + f"/v1/rooms/{room['id']}/live?token={s['socket token']}"
            try:
                async with connect(ws, open_timeout=10, ping_interval=None) as socket:
                    await socket.recv()
            except (InvalidStatus, Exception):
                pass
    finally:
        server.stop()
    log = server.log.read_text()
    assert "/bookings/{token}" in log and "/rooms/{room_id}" in log  # the requests were logged, by template
    for what, secret in s.items():
        assert secret not in log, f"the {what} is in the log"
