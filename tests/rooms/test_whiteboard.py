"""The shared whiteboard over the live protocol (docs/rooms.md, Whiteboard): strokes and clears
reach everyone numbered in one order, a newcomer gets the board as it is, bad strokes are
refused, the appointment's `whiteboard_enabled` turns it on and off, and a board the process
no longer holds is rebuilt from the room's timeline."""

import pytest

from tests.rooms.conftest import Peer, create_room, join_token, live_url

PEN = {"id": "s1", "tool": "pen", "color": "#E5484D", "width": 6, "points": [[10, 20], [30.04, 40], [50, 60]]}
RECT = {"id": "s2", "tool": "rect", "color": "#2f9e62", "width": 3, "points": [[100, 100], [300, 200]]}
LINE = {"id": "s3", "tool": "line", "color": "#000000", "width": 2, "points": [[0, 0], [1600, 900]]}
TEXT = {"id": "s4", "tool": "text", "color": "#123456", "points": [[800, 450]], "text": "Hello", "size": 40}
ERASER = {"id": "s5", "tool": "eraser", "color": "#ffffff", "width": 30, "points": [[12, 22]]}


async def join(tenant, server, room_id: str, user_id: str) -> Peer:
    token = (await join_token(tenant, room_id, user_id, name=user_id.title()))["token"]
    return await Peer.join(live_url(server, room_id, token=token))


def stroke_seqs(state: dict) -> list[int]:
    return [s["seq"] for s in state["strokes"]]


async def test_strokes_reach_everyone_in_one_order_and_a_newcomer_gets_the_board_as_it_is(tenant, server):
    room = (await create_room(tenant, type="public"))["room"]
    alice = await join(tenant, server, room["id"], "alice")
    empty = await alice.next("whiteboard_state")
    assert empty == {"type": "whiteboard_state", "seq": 0, "cleared_seq": 0, "strokes": []}
    assert alice.seen[0]["type"] == "welcome" and alice.seen[1]["type"] == "whiteboard_state"  # right after welcome
    bob = await join(tenant, server, room["id"], "bob")

    await alice.send({"type": "whiteboard_draw", "stroke": PEN})
    for peer in (alice, bob):
        drawn = await peer.next("whiteboard_draw")
        assert (drawn["seq"], drawn["by"], drawn["name"]) == (1, alice.session_id, "Alice")
        assert drawn["stroke"] == {"id": "s1", "tool": "pen", "color": "#e5484d", "width": 6.0,
                                   "points": [[10.0, 20.0], [30.0, 40.0], [50.0, 60.0]]}
        assert drawn["at"].endswith("Z")
    await bob.send({"type": "whiteboard_draw", "stroke": RECT})
    assert (await alice.next("whiteboard_draw"))["seq"] == 2
    await alice.send({"type": "whiteboard_draw", "stroke": TEXT})
    assert (await bob.next("whiteboard_draw", seq=3))["stroke"]["text"] == "Hello"

    carol = await join(tenant, server, room["id"], "carol")
    state = await carol.next("whiteboard_state")
    assert (state["seq"], state["cleared_seq"], stroke_seqs(state)) == (3, 0, [1, 2, 3])
    assert [s["stroke"]["id"] for s in state["strokes"]] == ["s1", "s2", "s4"]
    assert state["strokes"][1]["by"] == bob.session_id

    await carol.send({"type": "whiteboard_clear"})
    for peer in (alice, bob, carol):
        cleared = await peer.next("whiteboard_clear")
        assert (cleared["seq"], cleared["by"]) == (4, carol.session_id)
    await bob.send({"type": "whiteboard_draw", "stroke": LINE})
    await bob.next("whiteboard_draw", seq=5)
    await bob.send({"type": "whiteboard_draw", "stroke": ERASER})
    await bob.next("whiteboard_draw", seq=6)

    dave = await join(tenant, server, room["id"], "dave")
    state = await dave.next("whiteboard_state")
    assert (state["seq"], state["cleared_seq"], stroke_seqs(state)) == (6, 4, [5, 6])
    assert [s["stroke"]["tool"] for s in state["strokes"]] == ["line", "eraser"]
    for peer in (alice, bob, carol, dave):
        await peer.close()


