"""The list's `creator`: the seed's fields from the host's profile, and `score` /
`leaderboardRank`: the host's completed calls (lifetime, this month, this week, UTC) and its
rank by them in the organization."""

from datetime import UTC, datetime

from tests.video_calls.conftest import BASE, colleague, create, listed, make_mango


def creators(page: dict) -> dict[str, dict]:
    return {call["creator"]["_id"]: call["creator"] for group in page["data"] for call in group["calls"]}


async def test_the_creator_carries_the_hosts_profile(app, tenant, mango):
    r = await tenant.client.patch(f"/api/v1/hosts/{tenant.host_id}", json={
        "user_slug": "acme-academy", "phone": "+919876543210", "profile_pic_url": "https://pics.example.com/a.png",
        "country": "India", "currency": "INR",
    })
    assert r.status_code == 200, r.text
    await create(tenant, mango)
    creator = creators(await listed(tenant))[tenant.host_id]
    assert {k: creator[k] for k in (
        "userSlug", "phone", "dialCode", "profilePicUrl", "country", "currency", "isDeactivated", "onboarding",
    )} == {
        "userSlug": "acme-academy", "phone": 9876543210, "dialCode": "+91", "profilePicUrl": "https://pics.example.com/a.png",
        "country": "India", "currency": "INR", "isDeactivated": False, "onboarding": "creator_completed",
    }


async def test_scores_and_ranks_count_completed_calls(app, tenant, clock):
    """Now is Tuesday 2030-01-01 12:00 UTC: this week began on Monday 2029-12-31."""
    owner_mango = await make_mango(tenant)
    bea = await colleague(app, tenant, "Bea")
    cai = await colleague(app, tenant, "Cai")
    async with bea.client, cai.client:
        bea_mango = await make_mango(tenant)  # products are the organization's: an admin makes them
        cai_mango = await make_mango(tenant)
        # The owner: three calls in January (two this week, one next week), one cancelled.
        for day in ("2030-01-02", "2030-01-03", "2030-01-08"):
            await create(tenant, owner_mango, startDate=day)
        gone = await create(tenant, owner_mango, startDate="2030-01-04")
        assert (await tenant.client.delete(f"{BASE}/{gone['_id']}")).status_code == 200
        # Bea: a daily series of five from the 2nd; Cai: one call, still to come.
        await create(bea, bea_mango, startDate="2030-01-02", endDate="2030-01-06")
        await create(cai, cai_mango, startDate="2030-03-01")

        clock.move_to(datetime(2030, 1, 8, 10, 30, tzinfo=UTC))  # Tuesday: the owner's third call is on
        everyone = {"startDate": "2029-12-01T00:00:00Z", "limit": 100}
        owner = creators(await listed(tenant, **everyone))[tenant.host_id]
        assert owner["score"] == {"lifetime": 2, "month": 2, "week": 0}
        bea_now = creators(await listed(bea, **everyone))[bea.host_id]
        assert bea_now["score"] == {"lifetime": 5, "month": 5, "week": 0}
        assert (bea_now["leaderboardRank"], owner["leaderboardRank"]) == (
            {"lifetime": 1, "month": 1, "week": 1}, {"lifetime": 2, "month": 2, "week": 1},
        )

        clock.move_to(datetime(2030, 1, 8, 11, 0, tzinfo=UTC))  # it has ended
        owner = creators(await listed(tenant, **everyone))[tenant.host_id]
        assert owner["score"] == {"lifetime": 3, "month": 3, "week": 1}
        assert owner["leaderboardRank"] == {"lifetime": 2, "month": 2, "week": 1}
        cai_now = creators(await listed(cai, **everyone))[cai.host_id]
        assert cai_now["score"] == {"lifetime": 0, "month": 0, "week": 0}
        assert cai_now["leaderboardRank"] == {"lifetime": 3, "month": 3, "week": 2}

        # A month on (every call long over: counted by day): January is last month.
        clock.move_to(datetime(2030, 2, 10, 12, 0, tzinfo=UTC))
        owner = creators(await listed(tenant, **everyone))[tenant.host_id]
        assert owner["score"] == {"lifetime": 3, "month": 0, "week": 0}
        assert owner["leaderboardRank"] == {"lifetime": 2, "month": 1, "week": 1}
        # Cai's call of March 1st, seen on its day: completed in March.
        clock.move_to(datetime(2030, 3, 1, 11, 5, tzinfo=UTC))
        cai_now = creators(await listed(cai, **everyone))[cai.host_id]
        assert cai_now["score"] == {"lifetime": 1, "month": 1, "week": 1}
        assert cai_now["leaderboardRank"] == {"lifetime": 3, "month": 1, "week": 1}
