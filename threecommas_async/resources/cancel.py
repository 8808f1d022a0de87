"""Bulk cancellation: many DELETEs at once, exactly one result per distinct id, nothing lost, no outcome
claimed that the answers do not prove.

What each outcome needs as proof:

- ``cancelled``: a well-formed 2xx to a DELETE of this call showing this id cancelling or cancelled, or
  an empty 2xx (older API versions answered 204); 3Commas refuses (403/422) a cancel with nothing left
  to do, so an accepted one did the work.
- ``already_final``: the trade is closed in a way no cancel leads to (finished, failed, closing at
  market), or a DELETE that was the first to reach the server was refused and a GET shows it cancelling
  or cancelled: it was so before this call.
- ``final``: a GET shows it cancelling or cancelled, but an attempt's answer was lost or garbled on the
  way, so whether this call or an earlier one did it cannot be told. ``ok`` either way.
- ``failed``: the trade is not cancelled (a GET shows it active, or the request provably never did
  anything: 404, 401, not sent). ``error`` says why.
- ``unknown``: it may or may not be cancelled (an answer was lost and the checking GET failed too).

A fixed pool of ``concurrency`` workers pulls ids from one iterator, so 10,000 ids cost 10,000 small
results, not 10,000 tasks; the answers are decoded down to id and status only, and the full SmartTrade
of a result is decoded from the kept body when a program reads ``result.trade``.
"""

from __future__ import annotations

import asyncio
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Final, Literal, Protocol

from .._errors import (
    PermissionDeniedError,
    ResponseDecodeError,
    ThreeCommasError,
    UnprocessableEntityError,
    may_have_acted,
)
from .._operation import Operation, begin
from .._status import CANCELLING, CLOSED_OTHERWISE, FINAL
from ..models._state import LazyTrade, Seen
from .final import FinalTarget, wait_final

__all__ = [
    "DEFAULT_CONCURRENCY",
    "OK_OUTCOMES",
    "CancelResult",
    "CancelStream",
    "CancelTarget",
    "Outcome",
    "cancel_one",
    "settle",
]

DEFAULT_CONCURRENCY: Final = 32

Outcome = Literal["cancelled", "already_final", "final", "failed", "unknown"]
OK_OUTCOMES: Final = frozenset({"cancelled", "already_final", "final"})


class CancelTarget(FinalTarget, Protocol):
    """What a bulk cancel needs: the DELETE, and a look at the trade at the cancels' priority, each decoded
    to id and status with the body kept (``models._state.Seen``); and for ``wait=True``, what waiting for
    final states needs (``resources.final``)."""

    async def _delete_seen(self, id: int) -> Seen | None:
        """The DELETE's answer (None: an empty one)."""
        ...

    async def _look_seen(self, id: int, priority: int = ...) -> Seen:
        """A GET; by default it waits with the cancels, not behind the reads they overtake."""
        ...


class CancelResult(LazyTrade):
    """The outcome for one id of :meth:`SmartTrades.cancel_many`.

    ``outcome``: ``"cancelled"`` (this call cancelled it), ``"already_final"`` (it was cancelled, finished
    or failed before, or is being closed at market), ``"final"`` (it is cancelled or on its way, but an
    answer was lost, so whether this call did it cannot be told), ``"failed"`` (it is not cancelled:
    ``error`` says why) or ``"unknown"`` (it may or may not be: an answer was lost and checking failed).
    ``ok`` is True for the first three, and ``error`` is set exactly when ``ok`` is False.
    ``trade`` is the SmartTrade as the last answer showed it, decoded on first access (None when no answer
    carried one, or when it does not decode: ``trade_error`` then says why); ``status`` its status.
    ``elapsed``: seconds spent on this id, retries and the checking GET included.
    With ``cancel_many(..., wait=True)``, ``final`` tells whether the trade reached a final state
    (cancelled, finished, failed) within the wait; without, it is None.
    """

    __slots__ = ("elapsed", "error", "final", "id", "outcome", "status")

    def __init__(
        self,
        id: int,
        outcome: Outcome,
        *,
        error: ThreeCommasError | None = None,
        seen: Seen | None = None,
        elapsed: float = 0.0,
    ) -> None:
        super().__init__(seen.body if seen is not None else None)
        self.id = id
        self.outcome: Outcome = outcome
        self.error = error
        self.status = seen.state.kind if seen is not None else None
        self.elapsed = elapsed
        self.final: bool | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in OK_OUTCOMES

    @property
    def already_final(self) -> bool:
        return self.outcome == "already_final"

    def __repr__(self) -> str:
        error = f", error={type(self.error).__name__}" if self.error is not None else ""
        return (
            f"CancelResult(id={self.id}, outcome={self.outcome!r}, status={self.status!r}{error}, "
            f"elapsed={self.elapsed:.3f})"
        )


def refused(error: ThreeCommasError) -> bool:
    """403/422: 3Commas understood the cancel and would not do it (often: nothing left to cancel)."""
    return isinstance(error, PermissionDeniedError | UnprocessableEntityError)


