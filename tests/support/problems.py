"""What an error answer of the management and appointments APIs must look like: an RFC 9457
problem (`application/problem+json`) naming the field and the rule."""

from collections.abc import Sequence


def assert_problem(response, status: int, field: str | Sequence[str] | None = None, *fragments: str) -> dict:
    """An RFC 9457 problem with `status`. With `field` (one name or several), each is named in
    `errors` and in `detail`; every fragment appears in `detail`. Returns the problem."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    data = response.json()
    assert data["status"] == status, data
    assert data["type"] == "about:blank", data
    assert isinstance(data["title"], str) and data["title"], data
    assert isinstance(data["detail"], str) and data["detail"], data
    named = {error["field"] for error in data.get("errors", [])}
    for name in [field] if isinstance(field, str) else field or ():
        assert name in named, (name, data)
        assert name in data["detail"], (name, data["detail"])
    for fragment in fragments:
        assert fragment in data["detail"], (fragment, data["detail"])
    return data
