"""Limiter micro-benchmark: the SDK's ``Gate`` against ``aiolimiter.AsyncLimiter``.

- fast path: one coroutine acquires (and, for the Gate, releases) in a loop under a limit it never
  reaches; nanoseconds per acquisition. ``Gate(None)`` is the limiter switched off (``rate_limit=None``,
  what the cancel benchmarks use); ``await noop()`` is the floor of any awaited call.
- 10,000 waiters: 10,000 tasks created at once ask for a slot under ``max_rate=100`` per 10 ms, so all
  but the first 100 queue (the period is far longer than running 100 tasks takes, even on a slow machine);
  wall and CPU time to serve them all, and CPU per acquisition. The ideal wall time is about
  ``n / max_rate * period``; "tasks only" is the same 10,000 tasks without a limiter.

The Gate counts a request from its grant until ``period`` after its release (a sliding log); aiolimiter
is a leaky bucket (no release). Both allow the same 100-per-period rate.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from aiolimiter import AsyncLimiter

from threecommas_async._gate import Gate
from threecommas_async._ratelimit import RateLimit
from threecommas_async._routes import RISK_REDUCING
from threecommas_async._storage_memory import MemoryStorage

from ._goals import Goal
from ._section import Bench
from ._table import table

FAST_MAX_RATE: Final = 1e9
FAST_PERIOD: Final = 1.0
WAIT_MAX_RATE: Final = 100
WAIT_PERIOD: Final = 0.01

ENDPOINT = "DELETE /v2/smart_trades/{id}"
PATH = "/v2/smart_trades/30404547"


@dataclass(frozen=True, slots=True)
class LimiterResult:
    label: str
    acquisitions: int
    wall_s: float
    cpu_s: float
    served: int
    ns_per_acquire: float = field(init=False)
    cpu_us_per_acquire: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ns_per_acquire", self.wall_s / self.acquisitions * 1e9)
        object.__setattr__(self, "cpu_us_per_acquire", self.cpu_s / self.acquisitions * 1e6)


@dataclass(frozen=True, slots=True)
class RateConfig:
    max_rate: float
    time_period: float
    ideal_wall_s: float | None = None


@dataclass(frozen=True, slots=True)
class LimiterReport:
    fast_path: dict[str, LimiterResult]
    waiters: dict[str, LimiterResult]
    fast_path_config: RateConfig
    waiters_config: RateConfig


async def _timed(body: Callable[[], Awaitable[int]]) -> tuple[float, float, int]:
    gc.collect()
    t0 = time.perf_counter()
    c0 = time.process_time()
    served = await body()
    c1 = time.process_time()
    t1 = time.perf_counter()
    return t1 - t0, c1 - c0, served


# -- fast path ---------------------------------------------------------------------------------------------


async def _noop() -> bool:
    return False


async def _fast_noop(n: int) -> int:
    noop = _noop
    served = 0
    for _ in range(n):
        await noop()
        served += 1
    return served


def _gate(limit: RateLimit | None) -> Gate:
    """A gate on a storage of its own, so runs never share windows."""
    return Gate(limit, MemoryStorage("memory://benchmark"), "benchmark", lease=60.0)


async def _fast_gate(gate: Gate, n: int) -> int:
    acquire, release = gate.acquire, gate.release
    served = 0
    for _ in range(n):
        release(ENDPOINT, await acquire(ENDPOINT, RISK_REDUCING, "DELETE", PATH))
        served += 1
    return served


async def _fast_aiolimiter(limiter: AsyncLimiter, n: int) -> int:
    acquire = limiter.acquire
    served = 0
    for _ in range(n):
        await acquire()
        served += 1
    return served


async def fast_path(n: int) -> dict[str, LimiterResult]:
    generous = RateLimit(max_rate=FAST_MAX_RATE, time_period=FAST_PERIOD)
    cases: list[tuple[str, str, Callable[[], Awaitable[int]]]] = [
        ("noop", "await noop() (floor)", lambda: _fast_noop(n)),
        ("gate_off", "Gate(None) acquire (limiter off)", lambda: _fast_gate(_gate(None), n)),
        ("gate", "Gate acquire + release", lambda: _fast_gate(_gate(generous), n)),
        (
            "aiolimiter",
            "aiolimiter.AsyncLimiter acquire",
            lambda: _fast_aiolimiter(AsyncLimiter(FAST_MAX_RATE, FAST_PERIOD), n),
        ),
    ]
    results = {}
    for key, label, body in cases:
        await body()  # warm up
        wall, cpu, served = await _timed(body)
        results[key] = LimiterResult(label, n, wall, cpu, served)
    return results


# -- many waiters ------------------------------------------------------------------------------------------


async def _waiters(n: int, one: Callable[[], Awaitable[None]]) -> int:
    served = 0

    async def task() -> None:
        nonlocal served
        await one()
        served += 1

    await asyncio.gather(*(task() for _ in range(n)))
    return served


async def many_waiters(n: int, max_rate: int, period: float) -> dict[str, LimiterResult]:
    async def nothing() -> None:
        return None

    def gate_one() -> Callable[[], Awaitable[None]]:
        gate = _gate(RateLimit(max_rate=max_rate, time_period=period))

        async def one() -> None:
            gate.release(ENDPOINT, await gate.acquire(ENDPOINT, RISK_REDUCING, "DELETE", PATH))

        return one

    def aiolimiter_one() -> Callable[[], Awaitable[None]]:
        limiter = AsyncLimiter(max_rate, period)
        return limiter.acquire

    cases: list[tuple[str, str, Callable[[], Callable[[], Awaitable[None]]]]] = [
        ("tasks_only", "tasks only (no limiter)", lambda: nothing),
        ("gate", "Gate acquire + release", gate_one),
        ("aiolimiter", "aiolimiter.AsyncLimiter acquire", aiolimiter_one),
    ]
    results = {}
    for key, label, make in cases:
        await _waiters(min(n, 1000), make())  # warm up on a fresh limiter
        one = make()
        wall, cpu, served = await _timed(functools.partial(_waiters, n, one))
        results[key] = LimiterResult(label, n, wall, cpu, served)
    return results


def run_limiter(
    *, fast_n: int, waiters: int, max_rate: int = WAIT_MAX_RATE, period: float = WAIT_PERIOD
) -> LimiterReport:
    async def both() -> LimiterReport:
        return LimiterReport(
            fast_path=await fast_path(fast_n),
            waiters=await many_waiters(waiters, max_rate, period),
            fast_path_config=RateConfig(FAST_MAX_RATE, FAST_PERIOD),
            waiters_config=RateConfig(max_rate, period, waiters / max_rate * period),
        )

    return asyncio.run(both())


@dataclass(frozen=True, slots=True)
class LimiterSection:
    fast_n: int
    waiters: int
    key: str = "limiter"
    needs_server: bool = False

    def run(self, bench: Bench) -> LimiterReport:
        return run_limiter(fast_n=self.fast_n, waiters=self.waiters)

    def render(self, result: LimiterReport) -> str:
        wait = result.waiters_config
        assert wait.ideal_wall_s is not None
        fast_rows = [
            [x.label, f"{x.ns_per_acquire:,.0f}", f"{x.cpu_us_per_acquire:.3f}"]
            for x in result.fast_path.values()
        ]
        wait_rows = [
            [
                x.label,
                f"{x.wall_s * 1000:.1f}",
                f"{x.cpu_s * 1000:.1f}",
                f"{x.cpu_us_per_acquire:.2f}",
                f"{x.served:,}",
            ]
            for x in result.waiters.values()
        ]
        return "\n".join(
            [
                f"Limiter fast path: {self.fast_n:,} acquisitions in one coroutine, limit never reached",
                table(["limiter", "ns/acquire", "CPU µs/acquire"], fast_rows),
                "",
                f"Limiter with {self.waiters:,} waiters: max_rate={wait.max_rate:g} "
                f"per {wait.time_period * 1000:g} ms (ideal wall {wait.ideal_wall_s * 1000:.0f} ms)",
                table(["limiter", "wall ms", "CPU ms", "CPU µs/acquire", "served"], wait_rows),
            ]
        )

    def goals(self, result: LimiterReport) -> list[Goal]:
        return []

    def correct(self, result: LimiterReport) -> bool:
        return True
