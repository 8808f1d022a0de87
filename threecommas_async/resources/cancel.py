"""Bulk cancellation: many DELETEs at once, exactly one result per distinct id, nothing lost.

A fixed pool of ``concurrency`` workers pulls ids from one iterator, so 10,000 ids cost 10,000 small
results, not 10,000 tasks. Any answer that leaves the outcome uncertain (a 4xx that may mean "already
final", a timeout or broken connection after the request may have arrived, a 5xx, a garbled 2xx) is
settled with a GET before it is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, replace
from time import monotonic
from typing import Final, Protocol

from .._errors import (
    PermissionDeniedError,
    ThreeCommasError,
    UnprocessableEntityError,
    may_have_acted,
)
from .._status import CANCELLING, CLOSED_OTHERWISE, status_of
from ..models import SmartTrade

__all__ = ["DEFAULT_CONCURRENCY", "CancelResult", "CancelTarget", "cancel_many", "settle"]

DEFAULT_CONCURRENCY: Final = 32


class CancelTarget(Protocol):
    """What a bulk cancel needs: the DELETE, and a look at the trade at the cancels' priority."""

    async def _delete(self, id: int) -> SmartTrade | None:
        """The DELETE's answer (None: an empty one)."""
        ...

    async def _look(self, id: int) -> SmartTrade:
        """A GET that waits with the cancels, not behind the reads they overtake."""
        ...


@dataclass(frozen=True, slots=True)
class CancelResult:
    """The outcome for one id of :meth:`SmartTrades.cancel_many`.

    ``ok`` is True when the SmartTrade is cancelled or on its way there, or was already final.
    ``already_final`` tells the second case apart: this call did not cancel it, it was cancelled,
    finished or failed before, or is being closed at market (``panic_sell_pending``), as a GET showed.
    ``error`` is set exactly when ``ok`` is False.
    ``elapsed`` is the wall time spent on this id in seconds, retries and the checking GET included.
    """

    id: int
    trade: SmartTrade | None = None
    error: ThreeCommasError | None = None
    already_final: bool = False
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def refused(error: ThreeCommasError) -> bool:
    """403/422: 3Commas understood the cancel and would not do it (often: nothing left to cancel)."""
    return isinstance(error, PermissionDeniedError | UnprocessableEntityError)


def acted_before(error: ThreeCommasError) -> bool:
    """Could an attempt before this failure have done the work (its answer lost on the way back)?"""
    return any(may_have_acted(e) for e in error.attempts()[:-1])


async def settle(target: CancelTarget, id: int, error: ThreeCommasError) -> CancelResult:
    """Look at the trade to decide what an uncertain failure of its cancel meant."""
    try:
        trade = await target._look(id)
    except ThreeCommasError:
        return CancelResult(id, None, error)
    status = status_of(trade)
    if status in CLOSED_OTHERWISE:
        return CancelResult(id, trade, None, already_final=True)  # no DELETE of ours ends like this
    if status in CANCELLING:
        # A refusal (403/422) proves the trade was cancelled before this call only if no earlier attempt
        # of ours may have cancelled it; otherwise our request did the work and its answer was lost.
        return CancelResult(id, trade, None, already_final=refused(error) and not acted_before(error))
    return CancelResult(id, trade, error)


async def _cancel_one(target: CancelTarget, id: int) -> CancelResult:
    try:
        trade = await target._delete(id)
    except ThreeCommasError as exc:
        if refused(exc) or any(may_have_acted(e) for e in exc.attempts()):
            return await settle(target, id, exc)
        return CancelResult(id, None, exc)
    if trade is None:
        # An empty 2xx (older API versions answered 204): the cancel was accepted; a look gives the trade,
        # and failing to look does not undo the cancel.
        with contextlib.suppress(ThreeCommasError):
            trade = await target._look(id)
    return CancelResult(id, trade)


def _distinct_ids(ids: Iterable[int]) -> list[int]:
    unique = list(dict.fromkeys(ids))
    bad = [i for i in unique if not isinstance(i, int) or isinstance(i, bool) or i <= 0]
    if bad:
        shown = ", ".join(repr(b) for b in bad[:5]) + (", …" if len(bad) > 5 else "")
        raise ValueError(f"cancel_many: ids must be positive integers; got {shown}")
    return unique


def cancel_many(
    target: CancelTarget, ids: Iterable[int], *, concurrency: int = DEFAULT_CONCURRENCY
) -> AsyncIterator[CancelResult]:
    """Check the arguments now (not at the first ``async for`` step), then stream the results."""
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive integer, got {concurrency!r}")
    return _stream(target, _distinct_ids(ids), concurrency)


async def _stream(target: CancelTarget, unique: list[int], concurrency: int) -> AsyncIterator[CancelResult]:
    """Yield one :class:`CancelResult` per distinct id, in completion order."""
    if not unique:
        return
    pending: Iterator[int] = iter(unique)
    # Bounded: when the consumer stops reading (a break without aclose()), workers stop taking ids
    # after at most `concurrency` more, instead of cancelling everything into an unread queue.
    results: asyncio.Queue[CancelResult | BaseException] = asyncio.Queue(maxsize=concurrency)

    async def worker() -> None:
        try:
            for id in pending:
                started = monotonic()
                result = await _cancel_one(target, id)
                await results.put(replace(result, elapsed=monotonic() - started))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug, not an API failure: surface it instead of hanging
            await results.put(exc)

    workers = [asyncio.create_task(worker()) for _ in range(min(concurrency, len(unique)))]
    try:
        for _ in range(len(unique)):
            item = await results.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
