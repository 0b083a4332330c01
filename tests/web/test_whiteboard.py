"""The whiteboard and breakout rooms on the room page, in real browsers against a real
`callgrid serve`: a stroke drawn by one person (a mouse drag on the canvas) appears on the
other's canvas (its pixels) and in the room's timeline, and a page that comes back draws the
board as it is; a host's page opens a breakout room, the other page moves there and comes back
when it closes. BoardState (room-whiteboard.js) is checked on its own in the browser too."""

import asyncio

import httpx
import pytest

from tests.support.servers import Served
from tests.web.test_room_page import create_room, enter, join_url, server_env

# slow: a server process, a browser. The module's tests share its server (module-scoped
# fixtures): they go to one test process (xdist_group), which starts it once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("web-whiteboard")]

RED = "#e5484d"

# The colour of the board's pixel at board coordinates (x, y), as [r, g, b, a].
PIXEL = """([x, y]) => {
  const canvas = document.querySelector("#whiteboard canvas");
  const px = Math.round(x * canvas.width / 1600), py = Math.round(y * canvas.height / 900);
  return Array.from(canvas.getContext("2d").getImageData(px, py, 1, 1).data);
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("whiteboard")
    served = Served(server_env(f"sqlite+aiosqlite:///{folder / 'callgrid.db'}"), log=folder / "serve.log")
    assert served.first_key
    yield served
    served.stop()


async def open_board(page) -> None:
    await page.get_by_role("button", name="Whiteboard").click()
    await page.wait_for_function("() => document.querySelector('#whiteboard canvas').width > 0")


async def drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A mouse drag on the board between two points given as fractions of the canvas."""
    box = await page.locator("#whiteboard canvas").bounding_box()
    x0, y0 = box["x"] + box["width"] * start[0], box["y"] + box["height"] * start[1]
    x1, y1 = box["x"] + box["width"] * end[0], box["y"] + box["height"] * end[1]
    await page.mouse.move(x0, y0)
    await page.mouse.down()
    await page.mouse.move(x1, y1, steps=12)
    await page.mouse.up()


def reddish(pixel: list[int]) -> bool:
    r, g, b, a = pixel
    return a > 200 and r > 180 and g < 120 and b < 120


async def test_a_stroke_drawn_in_one_browser_appears_in_the_other_and_in_the_timeline(server, pages):
    key = server.first_key
    room = (await create_room(server.base_url, key, name="Drawing class", record=False))["room"]
    alice = await enter(pages, "alice", await join_url(server.base_url, key, room["id"], "alice", "Alice"))
    bob = await enter(pages, "bob", await join_url(server.base_url, key, room["id"], "bob", "Bob"))
    await asyncio.gather(open_board(alice), open_board(bob))

    # Alice draws a thick red line across the middle of the board.
    await alice.get_by_role("button", name=f"Colour {RED}").click()
    await alice.locator(".wb-width").fill("12")
    await drag(alice, (0.25, 0.5), (0.75, 0.5))
    await bob.wait_for_function("() => document.querySelector('#whiteboard canvas').dataset.strokes === '1'")
    assert reddish(await bob.evaluate(PIXEL, [800, 450]))
    assert not reddish(await bob.evaluate(PIXEL, [800, 150]))  # and only there
    assert reddish(await alice.evaluate(PIXEL, [800, 450]))

    # Bob draws a rectangle with the rectangle tool: Alice sees it too.
    await bob.get_by_role("button", name="Rectangle", exact=True).click()
    await drag(bob, (0.1, 0.1), (0.2, 0.3))
    await alice.wait_for_function("() => document.querySelector('#whiteboard canvas').dataset.strokes === '2'")

    # The timeline has Alice's stroke, as drawn.
    async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, trust_env=False) as client:
        async with asyncio.timeout(10):
            while True:
                events = (await client.get(f"/v1/rooms/{room['id']}/timeline", params={"types": "whiteboard_draw"})).json()["events"]
                if len(events) == 2:
                    break
                await asyncio.sleep(0.2)
    first, second = events
    assert (first["user_id"], first["data"]["seq"], second["user_id"]) == ("alice", 1, "bob")
    stroke = first["data"]["stroke"]
    assert (stroke["tool"], stroke["color"], stroke["width"]) == ("pen", RED, 12.0)
    xs = [x for x, _ in stroke["points"]]
    assert min(xs) < 420 and max(xs) > 1180 and all(abs(y - 450) < 5 for _, y in stroke["points"])
    assert second["data"]["stroke"]["tool"] == "rect"

    # Bob comes back (a reload): his page draws the board as it is.
    await bob.reload()
    await bob.wait_for_selector("#join-screen:not([hidden])")
    await bob.get_by_role("button", name="Join", exact=True).click()
    await bob.wait_for_selector("#participant-list li:has-text('Bob (you)')")
    await open_board(bob)
    await bob.wait_for_function("() => document.querySelector('#whiteboard canvas').dataset.strokes === '2'")
    assert reddish(await bob.evaluate(PIXEL, [800, 450]))

    # Clear: both boards are empty.
    await alice.get_by_role("button", name="Clear", exact=True).click()
    for page in (alice, bob):
        await page.wait_for_function("() => document.querySelector('#whiteboard canvas').dataset.strokes === '0'")
        assert not reddish(await page.evaluate(PIXEL, [800, 450]))