@pytest.mark.parametrize(
    "stroke, words",
    [
        (None, "stroke"),
        ({**PEN, "tool": "spray"}, "tool"),
        ({**PEN, "color": "red"}, "color"),
        ({**PEN, "id": ""}, "id"),
        ({**PEN, "points": []}, "points"),
        ({**PEN, "points": [[1601, 0]]}, "x"),
        ({**PEN, "points": [[0, -1]]}, "y"),
        ({**PEN, "points": [[0, "1"]]}, "y"),
        ({**PEN, "points": [[0, 0]] * 2001}, "points"),
        ({**PEN, "width": 0}, "width"),
        ({**RECT, "points": [[0, 0]]}, "points"),
        ({**TEXT, "text": ""}, "text"),
        ({**TEXT, "text": "x" * 501}, "text"),
    ],
)
async def test_a_bad_stroke_is_refused_and_kept_nowhere(tenant, server, stroke, words):
    room = (await create_room(tenant, type="open"))["room"]
    peer = await Peer.join(live_url(server, room["id"], name="Zoe"))
    await peer.send({"type": "whiteboard_draw", "stroke": stroke})
    error = await peer.next("error")
    assert error["code"] == "bad_message" and words in error["message"], error
    other = await Peer.join(live_url(server, room["id"], name="Other"))
    assert (await other.next("whiteboard_state"))["strokes"] == []
    await peer.close()
    await other.close()


async def test_the_appointments_flag_turns_the_whiteboard_on_and_off(tenant, server):
    created = await tenant.client.post("/api/v1/appointments/", json={
        "title": "Tutoring", "start_date_time": "2030-01-03T10:00:00Z", "duration_minutes": 30,
        "participants": [{"role": "moderator", "unique_id": "tutor@example.com"}],
    })
    assert created.status_code == 201, created.text
    appointment = created.json()
    link = appointment["participants"][0]["join_url"]
    token = link.partition("?token=")[2]
    tutor = await Peer.join(live_url(server, appointment["id"], token=token))
    assert tutor.welcome["features"]["whiteboard"] is False  # the appointments' default
    await tutor.send({"type": "whiteboard_draw", "stroke": PEN})
    assert (await tutor.next("error"))["code"] == "disabled"
    assert not [m for m in tutor.seen if m["type"] == "whiteboard_state"]
    await tutor.close()

    changed = await tenant.client.patch(f"/api/v1/appointments/{appointment['id']}/", json={"config": {"whiteboard_enabled": True}})
    assert changed.status_code == 200, changed.text
    tutor = await Peer.join(live_url(server, appointment["id"], token=token))
    assert tutor.welcome["features"]["whiteboard"] is True
    await tutor.next("whiteboard_state")
    await tutor.send({"type": "whiteboard_draw", "stroke": PEN})
    assert (await tutor.next("whiteboard_draw"))["seq"] == 1
    await tutor.close()


async def test_a_board_the_process_has_forgotten_is_rebuilt_from_the_timeline(app, tenant, server):
    room = (await create_room(tenant, type="open"))["room"]
    alice = await Peer.join(live_url(server, room["id"], name="Alice"))
    for stroke in (PEN, RECT):
        await alice.send({"type": "whiteboard_draw", "stroke": stroke})
    await alice.send({"type": "whiteboard_clear"})
    for stroke in (LINE, TEXT):
        await alice.send({"type": "whiteboard_draw", "stroke": stroke})
    await alice.next("whiteboard_draw", seq=5)
    await alice.close()
    collab = app.state.rooms.collab
    await collab.timeline.flush()
    collab.boards._boards.clear()  # as after a restart, or a long idle time

    bob = await Peer.join(live_url(server, room["id"], name="Bob"))
    state = await bob.next("whiteboard_state")
    assert (state["seq"], state["cleared_seq"], stroke_seqs(state)) == (5, 3, [4, 5])
    assert [s["stroke"] for s in state["strokes"]] == [
        {"id": "s3", "tool": "line", "color": "#000000", "width": 2.0, "points": [[0.0, 0.0], [1600.0, 900.0]]},
        {"id": "s4", "tool": "text", "color": "#123456", "points": [[800.0, 450.0]], "text": "Hello", "size": 40.0},
    ]
    assert state["strokes"][0]["name"] == "Alice"
    # The numbering goes on from where it was.
    await bob.send({"type": "whiteboard_draw", "stroke": ERASER})
    assert (await bob.next("whiteboard_draw"))["seq"] == 6
    await bob.close()
