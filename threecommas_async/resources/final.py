"""Waiting until SmartTrades are final (cancelled, finished, failed), cheaply in 3Commas' allowance.

A cancel answers ``cancellation_pending``; a bot that wants to place new orders waits for ``cancelled``.
One GET per id and poll would spend the allowance the cancels need, so many ids are confirmed with the
list endpoint instead: every trade closed since the wait began, 100 per page, newest first
(``status=finished`` is closed in any way; ``order_by=closed_at``), stopping at the first trade closed
before the wait began. Polls back off (``poll``, doubling to ``max_poll``), wait behind every other request
(background priority), and a few ids left are looked at one GET each when that costs less than a page.
Each request runs within the time left, so the wait ends at its timeout whatever the server does.

A trade that was final well before the wait began (more than ``SLACK``) is not on the pages looked at:
pass the ids a cancel left pending (``CancelResult.outcome == "cancelled"``), not those already final.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from .._errors import NotFoundError, ThreeCommasError
from .._routes import BACKGROUND
from .._status import FINAL
from ..models._state import LazyTrade, Seen

__all__ = ["FinalState", "FinalTarget", "wait_final"]

PAGE: Final = 100
FEW: Final = 3
"""With this many ids left or fewer, one GET each costs less than a page of the list."""
SLACK: Final = timedelta(seconds=60)
"""Trades closed up to this long before the wait began are still looked for (clocks differ, a cancel
that completed just before the wait)."""


class FinalTarget(Protocol):
    async def _list_closed(self, page: int) -> list[Seen]:
        """A page of closed SmartTrades, the most recently closed first, at background priority."""
        ...

    async def _look_seen(self, id: int, priority: int = ...) -> Seen: ...


class FinalState(LazyTrade):
    """Where one id stands after :meth:`SmartTrades.wait_final`: ``final`` (it reached ``status``, one of
    cancelled, finished, failed) or not within the time given (``status`` is then the last one seen, or
    None). ``error`` is set when the id could not be looked at (e.g. ``NotFoundError``). ``trade`` is the
    SmartTrade as last seen, decoded on first access."""

    __slots__ = ("error", "final", "id", "status")

    def __init__(
        self,
        id: int,
        final: bool,
        status: str | None,
        *,
        seen: Seen | None = None,
        error: ThreeCommasError | None = None,
    ) -> None:
        super().__init__(seen.body if seen is not None else None)
        self.id = id
        self.final = final
        self.status = status
        self.error = error

    def __repr__(self) -> str:
        return f"FinalState(id={self.id}, final={self.final}, status={self.status!r})"


def _distinct(ids: Iterable[int]) -> dict[int, str | None]:
    found: dict[int, str | None] = {}
    for id in ids:
        if type(id) is not int or id <= 0:
            raise ValueError(f"wait_final: ids must be positive integers; got {id!r}")
        found[id] = None
    return found


def wait_final(
    target: FinalTarget,
    ids: Iterable[int],
    *,
    timeout: float = 120.0,
    poll: float = 2.0,
    max_poll: float = 30.0,
) -> AsyncIterator[FinalState]:
    """Check the arguments now, then yield one :class:`FinalState` per distinct id: as each is seen final,
    and the rest when ``timeout`` seconds have passed."""
    if not timeout > 0 or not poll > 0 or not max_poll >= poll:
        raise ValueError("wait_final: timeout and poll must be positive, and max_poll at least poll")
    return _wait(target, _distinct(ids), timeout, poll, max_poll)


async def _wait(
    target: FinalTarget, pending: dict[int, str | None], within: float, poll: float, max_poll: float
) -> AsyncIterator[FinalState]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    since = datetime.fromtimestamp(time.time(), UTC) - SLACK
    delay = poll
    try:
        while pending:
            left = deadline - loop.time()
            if left <= 0:
                break
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, max_poll)
            if len(pending) <= FEW:
                for id in list(pending):
                    try:
                        # Every request within the time left: a cool-down or a hung answer never
                        # stretches the wait past its timeout.
                        async with asyncio.timeout_at(deadline):
                            seen = await target._look_seen(id, BACKGROUND)
                    except NotFoundError as exc:
                        del pending[id]
                        yield FinalState(id, False, None, error=exc)
                        continue
                    except ThreeCommasError:
                        continue  # asked again at the next poll
                    if seen.state.id != id:
                        continue  # an answer about another trade proves nothing about this one
                    status = seen.state.kind
                    if status in FINAL:
                        del pending[id]
                        yield FinalState(id, True, status, seen=seen)
                    else:
                        pending[id] = status
                continue
            page = 1
            listed: set[int] = set()
            while pending and loop.time() < deadline:
                try:
                    async with asyncio.timeout_at(deadline):
                        seens = await target._list_closed(page)
                except ThreeCommasError:
                    break  # this poll is over; the next one starts again from the first page
                new = 0
                for seen in seens:
                    found, status = seen.state.id, seen.state.kind
                    if found is None or found in listed:
                        continue
                    listed.add(found)
                    new += 1
                    if found in pending and status in FINAL:
                        del pending[found]
                        yield FinalState(found, True, status, seen=seen)
                closed = seens[-1].state.closed_at if seens else None
                # A page that shows nothing new (a server repeating its last page) ends the poll too.
                if len(seens) < PAGE or new == 0 or (closed is not None and closed < since):
                    break
                page += 1
    except TimeoutError:
        pass  # the time is up in the middle of a request: what is still pending is reported so
    for id, status in pending.items():
        yield FinalState(id, False, status)
