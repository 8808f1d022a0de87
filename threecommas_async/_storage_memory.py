"""``memory://``: the rate limiter's state for every client of this process.

Live :class:`~._ledger.KeyState` objects behind one lock (clients on other threads share them too).
Leases never expire here: a request's slot is released in a ``finally`` of the same process. Clients
waiting for a key subscribe to it and are told when a slot frees, so nobody polls. Keys whose state is
idle are dropped whenever the table has doubled since the last sweep, so 10,000 tenants that come and
go leave nothing behind and no acquire ever scans them.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

from ._ledger import BAN, Decision, KeyState, WindowSpec
from ._storage import Listener, new_token

__all__ = ["MemoryStorage"]

_FIRST_SWEEP = 64


class MemoryStorage:
    shared = False

    def __init__(self, url: str) -> None:
        self.name = url
        self._lock = threading.Lock()
        self._keys: dict[str, KeyState] = {}
        self._listeners: dict[str, set[Listener]] = {}
        self._ban_until = 0.0
        self._strikes = 0
        self._sweep_at = _FIRST_SWEEP

    def __repr__(self) -> str:
        return f"MemoryStorage({self.name!r}, keys={len(self._keys)})"

    def _state(self, key: str, now: float) -> KeyState:
        state = self._keys.get(key)
        if state is None:
            if len(self._keys) >= self._sweep_at:
                self._sweep(now)
            state = self._keys[key] = KeyState()
        return state

    def _sweep(self, now: float) -> None:
        for key in [k for k, s in self._keys.items() if k not in self._listeners and s.idle(now)]:
            del self._keys[key]
        self._sweep_at = max(_FIRST_SWEEP, 2 * len(self._keys))

    async def acquire(
        self, key: str, specs: tuple[WindowSpec, ...], now: float, lease: float, reserve: float, within: float
    ) -> Decision:
        return self.take_now(key, specs, now, reserve)

    def take_now(self, key: str, specs: tuple[WindowSpec, ...], now: float, reserve: float) -> Decision:
        """:meth:`acquire` without a coroutine: the state is here, so a gate asks without awaiting."""
        with self._lock:
            if self._ban_until > now:
                return Decision(BAN, self._ban_until - now)
            return self._state(key, now).take(specs, now, new_token(), math.inf, reserve)

    def release(
        self, key: str, specs: tuple[WindowSpec, ...], token: int, now: float, passed: bool = True
    ) -> None:
        with self._lock:
            state = self._keys.get(key)
            if state is not None:
                state.finish(specs, token, now, passed)
            listeners = self._listeners.get(key)
        if listeners:
            _tell(listeners)

    def give_back(self, key: str, specs: tuple[WindowSpec, ...], token: int) -> None:
        with self._lock:
            state = self._keys.get(key)
            if state is not None:
                state.give_back(specs, token)
            listeners = self._listeners.get(key)
        if listeners:
            _tell(listeners)

    async def cool_down(
        self,
        key: str,
        specs: tuple[WindowSpec, ...],
        retry_after: float | None,
        now: float,
        learn_for: float,
        within: float,
    ) -> tuple[float, int]:
        with self._lock:
            result = self._state(key, now).cool_down(specs, retry_after, now, learn_for=learn_for)
            listeners = self._listeners.get(key)
        if listeners:
            _tell(listeners)
        return result

    async def ban(
        self, retry_after: float | None, base: float, cap: float, now: float, within: float
    ) -> tuple[float, int]:
        with self._lock:
            self._strikes += 1
            duration = retry_after if retry_after is not None else min(base * 2 ** (self._strikes - 1), cap)
            self._ban_until = max(self._ban_until, now + duration)
            everyone = [listener for group in self._listeners.values() for listener in group]
            strikes = self._strikes
        _tell(everyone)
        return duration, strikes

    async def clear_strikes(self) -> None:
        with self._lock:
            self._strikes = 0

    async def warm_up(self, within: float) -> None:
        pass  # nothing to open

    def subscribe(self, key: str, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.setdefault(key, set()).add(listener)

        def unsubscribe() -> None:
            with self._lock:
                group = self._listeners.get(key)
                if group is not None:
                    group.discard(listener)
                    if not group:
                        del self._listeners[key]

        return unsubscribe


def _tell(listeners: set[Listener] | list[Listener]) -> None:
    for listener in tuple(listeners):
        listener()
