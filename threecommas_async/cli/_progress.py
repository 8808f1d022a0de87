"""What the operator is told while a command works or waits: retries, 429 cool-downs, bans, the rate limit.

The client reports each through its event hook (``ClientEvent``). :class:`Waits` turns them into one
stderr line per cause, never one per request (requests in flight together get the same 429; the retry
after a 429 only waits out the cool-down already announced), and remembers what the client is waiting
for. :class:`Progress` shows that beside the count of settled results: on a terminal in the bar, its
countdown refreshed every second; elsewhere (a log, a pipe) as one line every :data:`LINE_EVERY` seconds,
so a long wait is never silent and a short run prints nothing extra.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final

from tqdm import tqdm

from .._events import ClientEvent
from .._ratelimit import LIST_ENDPOINT, RateLimit
from ._output import Output, seconds
from ._settings import DOCUMENTED

__all__ = ["LINE_EVERY", "Progress", "Waits"]

LINE_EVERY: Final = 5.0
"""Seconds between two progress lines when stderr is not a terminal."""
TICK: Final = 1.0
"""Seconds between two refreshes of the bar's countdown on a terminal."""
NOTICEABLE: Final = 0.05
"""Shorter waits are not shown: as the first minute's slots free one by one, the requests queued behind
them stall for milliseconds each, and "waiting 0.0 s" says nothing."""


def _per(period: float) -> str:
    return "min" if math.isclose(period, 60.0) else seconds(period)


class Waits:
    """The client's ``event_hook``: announces each retry, cool-down and ban once, and knows how long the
    client still waits. The events carry method, path, status and the exception's class name: no header,
    key, secret or signature. ``quiet`` silences the lines, not the progress.

    ``limit`` is the client's :class:`RateLimit`; ``scale`` the console's time scale (the limit's
    durations are divided by it, and a wait is shown as it will pass). ``wait_hint`` is what the command
    offers when a cool-down is longer than the client waits (``"--wait waits it out"``).
    """

    def __init__(
        self,
        out: Output,
        limit: RateLimit,
        *,
        quiet: bool = False,
        scale: float = 1.0,
        wait_hint: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.limit = limit
        self.quiet = quiet
        self.scale = scale
        self.wait_hint = wait_hint
        self.clock = clock
        self._cooldown_until = 0.0  # the latest cool-down announced
        self._banned_until = 0.0
        self._waiting_until = 0.0  # the client waits out a cool-down (not when it refuses instead)
        self._throttled_until = 0.0
        self._throttle_text = ""

    def __call__(self, event: ClientEvent) -> None:
        line = self._describe(event, self.clock())
        if line is not None and not self.quiet:
            self.out.error(line)

    def _describe(self, event: ClientEvent, now: float) -> str | None:
        where = f"{event.method} {event.path}"
        until = now + event.wait
        same = 1.0 / self.scale  # pauses ending within a second of each other are the same pause
        if event.kind == "retry":
            if event.status == 429:
                return None  # it waits for the cool-down its 429 started, announced already
            cause = " ".join(str(p) for p in (event.error, event.status) if p is not None) or "a failure"
            return f"retrying {where} in {seconds(event.wait)} after {cause}"
        if event.kind == "throttle":
            self._throttled_until = until
            self._throttle_text = self._limit_text(event)
            return None
        if event.kind == "cooldown":
            refused = event.wait > self.limit.max_wait
            if not refused:
                self._waiting_until = max(self._waiting_until, until)  # the countdown stays true
            # The 429s of requests that were in flight with the first one extend its pause a little:
            # the same pause, not a new one to announce.
            if until <= self._cooldown_until + max(same, event.wait / 4):
                return None
            self._cooldown_until = until
            head = f"rate limited by 3Commas (429 on {where})"
            if refused:
                hint = f"; {self.wait_hint}" if self.wait_hint else ""
                return (
                    f"{head}: its cool-down of {seconds(event.wait)} is longer than the client waits "
                    f"({seconds(self.limit.max_wait)}), so the requests not sent yet fail now{hint}"
                )
            return f"{head}: waiting {seconds(event.wait)} for its cool-down, then sending again"
        if until <= self._banned_until + same:
            return None
        self._banned_until = until
        return f"IP banned by 3Commas (418 on {where}): sending nothing for {seconds(event.wait)}"

    def _limit_text(self, event: ClientEvent) -> str:
        limit = self.limit
        rate = f"{limit.max_rate:g} requests/{_per(limit.time_period * self.scale)}"
        whose = "3Commas' limit" if limit.max_rate == DOCUMENTED.max_rate else "the limit of --max-rate"
        listing = limit.endpoints.get(LIST_ENDPOINT)
        if listing is not None and f"{event.method} {event.path}" == LIST_ENDPOINT:
            rate += f", {listing.max_rate:g} listings/{seconds(listing.time_period * self.scale)}"
        return f"{whose}: {rate}"

    def status(self) -> str | None:
        """What the client is waiting for right now, with the time left; None when it is not waiting
        (or for less than :data:`NOTICEABLE`)."""
        now = self.clock()
        banned, cooling, throttled = (
            t - now for t in (self._banned_until, self._waiting_until, self._throttled_until)
        )
        if banned >= NOTICEABLE:
            return f"IP banned: sending nothing for {seconds(banned)}"
        if cooling >= NOTICEABLE:
            return f"waiting {seconds(cooling)} for 3Commas' cool-down after a 429"
        if throttled >= NOTICEABLE:
            return f"waiting {seconds(throttled)} for {self._throttle_text}"
        return None


class Progress:
    """``async with Progress(...) as p: ... p.advance()``: the count of settled results (``total=None``:
    a count without an end) and what the client waits for, on stderr while the block runs. Nothing is
    shown with ``--no-progress``."""

    def __init__(
        self,
        out: Output,
        waits: Waits,
        *,
        desc: str,
        total: int | None,
        unit: str = " trade",
        detail: Callable[[], str | None] | None = None,
    ) -> None:
        self.out = out
        self.detail = detail
        self.waits = waits
        self.desc = desc
        self.total = total
        self.unit = unit
        self.done = 0
        self._bar: tqdm[Any] | None = None
        self._ticker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Progress:
        if not self.out.progress:
            return self
        if _is_terminal(self.out.stderr):
            self._bar = tqdm(
                total=self.total,
                desc=self.desc,
                unit=self.unit,
                file=self.out.stderr,
                leave=False,
                dynamic_ncols=True,
            )
            every = TICK
        else:
            every = LINE_EVERY
        self._ticker = asyncio.create_task(self._tick(every / self.waits.scale))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self._bar is not None:
            self._bar.close()

    def advance(self) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.set_postfix_str(self._status(), refresh=False)
            self._bar.update()

    def line(self) -> str:
        """ "cancelling: 100/150 settled, waiting 55 s for 3Commas' limit: 100 requests/min"."""
        count = f"{self.done}/{self.total} settled" if self.total is not None else f"{self.done} so far"
        status = self._status()
        return f"{self.desc}: {count}" + (f", {status}" if status else "")

    def _status(self) -> str:
        parts = [self.detail() if self.detail is not None else None, self.waits.status()]
        return ", ".join(part for part in parts if part)

    async def _tick(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            if self._bar is not None:
                self._bar.set_postfix_str(self._status())
            else:
                self.out.note(self.line())


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
