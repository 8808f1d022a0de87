"""Client-side rate limiting: sliding windows, risk-first priority, 429 cool-downs and the 418 ban.

Why not a leaky bucket (aiolimiter's ``AsyncLimiter``): a bucket that starts empty lets ``max_rate`` through
at once and then refills while the first window is still open, so the first ``time_period`` can carry
nearly twice the limit, and 3Commas answers the excess with 429 and then a ban. A sliding log of the last
``max_rate`` send times states the rule exactly ("at most N in ANY window of T seconds"), lets a burst up to
N out at once, and costs one deque append per request. Waiters queue per (priority, endpoint) so that a
cancel never waits behind a read, and one timer serves all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from types import MappingProxyType
from typing import Final

from ._errors import IPBannedError, RateLimitError
from ._events import ClientEvent, EventHook, emit

__all__ = ["EndpointLimit", "Gate", "RateLimit"]

log = logging.getLogger("threecommas_async")

MAX_BAN: Final = 3 * 24 * 3600.0
"""3Commas' longest documented ban."""


def _check_limit(owner: str, max_rate: float, time_period: float, cooldown: float) -> None:
    # int(max_rate) < 1 would make a window that never admits anything: a silent, endless wait.
    if not max_rate >= 1:
        raise ValueError(f"{owner}: max_rate must be at least 1, got {max_rate!r}")
    if not time_period >= 0 or not cooldown >= 0:
        raise ValueError(f"{owner}: time_period and cooldown must not be negative")


@dataclass(frozen=True, slots=True)
class EndpointLimit:
    """A limit of its own for one endpoint, on top of the client-wide one."""

    max_rate: float
    time_period: float
    cooldown: float
    """How long 3Commas blocks this endpoint after a 429 it caused (used when no Retry-After comes)."""

    def __post_init__(self) -> None:
        _check_limit("EndpointLimit", self.max_rate, self.time_period, self.cooldown)


LIST_ENDPOINT: Final = "GET /v2/smart_trades"

DEFAULT_ENDPOINT_LIMITS: Final[Mapping[str, EndpointLimit]] = MappingProxyType(
    {LIST_ENDPOINT: EndpointLimit(max_rate=40, time_period=10.0, cooldown=10.0)}
)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """How fast the client may send. Defaults are 3Commas' documented limits. Immutable, so one
    instance can be shared by many clients.

    :param max_rate: at most this many requests in any window of ``time_period`` seconds, client-wide.
    :param time_period: the window, in seconds.
    :param cooldown: after a 429 without ``Retry-After``, how long every request waits (3Commas blocks
        for 300 s).
    :param endpoints: extra per-endpoint limits keyed ``"METHOD /path"`` (numeric path segments written
        ``{id}``, e.g. ``"GET /v2/smart_trades/{id}/trades"``); the list endpoint defaults to 40 per 10 s
        with a 10 s cool-down.
    :param max_wait: a request that would have to wait longer than this for a cool-down raises
        :class:`RateLimitError` (with ``retry_after``) at once instead of sleeping.
    :param ban_duration: after a 418 without ``Retry-After``, how long the client refuses to send; it
        doubles with each further 418 that follows without a success in between (3Commas' bans grow).
    :param margin: fraction of ``time_period`` added to each window, for servers that count in coarser
        windows than they document. Not needed for network delay: see ``_Window``.
    """

    max_rate: float = 100
    time_period: float = 60.0
    _: KW_ONLY
    cooldown: float = 300.0
    endpoints: Mapping[str, EndpointLimit] = field(default_factory=lambda: DEFAULT_ENDPOINT_LIMITS)
    max_wait: float = 60.0
    ban_duration: float = 120.0
    margin: float = 0.0

    def __post_init__(self) -> None:
        _check_limit("RateLimit", self.max_rate, self.time_period, self.cooldown)
        if not self.max_wait >= 0 or not self.ban_duration >= 0:
            raise ValueError("RateLimit: max_wait and ban_duration must not be negative")
        if not 0 <= self.margin < 1:
            raise ValueError(f"RateLimit: margin must be in [0, 1), got {self.margin!r}")
        for key, limit in self.endpoints.items():
            if not isinstance(limit, EndpointLimit):
                raise TypeError(f"RateLimit: endpoints[{key!r}] must be an EndpointLimit, got {limit!r}")
        object.__setattr__(self, "endpoints", MappingProxyType(dict(self.endpoints)))


