"""Helpers for the management API (`/api/v1/`) tests: snake_case JSON, RFC 9457 problems."""

MISSING = "00000000-0000-0000-0000-000000000000"


def assert_problem(response, status: int, *fields: str, fragment: str | None = None) -> dict:
    """An RFC 9457 problem; each of `fields` is named in `errors` and in `detail`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    data = response.json()
    assert data["status"] == status
    assert data["type"] == "about:blank"
    assert isinstance(data["title"], str) and data["title"]
    assert isinstance(data["detail"], str) and data["detail"]
    named = {e["field"] for e in data.get("errors", [])}
    for field in fields:
        assert field in named, (field, data)
        assert field in data["detail"], (field, data)
    if fragment is not None:
        assert fragment in data["detail"], data
    return data


def assert_page(response, total: int, max_page: int = 1) -> list[dict]:
    assert response.status_code == 200, response.text
    data = response.json()
    assert set(data) == {"items", "pagination"}
    assert data["pagination"] == {"total_count": total, "max_page": max_page}
    return data["items"]
