from datetime import date, timedelta


async def test_smoke(tenant):
    r = await tenant.client.post("/api/v1/products", json={"title": "Mango", "price": 500})
    assert r.status_code == 201, r.text
    mango = r.json()["id"]
    day = (date.today() + timedelta(days=3)).isoformat()
    body = {"title": "Weekly", "mango": mango, "startDate": day, "fromTime": "10:00", "timezoneName": "Asia/Calcutta", "duration": 60}
    r = await tenant.client.post("/api/v1/external/workshops/video-calls", json=body)
    print(r.json())
    assert r.status_code == 201
    r = await tenant.client.post("/api/v1/external/workshops/video-calls", json=body)
    print(r.json())
    assert r.status_code == 409
    r = await tenant.client.post("/api/v1/external/workshops/video-calls/check-availability", json={**{k: body[k] for k in ("startDate","fromTime","timezoneName","duration")}, "endDate": (date.today() + timedelta(days=30)).isoformat()})
    print(r.json())
    r = await tenant.client.get("/api/v1/external/workshops/video-calls", headers={"x-timezone-offset": "330"})
    print(r.json())
    assert r.json()["total"] == 1
