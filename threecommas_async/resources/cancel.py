"""Bulk cancellation: many DELETEs at once, exactly one result per distinct id, nothing lost.

A fixed pool of ``concurrency`` workers pulls ids from one iterator, so 10,000 ids cost 10,000 small
results, not 10,000 tasks. Any answer that leaves the outcome uncertain (a 4xx that may mean "already
final", a timeout or broken connection after the request may have arrived, a 5xx, a garbled 2xx) is
settled with a GET before it is reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, replace
from time import monotonic
from typing import TYPE_CHECKING, Final

from .._errors import (
    PermissionDeniedError,
    ThreeCommasError,
    UnprocessableEntityError,
    may_have_acted,
)
from .._ratelimit import RISK_REDUCING
from ..models import SmartTrade

if TYPE_CHECKING:
    from .smart_trades import SmartTrades

__all__ = [
    "CANCELLING",
    "CLOSED_OTHERWISE",
    "DEFAULT_CONCURRENCY",
    "CancelResult",
    "cancel_many",
    "status_of",
]

DEFAULT_CONCURRENCY: Final = 32

CANCELLING: Final = frozenset({"cancellation_pending", "cancelled"})
"""A cancel is under way or done."""

CLOSED_OTHERWISE: Final = frozenset({"finished", "failed", "panic_sell_pending"})
"""Over, or being closed at market: nothing for a cancel to do, and no cancel of ours led here."""


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


def status_of(trade: SmartTrade) -> str | None:
    status = trade.status
    if status is None:
        return None
    return status.basic_type or status.type


async def _settle(resource: SmartTrades, id: int, error: ThreeCommasError) -> CancelResult:
    """Look at the trade to decide what an uncertain failure meant."""
    try:
        trade = await resource._get(id, RISK_REDUCING)
    except ThreeCommasError:
        return CancelResult(id, None, error)
    status = status_of(trade)
    if status in CLOSED_OTHERWISE:
        return CancelResult(id, trade, None, already_final=True)  # no DELETE of ours ends like this
    if status in CANCELLING:
        # A refusal (403/422) proves the trade was cancelled before this call only if no earlier attempt
        # of ours may have cancelled it; otherwise our request did the work and its answer was lost.
        refused = isinstance(error, PermissionDeniedError | UnprocessableEntityError)
        earlier = any(may_have_acted(e) for e in error.attempts()[:-1])
        return CancelResult(id, trade, None, already_final=refused and not earlier)
    return CancelResult(id, trade, error)


async def _cancel_one(resource: SmartTrades, id: int) -> CancelResult:
    try:
        return CancelResult(id, await resource.cancel(id))
    except ThreeCommasError as exc:
        refused = isinstance(exc, PermissionDeniedError | UnprocessableEntityError)
        if refused or any(may_have_acted(e) for e in exc.attempts()):
            return await _settle(resource, id, exc)
        return CancelResult(id, None, exc)


def _distinct_ids(ids: Iterable[int]) -> list[int]:
    unique = list(dict.fromkeys(ids))
    bad = [i for i in unique if not isinstance(i, int) or isinstance(i, bool) or i <= 0]
    if bad:
        shown = ", ".join(repr(b) for b in bad[:5]) + (", …" if len(bad) > 5 else "")
        raise ValueError(f"cancel_many: ids must be positive integers; got {shown}")
    return unique


def cancel_many(
    resource: SmartTrades, ids: Iterable[int], *, concurrency: int = DEFAULT_CONCURRENCY
) -> AsyncIterator[CancelResult]:
    """Check the arguments now (not at the first ``async for`` step), then stream the results."""
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive integer, got {concurrency!r}")
    return _stream(resource, _distinct_ids(ids), concurrency)


async def _stream(resource: SmartTrades, unique: list[int], concurrency: int) -> AsyncIterator[CancelResult]:
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
                result = await _cancel_one(resource, id)
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
