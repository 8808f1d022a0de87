"""What the pipeline tells the operation a task is running (one id of a bulk cancel): whether a request
went out, and how much of its time is left.

A bulk cancel interrupted mid-way must say which ids were sent but not settled and which never left; only
the pipeline knows the moment a request goes out (after the rate limit and a free connection). And a
``timeout`` per id bounds the id's whole operation, the DELETE's attempts and back-off and the GET that
checks it together, not counting waits for the rate limit, which are not the operation's own time.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Final

__all__ = ["Operation", "begin", "current"]


class Operation:
    __slots__ = ("deadline", "sent", "waited")

    def __init__(self, deadline: float | None) -> None:
        self.sent = False
        self.deadline = deadline
        """Loop time after which no attempt of this operation may start (before adding ``waited``)."""
        self.waited = 0.0
        """Seconds spent waiting for the rate limit: they move the deadline."""

    def left(self, now: float) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline + self.waited - now


_CURRENT: Final[ContextVar[Operation | None]] = ContextVar("threecommas_async_operation", default=None)


def begin(timeout: float | None, clock: Callable[[], float]) -> Operation:
    """A new operation for the calls this task makes from now on."""
    operation = Operation(None if timeout is None else clock() + timeout)
    _CURRENT.set(operation)
    return operation


def current() -> Operation | None:
    return _CURRENT.get()
