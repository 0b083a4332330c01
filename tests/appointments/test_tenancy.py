"""Tenant isolation: another organization's appointment reads exactly like a missing one
(404, same shape) on every verb, and nothing of it changes."""

from tests.appointments.conftest import BASE, MISSING, assert_problem, create, detail, events, ids, listed, person


def strip_ids(problem: dict, *values: str) -> dict:
    """The problem with the ids it names blanked (and without its request's own id), to compare
    two 404s' shape and wording."""
    text = repr({key: value for key, value in problem.items() if key != "request_id"})
    for value in values:
        text = text.replace(value, "<id>")
    return eval(text)  # noqa: S307 - our own repr of JSON data


async def test_another_organizations_appointment_is_404_on_every_verb(app, tenant, other_tenant):
    theirs = await create(other_tenant, participants=[person("x", "moderator"), person("y")])
    their_participant = theirs["participants"][1]["id"]
    ours = await create(tenant)
    our_participant = ours["participants"][0]["id"]

    def requests(appointment_id: str, participant_id: str):
        a = f"{BASE}/{appointment_id}"
        return [
            ("GET", f"{a}/", None),
            ("PATCH", f"{a}/", {"title": "Hijacked"}),
            ("DELETE", f"{a}/", None),
            ("GET", f"{a}/participants/", None),
            ("GET", f"{a}/participants/{participant_id}/", None),
            ("PATCH", f"{a}/participants/{participant_id}/", {"display_name": "Hijacked"}),
            ("POST", f"{a}/add-participants/", [person("intruder")]),
            ("POST", f"{a}/remove-participants/", [{"id": participant_id}]),
        ]

    for (method, foreign_path, payload), (_, missing_path, _) in zip(
        requests(theirs["id"], their_participant), requests(MISSING, their_participant), strict=True
    ):
        foreign = await tenant.client.request(method, foreign_path, json=payload)
        missing = await tenant.client.request(method, missing_path, json=payload)
        foreign_problem = assert_problem(foreign, 404, "id")
        missing_problem = assert_problem(missing, 404, "id")
        assert strip_ids(foreign_problem, theirs["id"]) == strip_ids(missing_problem, MISSING), (method, foreign_path)
        assert foreign.headers["content-type"] == missing.headers["content-type"]

    # Their participant under our appointment is a missing participant too.
    for method, payload in (("GET", None), ("PATCH", {"display_name": "x"})):
        r = await tenant.client.request(method, f"{BASE}/{ours['id']}/participants/{their_participant}/", json=payload)
        assert_problem(r, 404, "participant_id")
    r = await tenant.client.post(f"{BASE}/{ours['id']}/remove-participants/", json=[{"id": their_participant}])
    assert_problem(r, 400, "[0].id", "not a participant")

    # Nothing of theirs changed, nothing of theirs was sent, and the lists do not cross.
    assert await detail(other_tenant, theirs["id"]) == theirs
    assert [t for t, _ in await events(app, other_tenant.organization_id)] == ["appointment.created"]
    assert ids(await listed(tenant)) == [ours["id"]]
    assert ids(await listed(other_tenant)) == [theirs["id"]]
    assert ids(await listed(tenant, participant_unique_id="x")) == []
    assert (await listed(other_tenant))["results"][0]["organization_name"] == "Globex"
    # And ours still works for us.
    r = await tenant.client.get(f"{BASE}/{ours['id']}/participants/{our_participant}/")
    assert r.status_code == 200
