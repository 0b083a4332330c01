"""Helpers for the management API (`/api/v1/`) tests: snake_case JSON, RFC 9457 problems."""

from tests.support.problems import assert_problem  # noqa: F401 (for the tests here)

MISSING = "00000000-0000-0000-0000-000000000000"


def assert_page(response, total: int, max_page: int = 1) -> list[dict]:
    assert response.status_code == 200, response.text
    data = response.json()
    assert set(data) == {"items", "pagination"}
    assert data["pagination"] == {"total_count": total, "max_page": max_page}
    return data["items"]