class _Window:
    """At most ``limit`` requests in any ``period`` seconds, plus an optional blocked-until time.

    A request counts from the moment it is granted until ``period`` seconds after its answer came back.
    The server saw it somewhere in between, so whatever the network delay, no window the server can
    measure holds more than ``limit`` of ours: when the last request of such a window was granted,
    every earlier one was either still in flight or had finished less than ``period`` before.
    """

    __slots__ = ("blocked_until", "cooldown", "done", "in_flight", "limit", "period")

    def __init__(self, max_rate: float, period: float, cooldown: float) -> None:
        self.limit = int(max_rate)
        self.period = period
        self.cooldown = cooldown
        self.in_flight = 0
        self.done: deque[float] = deque()  # answer times, oldest first
        self.blocked_until = 0.0

    def free_at(self, now: float) -> float:
        """Earliest time one more request may go (``<= now``: at once, ``inf``: when one finishes)."""
        done = self.done
        cutoff = now - self.period
        while done and done[0] <= cutoff:
            done.popleft()
        excess = self.in_flight + len(done) - self.limit + 1
        if excess <= 0:
            at = now
        elif excess > len(done):
            return float("inf")
        else:
            at = done[excess - 1] + self.period
        return at if at > self.blocked_until else self.blocked_until

    def take(self) -> None:
        self.in_flight += 1

    def finish(self, now: float) -> None:
        self.in_flight -= 1
        self.done.append(now)

    def give_back(self) -> None:
        self.in_flight -= 1


class _Waiter:
    __slots__ = ("future", "granted", "method", "url")

    def __init__(self, future: asyncio.Future[None], method: str, url: str) -> None:
        self.future = future
        self.granted = False
        self.method = method
        self.url = url