def acted_before(error: ThreeCommasError) -> bool:
    """Could an attempt before this failure have done the work (its answer lost on the way back)?"""
    return any(may_have_acted(e) for e in error.attempts()[:-1])


def _shows(seen: Seen, id: int) -> str | None:
    """The status an answer shows for ``id`` (None: it shows another trade, or none)."""
    return seen.state.kind if seen.state.id == id else None


async def settle(target: CancelTarget, id: int, error: ThreeCommasError) -> CancelResult:
    """Look at the trade to decide what a failed or unproven cancel meant (see the module's table)."""
    try:
        seen = await target._look_seen(id)
        status = _shows(seen, id)
        if status is None:
            raise ResponseDecodeError(
                f"GET /v2/smart_trades/{id}: the answer is not this SmartTrade",
                status=200,
                method="GET",
                url="",
                body=bytes(seen.body).decode("utf-8", "replace"),
            )
    except ThreeCommasError:
        return CancelResult(id, "unknown", error=error)
    if status in CLOSED_OTHERWISE:
        return CancelResult(id, "already_final", seen=seen)
    if status in CANCELLING:
        if refused(error) and not acted_before(error):
            return CancelResult(id, "already_final", seen=seen)
        return CancelResult(id, "final", seen=seen)
    return CancelResult(id, "failed", error=error, seen=seen)


def unproven(id: int, shown_id: int | None, status: str | None, body: str = "") -> ResponseDecodeError:
    """The error of a 2xx to a cancel that shows another trade, none, or this one still active."""
    what = f"SmartTrade {shown_id}" if shown_id != id else f"it with status {status or 'none'}"
    return ResponseDecodeError(
        f"DELETE /v2/smart_trades/{id}: 3Commas answered 2xx but showed {what}, not a cancel",
        status=200,
        method="DELETE",
        url="",
        body=body,
    )


async def cancel_one(target: CancelTarget, id: int) -> CancelResult:
    """Cancel one id; never raises for what the server or the network did."""
    try:
        seen = await target._delete_seen(id)
    except ThreeCommasError as exc:
        if refused(exc) or any(may_have_acted(e) for e in exc.attempts()):
            return await settle(target, id, exc)
        return CancelResult(id, "failed", error=exc)
    if seen is None:
        # An empty 2xx: accepted. A look gives the trade; failing to look does not undo the cancel.
        try:
            return CancelResult(id, "cancelled", seen=await target._look_seen(id))
        except ThreeCommasError:
            return CancelResult(id, "cancelled")
    status = _shows(seen, id)
    if status in CANCELLING:
        return CancelResult(id, "cancelled", seen=seen)
    if status in CLOSED_OTHERWISE:
        return CancelResult(id, "already_final", seen=seen)
    # A 2xx that is another trade, {}, or the trade still active: the cancel is not proven.
    body = bytes(seen.body).decode("utf-8", "replace")
    return await settle(target, id, unproven(id, seen.state.id, seen.state.kind, body))


class _DistinctIds:
    """The ids given, each once, in the order given, checked before anything is sent. Kept compact (8 bytes
    an id, and a byte for "taken"), so 50,000 ids cost half a megabyte, not a dict and a list of them."""

    __slots__ = ("_order", "_sorted", "_taken", "count")

    def __init__(self, ids: Iterable[int]) -> None:
        values: Sequence[int] = ids if isinstance(ids, list | tuple | range) else list(ids)
        bad = [i for i in values if type(i) is not int or i <= 0]
        if bad:
            shown = ", ".join(repr(b) for b in bad[:5]) + (", …" if len(bad) > 5 else "")
            raise ValueError(f"cancel_many: ids must be positive integers; got {shown}")
        try:
            self._order = array("q", values)
        except OverflowError:
            raise ValueError("cancel_many: an id is larger than 3Commas ids can be (64 bits)") from None
        unique = array("q")
        last = 0
        for value in sorted(values):  # a list of references to the ints given: no new objects
            if value != last:
                unique.append(value)
                last = value
        self._sorted = unique
        self._taken = bytearray(len(unique))
        self.count = len(unique)

    def __iter__(self) -> Iterator[int]:
        taken, ordered = self._taken, self._sorted
        for value in self._order:
            at = bisect_left(ordered, value)
            if not taken[at]:
                taken[at] = 1
                yield value

    def untaken(self) -> list[int]:
        """The ids no worker took yet, in the order given."""
        taken, ordered = self._taken, self._sorted
        left = (value for value in self._order if not taken[bisect_left(ordered, value)])
        return list(dict.fromkeys(left))