async def test_a_host_page_opens_a_breakout_and_the_other_page_moves_there_and_back(server, pages):
    key = server.first_key
    members = [{"user_id": "teacher", "type": "host", "name": "Teacher"}, {"user_id": "ann", "name": "Ann"}]
    room = (await create_room(server.base_url, key, name="Class", type="private", record=False, members=members))["room"]
    teacher = await enter(pages, "teacher", await join_url(server.base_url, key, room["id"], "teacher", "Teacher"))
    ann = await enter(pages, "ann", await join_url(server.base_url, key, room["id"], "ann", "Ann"))
    assert await ann.get_by_role("button", name="Breakout rooms").is_hidden()  # hosts only
    await teacher.get_by_role("button", name="Breakout rooms").click()
    await teacher.get_by_label("Rooms", exact=True).fill("1")
    await teacher.get_by_role("button", name="Open breakout rooms").click()
    await ann.wait_for_selector("#breakout-banner:not([hidden]):has-text('Breakout 1')")
    await ann.wait_for_selector("#participant-list li:has-text('Ann (you)')")
    await teacher.wait_for_selector("#breakout-rooms li:has-text('Ann')")
    await teacher.get_by_placeholder("Message every room").fill("Two minutes")
    await teacher.locator("#breakout-broadcast-form").get_by_role("button", name="Send").click()
    await ann.wait_for_selector("#notice:has-text('Teacher to everyone: Two minutes')")
    await teacher.get_by_role("button", name="Close breakout rooms").click()
    await ann.wait_for_selector("#breakout-banner[hidden]", state="attached")
    await ann.wait_for_selector("#participant-list li:has-text('Teacher')")
    await teacher.wait_for_selector("#participant-list li:has-text('Ann')")
    assert await ann.locator("#ended").is_hidden()


async def test_board_state_in_the_browser(server, pages):
    page = await pages.open("logic", f"{server.base_url}/healthz")
    result = await page.evaluate(
        """async () => {
      const m = await import("/static/room-whiteboard.js");
      const s = new m.BoardState();
      const draw = (seq, id) => ({type: "whiteboard_draw", seq, by: "x", stroke: {id, tool: "pen", points: [[1, 1]]}});
      const out = {};
      out.state = s.apply({type: "whiteboard_state", seq: 4, cleared_seq: 2, strokes: [draw(4, "d"), draw(3, "c")]});
      out.afterState = s.ordered().map((e) => e.stroke.id);
      out.append = s.apply(draw(6, "f"));
      out.outOfOrder = s.apply(draw(5, "e"));
      out.repeat = s.apply(draw(5, "e"));
      out.wiped = s.apply(draw(2, "b"));
      out.order = s.ordered().map((e) => e.stroke.id);
      out.clear = s.apply({type: "whiteboard_clear", seq: 7});
      out.late = s.apply(draw(6, "f"));
      out.after = s.apply(draw(8, "h"));
      out.final = [s.ordered().map((e) => e.stroke.id), s.clearedSeq, s.lastSeq];
      return out;
    }"""
    )
    assert result["state"] == "redraw" and result["afterState"] == ["c", "d"]
    assert (result["append"], result["outOfOrder"], result["repeat"], result["wiped"]) == ("append", "redraw", None, None)
    assert result["order"] == ["c", "d", "e", "f"]
    assert (result["clear"], result["late"], result["after"]) == ("redraw", None, "append")
    assert result["final"] == [["h"], 7, 8]
