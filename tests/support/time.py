"""Time in tests: the app's clock, movable, and the fixed moment the API tests run at."""

from datetime import UTC, datetime, timedelta

import pytest

# A Tuesday. The API tests move the app's clock here, so dates in bodies and the timestamps
# in answers are the same on every run.
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class MovableClock:
    """The app's clock in tests: real time, shifted by however far a test moved it."""

    def __init__(self):
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta

    def move_to(self, moment: datetime) -> None:
        self.offset = moment - datetime.now(UTC)


@pytest.fixture(autouse=True)
def now(clock: MovableClock) -> datetime:
    """The app's clock moved to `NOW`. Autouse where it is imported: a folder's conftest (or a
    test module) that does `from tests.support.time import now` runs all its tests at `NOW`."""
    clock.move_to(NOW)
    return NOW
