"""A virtual clock for tests where time matters: the loop's time jumps to its next timer whenever there is
nothing else to do, so a 60 s rate-limit window passes in microseconds, and every wait is exact.

Real I/O still works (the loopback servers of these tests run in the same loop): before jumping, the loop
gives sockets a moment of real time (``SETTLE``) to become ready, so a connection in progress is never
skipped over. Everything in the SDK that waits reads ``loop.time()`` and arms ``loop.call_at``, as
aiolimiter does: that is what lets this clock drive it.

Use ``@pytest.mark.virtual_clock`` on a test (or ``pytestmark`` on a module): its loop, and the loop of
the async fixtures it uses, is a :class:`VirtualClockLoop` (see ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any

__all__ = ["SETTLE", "VirtualClockLoop"]

SETTLE = 0.002
"""Real seconds the loop waits for I/O before it decides nothing is coming and jumps to its next timer."""


class _FastForward(selectors.DefaultSelector):
    def __init__(self, loop: VirtualClockLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        events: list[tuple[Any, int]] = super().select(0)
        if events or timeout == 0:
            return events
        events = super().select(SETTLE if timeout is None else min(timeout, SETTLE))
        if events:
            return events
        if timeout is None:  # no timer at all: only a thread or a signal can wake the loop
            blocked: list[tuple[Any, int]] = super().select(None)
            return blocked
        self._loop.advance(timeout)
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._virtual_now = 1000.0  # not 0: a bug that treats 0 as "unset" must not hide here
        super().__init__(_FastForward(self))

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        self._virtual_now += seconds
