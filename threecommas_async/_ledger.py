"""The sliding log behind every rate-limit storage: who may send now, and how long the others wait.

The rule, for each window of ``limit`` requests per ``period`` seconds: a request counts from the moment
it is granted until ``period`` seconds after its answer came back. The server saw it somewhere in
between, so whatever the network delay, no window the server can measure holds more than ``limit`` of
ours: when the last request of such a window was granted, every earlier one was either still in flight
or had been answered less than ``period`` before.

A request in flight holds a *lease*: a provisional end (grant + lease + period) after which a storage
shared by processes forgets it, so a process that dies mid-request cannot hold a slot forever. An
answered request's slot ends exactly ``period`` after the answer. Active leases always end later than
answered slots (a lease runs past ``now + period``), so the ends sorted are: the answered ones in the
order they came, then the leases.

This module is pure: no clock, no I/O. The memory and SQLite storages keep :class:`KeyState` objects
(live, or loaded per transaction); the Redis storage runs the same rules in one Lua script.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

__all__ = [
    "BAN",
    "COOLDOWN",
    "GLOBAL",
    "GRANTED",
    "UNLIMITED",
    "WINDOW",
    "Decision",
    "KeyState",
    "WindowSpec",
    "WindowState",
]

UNLIMITED: Final = 2**62
"""The limit of a window that only carries 429 blocks (``rate_limit=None``): no slot is recorded."""

GLOBAL: Final = "*"
"""The name of the key-wide window; endpoint windows are named by their endpoint key."""

GRANTED: Final = "granted"
WINDOW: Final = "window"
COOLDOWN: Final = "cooldown"
BAN: Final = "ban"


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """One window as a client configures it (clients sharing a key may configure different limits)."""

    name: str
    limit: int
    period: float
    cooldown: float


class Decision(NamedTuple):
    """What a storage answers to an acquire.

    ``kind`` is :data:`GRANTED` (``token`` names the slot to release), :data:`WINDOW` (full: ask again
    in ``wait`` s; ``exact`` is False when the slot that frees first is still in flight, so its end is a
    lease, not a time), :data:`COOLDOWN` (a 429 pause: ``wait`` s) or :data:`BAN` (a 418: ``wait`` s).
    """

    kind: str
    wait: float
    token: int = 0
    exact: bool = True


class WindowState:
    """The slots of one window: leases of requests in flight, ends of answered ones, a 429 block."""

    __slots__ = ("blocked_until", "done", "first_lease", "flying", "granted", "passed")

    def __init__(self) -> None:
        self.flying: dict[int, float] = {}  # token -> lease end
        self.done: deque[float] = deque()  # slot ends, ascending
        self.granted: dict[int, float] = {}
        """Global window only: token -> grant time + period, for the requests in flight."""
        self.passed: deque[float] = deque()
        """Global window only: grant time + period of the answered requests the server let through (any
        answer but 429/418 or none), in the order they were answered (so not sorted)."""
        self.blocked_until = 0.0
        self.first_lease = math.inf
        """No lease ends before this (a lower bound: the scan for expired leases runs only after it)."""

    def lease(self, token: int, end: float) -> None:
        self.flying[token] = end
        if end < self.first_lease:
            self.first_lease = end

    def active(self, now: float) -> int:
        done = self.done
        while done and done[0] <= now:
            done.popleft()
        passed = self.passed
        while passed and passed[0] <= now:
            passed.popleft()
        flying = self.flying
        if self.first_lease <= now:
            for token in [t for t, end in flying.items() if end <= now]:
                del flying[token]
                self.granted.pop(token, None)
            self.first_lease = min(flying.values(), default=math.inf)
        return len(flying) + len(done)

    def free_at(self, now: float, limit: int) -> tuple[float, bool]:
        """When one more request fits (``<= now``: at once), and whether that time is exact."""
        if limit >= UNLIMITED:
            return max(now, self.blocked_until), True
        excess = self.active(now) - limit + 1
        if excess <= 0:
            at, exact = now, True
        elif excess <= len(self.done):
            at, exact = self.done[excess - 1], True
        else:
            at, exact = sorted(self.flying.values())[excess - len(self.done) - 1], False
        if self.blocked_until > at:
            return self.blocked_until, True
        return at, exact

    def idle(self, now: float) -> bool:
        return self.active(now) == 0 and self.blocked_until <= now


class KeyState:
    """Everything a storage keeps for one API key: its windows and what it learned of its plan."""

    __slots__ = ("episode_learned", "episode_until", "learned", "learned_until", "suspect_until", "windows")

    def __init__(self) -> None:
        self.windows: dict[str, WindowState] = {}
        self.learned = 0
        """A lower limit for the global window, learned from what passed before a 429."""
        self.learned_until = 0.0
        self.suspect_until = 0.0
        """Until then, an earlier 429 is remembered: a second one is evidence enough."""
        self.episode_until = 0.0
        """The end of the cool-down the last 429 started: 429s before it are the same episode."""
        self.episode_learned = False

    def window(self, name: str) -> WindowState:
        state = self.windows.get(name)
        if state is None:
            state = self.windows[name] = WindowState()
        return state

    def limit_of(self, spec: WindowSpec, now: float, reserve: float) -> int:
        limit = spec.limit
        if spec.name == GLOBAL:
            if self.learned and now < self.learned_until:
                limit = min(limit, self.learned)
            limit -= int(limit * reserve)
        return max(1, limit)

    def take(
        self, specs: tuple[WindowSpec, ...], now: float, token: int, lease_end: float, reserve: float = 0.0
    ) -> Decision:
        """Grant a slot in every window of ``specs``, or say how long to wait. ``reserve`` is the share of
        the global window kept for risk-reducing requests (those pass 0)."""
        if len(specs) == 1:  # most requests (every cancel): the global window alone, without the loops
            spec = specs[0]
            state = self.windows.get(spec.name) or self.window(spec.name)
            at, at_exact = state.free_at(now, self.limit_of(spec, now, reserve))
            if at > now:
                return Decision(COOLDOWN if at == state.blocked_until else WINDOW, at - now, 0, at_exact)
            if spec.limit < UNLIMITED:
                state.lease(token, lease_end + spec.period)
                if spec.name == GLOBAL:
                    state.granted[token] = now + spec.period
            return Decision(GRANTED, 0.0, token)
        wait_until, exact, kind = now, True, GRANTED
        windows = [self.window(spec.name) for spec in specs]
        for spec, state in zip(specs, windows, strict=True):
            at, at_exact = state.free_at(now, self.limit_of(spec, now, reserve))
            if at > wait_until:
                wait_until, exact = at, at_exact
                kind = COOLDOWN if at == state.blocked_until else WINDOW
        if kind is not GRANTED:
            return Decision(kind, wait_until - now, 0, exact)
        for spec, state in zip(specs, windows, strict=True):
            if spec.limit < UNLIMITED:
                state.lease(token, lease_end + spec.period)
                if spec.name == GLOBAL:
                    state.granted[token] = now + spec.period
        return Decision(GRANTED, 0.0, token)

    def finish(self, specs: tuple[WindowSpec, ...], token: int, now: float, passed: bool = True) -> None:
        """The answer to ``token`` arrived (or its attempt ended): its slots end ``period`` from now.
        ``passed``: the server let it through (its answer was not a 429 or a 418, and there was one)."""
        for spec in specs:
            state = self.windows.get(spec.name)
            if state is not None and state.flying.pop(token, None) is not None:
                state.done.append(now + spec.period)
                granted = state.granted.pop(token, None)
                if passed and granted is not None and granted > now:
                    state.passed.append(granted)

    def give_back(self, specs: tuple[WindowSpec, ...], token: int) -> None:
        """The slot was granted but nothing was sent: it never counted."""
        for spec in specs:
            state = self.windows.get(spec.name)
            if state is not None:
                state.flying.pop(token, None)
                state.granted.pop(token, None)

    def cool_down(
        self, specs: tuple[WindowSpec, ...], retry_after: float | None, now: float, *, learn_for: float
    ) -> tuple[float, int]:
        """A 429 arrived for a request of ``specs``: pause the windows it may have hit. Returns the pause
        in seconds, and the global limit newly learned from it (0 when the 429 taught nothing new).

        Without ``Retry-After``: a 429 where our own traffic filled an endpoint's window, and not the
        global one, was that endpoint's limit (its short cool-down); any other may be the global limit
        (another program on the key, a smaller plan), so it pauses everything for the long one, since
        guessing short and sending on is what earns a 418.
        """
        windows = [self.window(spec.name) for spec in specs]
        full = [
            state.active(now) >= self.limit_of(spec, now, 0)
            for spec, state in zip(specs, windows, strict=True)
        ]
        global_full = full[0] if specs and specs[0].name == GLOBAL else False
        endpoint_full = any(full[1:])
        learned = 0
        hit = list(range(len(specs)))
        if retry_after is not None:
            wait = retry_after
        elif endpoint_full and not global_full:
            hit = [i for i in hit[1:] if full[i]]
            wait = max(specs[i].cooldown for i in hit)
        else:
            wait = specs[0].cooldown if specs else 0.0
        if specs and specs[0].name == GLOBAL and not (endpoint_full and not global_full) and learn_for > 0:
            learned = self._learn(windows[0], specs[0].limit, now, wait, learn_for)
        for i in hit:
            windows[i].blocked_until = max(windows[i].blocked_until, now + wait)
        return wait, learned

    def _learn(self, window: WindowState, limit: int, now: float, wait: float, learn_for: float) -> int:
        """Our limiter never sends more than configured into a window, so a 429 its endpoint window does
        not explain says the server allows this key less (a smaller plan, another program on the key):
        at most what provably passed within one of its windows. Passes granted less than ``period`` ago
        all reached the server within the last ``period``, so it let all of them through in one window;
        counted from their answers instead, a slow answer stretches the span past the server's window
        and the count over-states the plan (measured on Redis: 11 learned for a plan of 10).

        The 429s of one burst answer one by one, each seeing more of the burst's passes: within an
        episode the largest count stands, and an episode whose first 429s were read before enough of its
        passes is learned from once they are. One 429 after little traffic proves little (a block left
        by another program, a glitch): it is believed when enough passed, or when it is the second
        episode within ``learn_for``. Returns the limit when a new one was learned (for one line in the
        log), else 0."""
        window.active(now)
        passed = sum(1 for end in window.passed if end > now)
        enough = passed >= max(2, limit // 10)
        if now < self.episode_until:
            if self.episode_learned:
                self.learned = max(self.learned, passed)
                return 0
            if not enough:
                return 0
            # The burst's passes were read after its first 429s: the evidence is in now.
            self.episode_learned = True
            return self._teach(passed, now, learn_for)
        self.episode_until = now + wait
        self.episode_learned = enough or now < self.suspect_until
        self.suspect_until = now + learn_for
        return self._teach(passed, now, learn_for) if self.episode_learned else 0

    def _teach(self, passed: int, now: float, learn_for: float) -> int:
        candidate = max(1, passed)
        in_force = self.learned and now < self.learned_until
        self.learned = min(self.learned, candidate) if in_force else candidate
        self.learned_until = now + learn_for
        return self.learned

    def idle(self, now: float) -> bool:
        return (
            all(state.idle(now) for state in self.windows.values())
            and now >= self.learned_until
            and now >= self.suspect_until
            and now >= self.episode_until
        )

    def expires(self) -> float:
        """When, without new requests, this state becomes idle (a shared storage may then drop it)."""
        ends = [self.learned_until, self.suspect_until, self.episode_until]
        for state in self.windows.values():
            ends.append(state.blocked_until)
            if state.done:
                ends.append(state.done[-1])
            if state.flying:
                ends.append(max(state.flying.values()))
        return max(ends)

    def dump(self) -> list[object]:
        """Plain data for a storage that keeps the state between transactions (msgpack, JSON)."""
        return [
            self.learned,
            self.learned_until,
            self.suspect_until,
            self.episode_until,
            self.episode_learned,
            [
                [
                    name,
                    state.blocked_until,
                    list(state.flying.items()),
                    list(state.done),
                    list(state.passed),
                    list(state.granted.items()),
                ]
                for name, state in self.windows.items()
            ],
        ]

    @classmethod
    def load(cls, data: list[Any]) -> KeyState:
        state = cls()
        (
            state.learned,
            state.learned_until,
            state.suspect_until,
            state.episode_until,
            state.episode_learned,
        ) = data[:5]
        for name, blocked_until, flying, done, passed, *granted in data[5]:
            window = state.window(name)
            window.blocked_until = blocked_until
            for token, end in flying:
                window.lease(token, end)
            window.done.extend(done)
            window.passed.extend(passed)
            if granted:  # (a state written before grant times were kept has none)
                window.granted.update(granted[0])
        return state


def fits(limit: float) -> int:
    """The whole number of requests a configured (possibly fractional) rate allows in a window."""
    return int(limit) if math.isfinite(limit) else UNLIMITED