class Gate:
    """The runtime side of :class:`RateLimit` for one client: windows, waiters, cool-downs and the ban.

    With ``rate_limit=None`` it limits nothing but still honours cool-downs after a 429 and the ban after
    a 418, so that turning the limiter off can never get an IP banned.
    """

    def __init__(
        self,
        rate_limit: RateLimit | None,
        *,
        hook: EventHook | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        config = rate_limit or RateLimit()
        self._limiting = rate_limit is not None
        self._config = config
        self._hook = hook
        self._clock = clock
        period = config.time_period * (1 + config.margin)
        self._global = _Window(config.max_rate, period, config.cooldown)
        self._endpoints = {
            key: _Window(lim.max_rate, lim.time_period * (1 + config.margin), lim.cooldown)
            for key, lim in config.endpoints.items()
        }
        # Chains are cached per endpoint key so the hot path does one dict lookup.
        self._chains: dict[str, tuple[_Window, ...]] = {}
        self._queues: dict[tuple[int, str], deque[_Waiter]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._stalled = False  # a "throttle" event was emitted and the queues have not drained since
        self._banned_until = 0.0
        self.ban_strikes = 0
        """418s since the last success; the client resets it."""

    # -- the hot path -------------------------------------------------------------------------------
    def _chain(self, endpoint: str) -> tuple[_Window, ...]:
        chain = self._chains.get(endpoint)
        if chain is None:
            extra = self._endpoints.get(endpoint)
            chain = (self._global, extra) if extra is not None else (self._global,)
            self._chains[endpoint] = chain
        return chain

    async def acquire(self, endpoint: str, priority: int, method: str, url: str) -> bool:
        """Wait for a slot. True means a slot is held: call :meth:`release` when the answer is in."""
        now = self._clock()
        if self._banned_until:
            self._check_ban(now, method, url)
        chain = self._chain(endpoint)
        if not self._limiting:
            if self._global.blocked_until > now or (len(chain) > 1 and chain[1].blocked_until > now):
                await self._sleep_cooldown(chain, now, method, url)
            return False
        if not self._queues_nonempty():
            for window in chain:
                if window.free_at(now) > now:
                    break
            else:
                for window in chain:
                    window.take()
                return True
        await self._wait(endpoint, chain, priority, now, method, url)
        return True

    def release(self, endpoint: str) -> None:
        """The answer to a granted request arrived (or the attempt ended): its window time starts now."""
        now = self._clock()
        for window in self._chain(endpoint):
            window.finish(now)
        if self._queues_nonempty():
            self._dispatch()

    def _queues_nonempty(self) -> bool:
        return any(self._queues.values())

    # -- waiting ------------------------------------------------------------------------------------
    def _cooldown_wait(self, chain: tuple[_Window, ...], now: float) -> float:
        return max(w.blocked_until for w in chain) - now

    def _refuse_if_too_long(self, chain: tuple[_Window, ...], now: float, method: str, url: str) -> None:
        wait = self._cooldown_wait(chain, now)
        if wait > self._config.max_wait:
            raise RateLimitError(
                f"{method} {url} not sent: rate-limit cool-down has {wait:.1f}s left, "
                f"more than max_wait={self._config.max_wait:g}s",
                status=429,
                method=method,
                url=url,
                retry_after=wait,
                sent=False,
            )

    async def _sleep_cooldown(self, chain: tuple[_Window, ...], now: float, method: str, url: str) -> None:
        # A ban or a longer cool-down may arrive while we sleep: look again before sending.
        while (wait := self._cooldown_wait(chain, now)) > 0:
            self._refuse_if_too_long(chain, now, method, url)
            await asyncio.sleep(wait)
            now = self._clock()
            if self._banned_until:
                self._check_ban(now, method, url)

    async def _wait(
        self, endpoint: str, chain: tuple[_Window, ...], priority: int, now: float, method: str, url: str
    ) -> None:
        self._refuse_if_too_long(chain, now, method, url)
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future(), method, url)
        key = (priority, endpoint)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            # Keep the dict ordered by priority so _dispatch serves risk-reducing queues first.
            self._queues = dict(sorted(self._queues.items(), key=lambda kv: kv[0][0]))
        queue.append(waiter)
        self._dispatch()
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.granted:
                # Granted in the same tick the task was cancelled: hand the slot back.
                for window in chain:
                    window.give_back()
                self._dispatch()
            else:
                with contextlib.suppress(ValueError):
                    queue.remove(waiter)
            raise
        if not waiter.granted:
            # Woken by a ban rather than granted a slot: fail fast, or queue again if it is already over.
            self._check_ban(self._clock(), method, url)
            await self._wait(endpoint, chain, priority, self._clock(), method, url)
        elif self._banned_until:
            try:
                self._check_ban(self._clock(), method, url)
            except IPBannedError:
                for window in chain:
                    window.give_back()
                raise

    def _dispatch(self) -> None:
        """Grant every waiter that fits now, in priority order; arm one timer for the rest."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self._clock()
        next_at = float("inf")
        head: _Waiter | None = None
        for (_, endpoint), queue in self._queues.items():
            chain = self._chain(endpoint)
            while queue:
                waiter = queue[0]
                if waiter.future.done():  # cancelled while queued
                    queue.popleft()
                    continue
                free_at = max(w.free_at(now) for w in chain)
                if free_at > now:
                    # A wait that a 429's cool-down explains was announced as "cooldown" already.
                    if free_at < next_at and free_at > max(w.blocked_until for w in chain):
                        head = waiter
                    next_at = min(next_at, free_at)
                    break
                queue.popleft()
                for window in chain:
                    window.take()
                waiter.granted = True
                waiter.future.set_result(None)
        if next_at != float("inf"):
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, next_at - now), self._dispatch)
            if not self._stalled and head is not None:
                self._stalled = True
                emit(
                    self._hook, ClientEvent("throttle", head.method, head.url, attempt=0, wait=next_at - now)
                )
        elif not self._queues_nonempty():
            self._stalled = False

    # -- feedback from the server ---------------------------------------------------------------------
    def on_rate_limited(self, endpoint: str, retry_after: float | None, method: str, path: str) -> float:
        """A 429 arrived: pause every request sharing the bucket. Returns the cool-down in seconds."""
        now = self._clock()
        extra = self._endpoints.get(endpoint)
        if retry_after is not None:
            wait = retry_after
        elif extra is not None and extra.free_at(now) > now and self._global.free_at(now) <= now:
            # Our own traffic filled this endpoint's window and not the global one: its limit it was.
            wait = extra.cooldown
        else:
            # Anything else may be the global limit (another process on the same key, a smaller plan):
            # assume the long block, since guessing short and sending on is what earns a 418.
            wait = self._global.cooldown
        for window in (self._global, extra) if extra is not None else (self._global,):
            window.blocked_until = max(window.blocked_until, now + wait)
        log.warning("rate limited (429): %s %s, every request of the bucket pauses %.1fs", method, path, wait)
        emit(self._hook, ClientEvent("cooldown", method, path, attempt=0, wait=wait, status=429))
        if wait > self._config.max_wait:
            # Every queued request shares the paused global bucket and would sleep past max_wait:
            # refuse them now rather than let them hang.
            for queue in self._queues.values():
                self._fail_all(queue, wait)
        if self._limiting:
            self._dispatch()
        return wait

    def _fail_all(self, queue: deque[_Waiter], wait: float) -> None:
        while queue:
            waiter = queue.popleft()
            if not waiter.future.done():
                waiter.future.set_exception(
                    RateLimitError(
                        f"{waiter.method} {waiter.url} not sent: rate-limit cool-down of {wait:.1f}s "
                        f"exceeds max_wait={self._config.max_wait:g}s",
                        status=429,
                        method=waiter.method,
                        url=waiter.url,
                        retry_after=wait,
                        sent=False,
                    )
                )

    def on_banned(self, error: IPBannedError, method: str, path: str) -> None:
        """A 418 arrived: refuse to send anything until the ban should be over."""
        self.ban_strikes += 1
        duration = error.retry_after
        if duration is None:
            duration = min(self._config.ban_duration * 2 ** (self.ban_strikes - 1), MAX_BAN)
        self._banned_until = max(self._banned_until, self._clock() + duration)
        log.error("IP banned (418): %s %s, refusing every request for %.0fs", method, path, duration)
        emit(self._hook, ClientEvent("ban", method, path, attempt=0, wait=duration, status=418))
        # Waiters would only be refused after their wait: wake them now so they fail fast.
        for queue in self._queues.values():
            while queue:
                waiter = queue.popleft()
                if not waiter.future.done():
                    waiter.future.set_result(None)

    def _check_ban(self, now: float, method: str, url: str) -> None:
        left = self._banned_until - now
        if left <= 0:
            self._banned_until = 0.0
            return
        raise IPBannedError(
            f"{method} {url} not sent: the IP is banned by 3Commas (418) for {left:.0f}s more",
            status=418,
            method=method,
            url=url,
            retry_after=left,
        )
