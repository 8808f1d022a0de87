"""The runtime side of :class:`RateLimit` for one client: its queue of waiting requests, in priority order,
in front of the storage that keeps the shared allowance.

A request asks the storage directly when nobody of this client waits (one call, no task switch). Once
one waits, every later request queues behind it, and one dispatcher task serves the queues: risk-reducing
first, then normal, then background; within a priority, oldest first, one queue per endpoint so that a
full list window never holds back a cancel. The dispatcher sleeps on the loop's clock (``loop.call_at``)
until the storage's answer says a slot frees, or until it is told sooner: by a release of this client,
by the memory storage when another client of the key frees a slot, or by close(). Storages shared with
other processes cannot tell; there a wait whose end is a lease (a request still in flight elsewhere) is
looked at again every ``RECHECK`` seconds.

With ``rate_limit=None`` nothing is counted, but 429 cool-downs and 418 bans still hold, so turning the
limiter off can never get an IP banned.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Final

from ._errors import ClientClosedError, IPBannedError, RateLimitError, ThreeCommasError
from ._events import ClientEvent, EventHook, emit
from ._ledger import BAN, COOLDOWN, GLOBAL, GRANTED, UNLIMITED, Decision, WindowSpec, fits
from ._log import log
from ._ratelimit import MAX_BAN, RateLimit
from ._routes import RISK_REDUCING
from ._storage import Storage
from ._storage_memory import MemoryStorage

__all__ = ["RECHECK", "Gate"]

RECHECK: Final = 0.05
"""How often a waiter looks again at a shared storage while the slot it waits for is still in flight."""


class _Waiter:
    __slots__ = ("future", "method", "path", "specs")

    def __init__(
        self, future: asyncio.Future[int], specs: tuple[WindowSpec, ...], method: str, path: str
    ) -> None:
        self.future = future
        self.specs = specs
        self.method = method
        self.path = path


class Gate:
    """Waiting room and storage client of one client. Not thread-safe: one event loop, like the client."""

    __slots__ = (
        "_announced_until",
        "_closed",
        "_config",
        "_hook",
        "_key",
        "_learn_for",
        "_lease",
        "_limiting",
        "_loop",
        "_queues",
        "_reserve",
        "_specs",
        "_storage",
        "_strikes",
        "_take_now",
        "_task",
        "_thread",
        "_unsubscribe",
        "_waiting",
        "_wake",
    )

    def __init__(
        self,
        rate_limit: RateLimit | None,
        storage: Storage,
        key: str,
        *,
        lease: float,
        hook: EventHook | None = None,
    ) -> None:
        config = rate_limit if rate_limit is not None else RateLimit()
        self._config = config
        self._limiting = rate_limit is not None
        self._storage = storage
        # The memory storage answers at once: asked without a coroutine, the fast path costs less.
        self._take_now = storage.take_now if isinstance(storage, MemoryStorage) else None
        self._key = key
        self._lease = lease
        self._hook = hook
        self._reserve = config.reserve if self._limiting else 0.0
        self._learn_for = float(config.learn_for or 0.0) if (self._limiting and config.adaptive) else 0.0
        self._specs: dict[str, tuple[WindowSpec, ...]] = {}
        self._queues: dict[tuple[int, str], deque[_Waiter]] = {}
        self._waiting = 0
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self._unsubscribe: Callable[[], None] | None = None
        self._announced_until = 0.0
        self._strikes = 0
        self._closed = False

    # -- configuration --------------------------------------------------------------------------------
    def specs(self, endpoint: str) -> tuple[WindowSpec, ...]:
        """The windows a request to ``endpoint`` takes a slot in: the global one first."""
        specs = self._specs.get(endpoint)
        if specs is None:
            config = self._config
            period = config.time_period * (1 + config.margin)
            limit = fits(config.max_rate) if self._limiting else UNLIMITED
            found = [WindowSpec(GLOBAL, limit, period, config.cooldown)]
            extra = config.endpoints.get(endpoint)
            if extra is not None:
                found.append(
                    WindowSpec(
                        endpoint,
                        fits(extra.max_rate) if self._limiting else UNLIMITED,
                        extra.time_period * (1 + config.margin),
                        extra.cooldown,
                    )
                )
            specs = self._specs[endpoint] = tuple(found)
        return specs

    # -- the hot path ---------------------------------------------------------------------------------
    async def acquire(self, endpoint: str, priority: int, method: str, path: str) -> int:
        """Wait for a slot; returns its token, to pass to :meth:`release` when the answer is in."""
        if self._closed:
            raise self._closed_error(method, path)
        specs = self.specs(endpoint)
        if not self._waiting:
            loop = self._loop or self._bind()
            reserve = 0 if priority == RISK_REDUCING else self._reserve
            take_now = self._take_now
            if take_now is not None:
                decision = take_now(self._key, specs, loop.time(), reserve)
            else:
                decision = await self._storage.acquire(
                    self._key, specs, loop.time(), self._lease, reserve, self._config.storage_timeout
                )
            if decision.kind is GRANTED:
                return decision.token
            self._refuse(decision, method, path)
        return await self._queue(endpoint, specs, priority, method, path)

    def release(self, endpoint: str, token: int, passed: bool = True) -> None:
        """The answer to a granted request arrived (or the attempt ended): its window time starts now.
        ``passed``: the server let it through (an answer, and not a 429 or a 418)."""
        loop = self._loop
        self._storage.release(self._key, self.specs(endpoint), token, loop.time() if loop else 0.0, passed)
        if self._waiting:
            self._poke()

    async def warm_up(self) -> None:
        """Open the storage now (see :meth:`Storage.warm_up`)."""
        await self._storage.warm_up(self._config.storage_timeout)

    def succeeded(self) -> None:
        """A request got a 2xx: bans without Retry-After start short again."""
        if self._strikes:
            self._strikes = 0
            self._background(self._storage.clear_strikes())

    # -- waiting --------------------------------------------------------------------------------------
    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        return loop

    def _refuse(self, decision: Decision, method: str, path: str) -> None:
        """Raise at once for what waiting cannot fix: a ban, or a cool-down longer than ``max_wait``."""
        if decision.kind is BAN:
            self._strikes = max(self._strikes, 1)
            raise _banned(method, path, decision.wait)
        if decision.kind is COOLDOWN:
            self._announce_cooldown(decision.wait, method, path)
            if decision.wait > self._config.max_wait:
                raise self._too_long(method, path, decision.wait)

    async def _queue(
        self, endpoint: str, specs: tuple[WindowSpec, ...], priority: int, method: str, path: str
    ) -> int:
        loop = self._loop or self._bind()
        waiter = _Waiter(loop.create_future(), specs, method, path)
        key = (priority, endpoint)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            # Ordered by priority so the dispatcher serves risk-reducing queues first.
            self._queues = dict(sorted(self._queues.items(), key=lambda kv: kv[0][0]))
        queue.append(waiter)
        self._waiting += 1
        if self._task is None:
            if self._unsubscribe is None and not self._storage.shared:
                self._unsubscribe = self._storage.subscribe(self._key, self._told)
            self._task = loop.create_task(self._dispatch(), name="threecommas_async rate limit")
        else:
            self._poke()
        try:
            return await waiter.future
        finally:
            if not waiter.future.done() or waiter.future.cancelled():
                self._forget(queue, waiter)

    def _forget(self, queue: deque[_Waiter], waiter: _Waiter) -> None:
        """A waiter gave up (its task was cancelled) before the dispatcher took it out of the queue."""
        with contextlib.suppress(ValueError):
            queue.remove(waiter)
            self._waiting -= 1
            if not self._waiting:
                self._poke()  # let the dispatcher see the queues are empty, and end

    def _told(self) -> None:
        """The memory storage's listener: may be called from another client's thread."""
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() == self._thread:
            self._poke()
        else:
            loop.call_soon_threadsafe(self._poke)

    def _poke(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        storage, key, lease = self._storage, self._key, self._lease
        timeout = self._config.storage_timeout
        stalled = False
        try:
            while self._waiting:
                sleep = math.inf
                for (priority, _), queue in tuple(self._queues.items()):
                    reserve = 0 if priority == RISK_REDUCING else self._reserve
                    while queue:
                        waiter = queue[0]
                        if waiter.future.done():  # cancelled while queued
                            queue.popleft()
                            self._waiting -= 1
                            continue
                        try:
                            decision = await storage.acquire(
                                key, waiter.specs, loop.time(), lease, reserve, timeout
                            )
                        except ThreeCommasError as exc:  # the storage is out of reach: fail closed
                            self._fail_all(exc)
                            break
                        if decision.kind is GRANTED:
                            # A shared storage answers after a round trip, while which the waiter may have
                            # been cancelled and taken out of the queue by its own task.
                            if queue and queue[0] is waiter:
                                queue.popleft()
                                self._waiting -= 1
                            if waiter.future.done():
                                storage.give_back(key, waiter.specs, decision.token)
                            else:
                                waiter.future.set_result(decision.token)
                            continue
                        if decision.kind is BAN or (
                            decision.kind is COOLDOWN and decision.wait > self._config.max_wait
                        ):
                            self._fail_all(decision)
                            break
                        if decision.kind is COOLDOWN:
                            self._announce_cooldown(decision.wait, waiter.method, waiter.path)
                        elif not stalled and decision.wait < math.inf:
                            # (An infinite wait means every slot is in flight: the wait is known once one
                            # of them is answered, and the event waits until then.)
                            stalled = True
                            emit(
                                self._hook,
                                ClientEvent(
                                    "throttle", waiter.method, waiter.path, attempt=0, wait=decision.wait
                                ),
                            )
                        wait = decision.wait
                        if not decision.exact and storage.shared:
                            wait = min(wait, RECHECK)
                        sleep = min(sleep, wait)
                        break
                if self._waiting:
                    await self._sleep(loop, sleep)
        finally:
            self._task = None
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None

    async def _sleep(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        """Until ``seconds`` pass on the loop's clock, or until poked."""
        wake = self._wake = loop.create_future()
        timer = loop.call_at(loop.time() + seconds, _wake_up, wake) if seconds < math.inf else None
        try:
            await wake
        finally:
            self._wake = None
            if timer is not None:
                timer.cancel()

    def _fail_all(self, why: Decision | ThreeCommasError) -> None:
        """Every waiter fails at once: a ban, a cool-down past ``max_wait``, or an unreachable storage."""
        for queue in self._queues.values():
            while queue:
                waiter = queue.popleft()
                self._waiting -= 1
                if waiter.future.done():
                    continue
                error: Exception
                if isinstance(why, ThreeCommasError):
                    error = why
                elif why.kind is BAN:
                    self._strikes = max(self._strikes, 1)
                    error = _banned(waiter.method, waiter.path, why.wait)
                else:
                    error = self._too_long(waiter.method, waiter.path, why.wait)
                waiter.future.set_exception(error)

    # -- feedback from the server ---------------------------------------------------------------------
    async def on_rate_limited(
        self, endpoint: str, retry_after: float | None, method: str, path: str
    ) -> float:
        """A 429 arrived: pause every request sharing the windows it hit. Returns the pause in seconds."""
        loop = self._loop or self._bind()
        config = self._config
        if retry_after is not None:
            retry_after = min(retry_after, config.max_cooldown)
        wait, learned = await self._storage.cool_down(
            self._key, self.specs(endpoint), retry_after, loop.time(), self._learn_for, config.storage_timeout
        )
        log.warning("rate limited (429): %s %s, every request of the key pauses %.1fs", method, path, wait)
        if learned:
            log.warning(
                "3Commas answered 429 to this API key although the client kept to %g requests per %gs: it "
                "allows the key less (a smaller plan, or another program on the key). Sending at most %d "
                "per %gs for the next %.0fs",
                config.max_rate,
                config.time_period,
                learned,
                config.time_period,
                self._learn_for,
            )
        self._announce_cooldown(wait, method, path, force=True)
        if self._waiting:
            self._poke()
        return wait

    async def on_banned(self, retry_after: float | None, method: str, path: str) -> float:
        """A 418 arrived: nothing is sent for any key of the storage until the ban should be over."""
        loop = self._loop or self._bind()
        config = self._config
        if retry_after is not None:
            retry_after = min(retry_after, MAX_BAN)
        duration, self._strikes = await self._storage.ban(
            retry_after, config.ban_duration, MAX_BAN, loop.time(), config.storage_timeout
        )
        log.error("IP banned (418): %s %s, refusing every request for %.0fs", method, path, duration)
        emit(self._hook, ClientEvent("ban", method, path, attempt=0, wait=duration, status=418))
        if self._waiting:
            self._poke()
        return duration

    def _announce_cooldown(self, wait: float, method: str, path: str, *, force: bool = False) -> None:
        """One "cooldown" event per pause, whoever's 429 started it (another client, another process)."""
        loop = self._loop
        until = (loop.time() if loop else 0.0) + wait
        if force or until > self._announced_until + 1.0:
            self._announced_until = max(self._announced_until, until)
            emit(self._hook, ClientEvent("cooldown", method, path, attempt=0, wait=wait, status=429))

    # -- lifecycle ------------------------------------------------------------------------------------
    def close(self) -> None:
        """Wake every waiter at once with :class:`ClientClosedError`; refuse every later request."""
        self._closed = True
        for queue in self._queues.values():
            while queue:
                waiter = queue.popleft()
                self._waiting -= 1
                if not waiter.future.done():
                    waiter.future.set_exception(self._closed_error(waiter.method, waiter.path))
        task = self._task
        if task is not None:
            task.cancel()

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        loop = self._loop
        if loop is None:
            coro.close()
            return
        task = loop.create_task(coro)
        _BACKGROUND.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(_BACKGROUND.discard)
        task.add_done_callback(_quiet)

    def _too_long(self, method: str, path: str, wait: float) -> RateLimitError:
        return RateLimitError(
            f"{method} {path} not sent: rate-limit cool-down has {wait:.1f}s left, "
            f"more than max_wait={self._config.max_wait:g}s",
            status=429,
            method=method,
            url=path,
            retry_after=wait,
            sent=False,
        )

    @staticmethod
    def _closed_error(method: str, path: str) -> ClientClosedError:
        return ClientClosedError(f"{method} {path} not sent: the ThreeCommasClient is closed")


def _banned(method: str, path: str, left: float) -> IPBannedError:
    return IPBannedError(
        f"{method} {path} not sent: the IP is banned by 3Commas (418) for {left:.0f}s more",
        status=418,
        method=method,
        url=path,
        retry_after=left,
    )


_BACKGROUND: Final[set[asyncio.Task[None]]] = set()


def _wake_up(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _quiet(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("rate-limit storage: background update failed: %s", task.exception())
