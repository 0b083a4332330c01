"""The replay page in a real browser against a real `callgrid serve`: a meeting (participants
over the live protocol: a chat message, a red stroke, a clear, another message) played back
with its seek bar: before the stroke the board is empty, just after it the stroke is on the
canvas, after the clear it is gone, and the chat shows the messages of that moment only; play
moves the time on; a link without a token is refused. The replay clock's arithmetic for
recordings (replay-sync.js) in the browser. (Recordings played on the page:
tests/web/test_recording.py.)"""

import asyncio
from datetime import datetime

import httpx
import pytest

from tests.rooms.conftest import Peer, live_url
from tests.support.servers import Served
from tests.web.test_room_page import server_env

# slow: a server process, a browser. The module's tests share its server (module-scoped
# fixtures): they go to one test process (xdist_group), which starts it once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("web-replay")]

PIXEL = """([x, y]) => {
  const canvas = document.querySelector("#replay-canvas");
  const px = Math.round(x * canvas.width / 1600), py = Math.round(y * canvas.height / 900);
  return Array.from(canvas.getContext("2d").getImageData(px, py, 1, 1).data);
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("replay")
    served = Served(server_env(f"sqlite+aiosqlite:///{folder / 'callgrid.db'}"), log=folder / "serve.log")
    assert served.first_key
    yield served
    served.stop()


def ms(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


async def seek(page, t: int) -> None:
    await page.evaluate("(t) => { const s = document.querySelector('#seek'); s.value = String(t); s.dispatchEvent(new Event('input')); }", t)


async def test_the_replay_plays_the_chat_and_the_whiteboard_as_they_were(server, pages):
    headers = {"Authorization": f"Bearer {server.first_key}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, trust_env=False, timeout=20) as api:
        members = [{"user_id": "alice", "name": "Alice", "type": "host"}, {"user_id": "bob", "name": "Bob"}]
        room = (await api.post("/v1/rooms", json={"name": "Lesson", "type": "private", "record": False, "members": members})).json()["room"]

        async def join(user_id: str) -> Peer:
            token = (await api.post(f"/v1/rooms/{room['id']}/join-tokens", json={"user_id": user_id})).json()["token"]
            return await Peer.join(live_url(server.base_url, room["id"], token=token))

        alice, bob = await join("alice"), await join("bob")
        await alice.send({"type": "chat", "text": "hello class"})
        await bob.next("chat")
        await asyncio.sleep(0.4)
        stroke = {"id": "s1", "tool": "pen", "color": "#e5484d", "width": 30, "points": [[200, 450], [800, 450], [1400, 450]]}
        await bob.send({"type": "whiteboard_draw", "stroke": stroke})
        await alice.next("whiteboard_draw")
        await asyncio.sleep(0.4)
        await alice.send({"type": "whiteboard_clear"})
        await bob.next("whiteboard_clear")
        await asyncio.sleep(0.4)
        await bob.send({"type": "chat", "text": "bye now"})
        await alice.next("chat", text="bye now")
        await bob.close()
        await alice.close()
        assert (await api.post(f"/v1/rooms/{room['id']}/terminate")).status_code == 200
        async with asyncio.timeout(10):
            while True:
                events = (await api.get(f"/v1/rooms/{room['id']}/timeline")).json()["events"]
                if sum(e["type"] == "session_left" for e in events) == 2:
                    break
                await asyncio.sleep(0.2)
        link = (await api.post(f"/v1/rooms/{room['id']}/replay-tokens", json={"user_id": "bob"})).json()["replay_url"]

    start = ms(events[0]["at"])
    at = {e["type"]: ms(e["at"]) - start for e in events if e["type"] in ("whiteboard_draw", "whiteboard_clear")}
    page = await pages.open("replay", link)
    await page.wait_for_selector("#replay:not([hidden])")
    assert await page.title() == "Lesson · replay · Callgrid"
    strokes = "() => document.querySelector('#replay-canvas').dataset.strokes"

    await seek(page, at["whiteboard_draw"] - 50)  # just before the stroke
    assert await page.evaluate(strokes) in (None, "0")
    assert await page.locator("#chat-log li").all_inner_texts() and "hello class" in await page.locator("#chat-log").inner_text()
    assert "bye now" not in await page.locator("#chat-log").inner_text()
    assert await page.locator("#replay-people li").count() == 2

    await seek(page, at["whiteboard_draw"] + 10)  # the stroke is there
    await page.wait_for_function("() => document.querySelector('#replay-canvas').dataset.strokes === '1'")
    r, g, b, a = await page.evaluate(PIXEL, [800, 450])
    assert a > 200 and r > 180 and g < 120 and b < 120

    await seek(page, at["whiteboard_clear"] + 10)  # cleared
    await page.wait_for_function("() => document.querySelector('#replay-canvas').dataset.strokes === '0'")
    assert (await page.evaluate(PIXEL, [800, 450]))[3] == 0

    await seek(page, 10**9)  # the end: both messages, the meeting's end, nobody left
    log = await page.locator("#chat-log").inner_text()
    assert "hello class" in log and "bye now" in log and "The meeting ended" in log
    assert await page.locator("#replay-people li").count() == 0

    await seek(page, 0)
    assert "hello class" not in await page.locator("#chat-log").inner_text()
    await page.get_by_role("button", name="Play").click()
    await page.wait_for_function("() => Number(document.body.dataset.replayTime) > 300")

    # A link without a token does not open it.
    refused = await pages.open("refused", link.partition("?")[0])
    await refused.wait_for_selector("#ended:not([hidden])")
    assert "not valid" in await refused.locator("#ended-text").inner_text()


async def test_the_replay_clocks_arithmetic_for_recordings(server, pages):
    page = await pages.open("sync", f"{server.base_url}/healthz")
    result = await page.evaluate(
        """async () => {
          const m = await import("/static/replay-sync.js");
          const room = {created_at: "2030-01-01T11:00:00.000Z", terminated_at: null};
          const at = (s) => new Date(Date.UTC(2030, 0, 1, 12, 0, s)).toISOString();
          const events = [{at: at(0)}, {at: at(20)}];
          const ready = {started_at: at(5), ended_at: at(15), duration_ms: 9800, status: "ready"};
          const live = {started_at: at(10), ended_at: null, duration_ms: null, status: "recording"};
          const late = {started_at: at(18), ended_at: at(30), duration_ms: 12000, status: "ready"};
          const start = Date.parse(at(0));
          const span = m.recordingSpan(ready, start, 20000);
          return {
            extent: m.replayExtent(events, [ready, late], room),
            empty: m.replayExtent([], [], room),
            span, live: m.recordingSpan(live, start, 20000),
            positions: [0, 4999, 5000, 7500, 15000, 15001].map((t) => m.mediaPosition(span, t)),
            corrections: [m.correction(2.0, 2.2, true), m.correction(2.0, 2.4, true), m.correction(2.0, 2.4, true, 2),
                          m.correction(2.0, 2.04, false), m.correction(2.0, 2.1, false)],
          };
        }"""
    )
    start = 1893499200000  # 2030-01-01T12:00:00Z
    assert result["extent"] == {"start": start, "end": start + 30_000}  # the last recording ends last
    assert result["empty"] == {"start": start - 3_600_000, "end": start - 3_600_000}
    assert result["span"] == {"from": 5000, "to": 15000} and result["live"] == {"from": 10000, "to": 20000}
    assert result["positions"] == [
        {"covers": False, "seconds": 0}, {"covers": False, "seconds": 0}, {"covers": True, "seconds": 0},
        {"covers": True, "seconds": 2.5}, {"covers": True, "seconds": 10}, {"covers": False, "seconds": 10},
    ]
    assert result["corrections"] == [None, 2.4, None, None, 2.1]
