"""A clock that moves only when told, for testing against the fake without sleeping."""

from __future__ import annotations

__all__ = ["ManualClock"]


class ManualClock:
    """A monotonic clock under the test's control: ``FakeThreeCommas(clock=ManualClock())``.

    ::

        clock = ManualClock()
        async with FakeThreeCommas(clock=clock, cancel_delay=5.0) as server:
            ...                       # cancel a trade over HTTP
            clock.advance(5.0)        # the fake now sees it cancelled: no sleep
    """

    __slots__ = ("now",)

    def __init__(self, start: float = 0.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move forward ``seconds`` (never back) and return the new time."""
        if not seconds >= 0:
            raise ValueError(f"a clock cannot go back: advance({seconds!r})")
        self.now += seconds
        return self.now

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now!r})"