class CancelStream:
    """``async for result in client.smart_trades.cancel_many(ids)``: one :class:`CancelResult` per distinct
    id, in the order they settle. Nothing starts before the first ``async for`` step; breaking out (or
    ``aclose()``) stops the workers; a consumer that stops reading stops them too, after at most
    ``concurrency`` more results.

    While it runs, or after an interruption, it says where every id stands: :attr:`settled` (results
    produced), :meth:`in_flight` (taken by a worker, not settled), :meth:`sent` (of those, the ones whose
    request went out, so 3Commas may have acted on them), :meth:`awaiting_final` (with ``wait=True``:
    cancelled, not yet final) and :meth:`not_started`.
    """

    __slots__ = (
        "_concurrency",
        "_done",
        "_failure",
        "_flight",
        "_held",
        "_ids",
        "_iter",
        "_ready",
        "_space",
        "_target",
        "_timeout",
        "_wait",
        "_wake",
        "_workers",
        "settled",
    )

    def __init__(
        self,
        target: CancelTarget,
        ids: _DistinctIds,
        concurrency: int,
        timeout: float | None,
        wait: float | None = None,
    ) -> None:
        self._target = target
        self._wait = wait
        self._held: dict[int, CancelResult] = {}
        """With ``wait``: results cancelled but not final yet, until a look shows them final."""
        self._ids = ids
        self._iter = iter(ids)
        self._concurrency = concurrency
        self._timeout = timeout
        self._ready: deque[CancelResult] = deque()
        self._flight: dict[int, Operation] = {}
        self._workers: list[asyncio.Task[None]] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._space: asyncio.Future[None] | None = None
        self._failure: BaseException | None = None
        self._done = 0
        self.settled = 0

    @property
    def total(self) -> int:
        """Distinct ids in all."""
        return self._ids.count

    def in_flight(self) -> list[int]:
        return [*self._flight, *self._held]

    def sent(self) -> list[int]:
        return [id for id, operation in self._flight.items() if operation.sent]

    def not_started(self) -> list[int]:
        return self._ids.untaken()

    def take_ready(self) -> list[CancelResult]:
        """The results settled but not handed out yet, taken now: for a consumer cut short (Ctrl-C), so
        that an id settled as the interruption came is reported, not in none of the lists above."""
        ready = list(self._ready)
        self._ready.clear()
        self.settled += len(ready)
        return ready

    def awaiting_final(self) -> list[int]:
        """With ``wait=True``: the ids cancelled, held back until a look shows them final."""
        return list(self._held)

    def __aiter__(self) -> CancelStream:
        return self

    async def __anext__(self) -> CancelResult:
        if self._workers is None:
            self._start()
        while not self._ready:
            if self._failure is not None:
                failure, self._failure = self._failure, None
                raise failure
            if self.settled >= self._ids.count or self._done == len(self._workers or ()):
                await self.aclose()
                raise StopAsyncIteration
            self._wake = asyncio.get_running_loop().create_future()
            await self._wake
        result = self._ready.popleft()
        self.settled += 1
        space = self._space
        if space is not None and not space.done():
            space.set_result(None)
        return result

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        n = min(self._concurrency, self._ids.count)
        workers = [loop.create_task(self._work(), name="threecommas_async cancel_many") for _ in range(n)]
        if self._wait is not None:
            workers.append(loop.create_task(self._confirm(workers[:]), name="threecommas_async wait_final"))
        self._workers = workers

    def _finished(self, result: CancelResult) -> None:
        """A settled id: shown now, or with ``wait`` held until a look shows it final."""
        if self._wait is not None:
            if result.ok and result.status not in FINAL:
                self._held[result.id] = result
                return
            result.final = result.status in FINAL
        self._ready.append(result)
        self._tell()

    async def _confirm(self, cancels: list[asyncio.Task[None]]) -> None:
        """``wait``: once every cancel is settled, wait for the held ones to be final."""
        assert self._wait is not None
        try:
            await asyncio.wait(cancels)
            async for state in wait_final(self._target, list(self._held), timeout=self._wait):
                result = self._held.pop(state.id)
                result.final = state.final
                if state.final:
                    result.status = state.status
                    result._adopt(state)
                self._ready.append(result)
                self._tell()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug: surface it instead of hanging
            self._failure = exc
        finally:
            self._done += 1
            self._tell()

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        clock = loop.time
        try:
            for id in self._iter:
                operation = begin(self._timeout, clock)
                self._flight[id] = operation
                started = clock()
                result = await cancel_one(self._target, id)
                result.elapsed = clock() - started
                del self._flight[id]
                self._finished(result)
                # Bounded: when the consumer stops reading, the workers stop taking ids.
                while len(self._ready) >= self._concurrency:
                    if self._space is None or self._space.done():
                        self._space = loop.create_future()
                    await self._space
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug, not an API failure: surface it instead of hanging
            self._failure = exc
        finally:
            self._done += 1
            self._tell()

    def _tell(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def aclose(self) -> None:
        workers, self._workers = self._workers, []
        if workers:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)


def cancel_many(
    target: CancelTarget,
    ids: Iterable[int],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float | None = None,
    wait: bool = False,
    wait_timeout: float = 120.0,
) -> CancelStream:
    """Check the arguments now (not at the first ``async for`` step), then stream the results."""
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive integer, got {concurrency!r}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if not wait_timeout > 0:
        raise ValueError(f"wait_timeout must be a positive number of seconds, got {wait_timeout!r}")
    return CancelStream(target, _DistinctIds(ids), concurrency, timeout, wait_timeout if wait else None)
