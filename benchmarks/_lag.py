"""Event-loop responsiveness: how late a 1 ms ticker on the client's own event loop wakes up while the
cancels run. A bot's other coroutines (price feeds, heartbeats) wait that long for their turn.

The ticker sleeps 1 ms in a loop and records, each time, how much later than 1 ms it woke up. It starts
just before the measured batch and stops just after it (see ``_run.measure``), in separate runs from the
cancel table so that its wake-ups never touch those CPU numbers. Percentiles are over the ticks of the
kept run of every round, pooled.

Concurrency guidance: ``cancel_many`` also runs at each of ``lag_concurrencies`` (8, 16, 32), the same
number of cancels in the same rounds, so that a bot can pick the concurrency that keeps its other
coroutines on time: the lag and the cancels per second at each.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Final

from ._cancel import row_key, row_label
from ._common import PENDING
from ._config import Config
from ._goals import Goal
from ._rounds import Attempt, run_rounds
from ._run import Loop, Run, loops_to_run
from ._section import Bench
from ._table import table
from ._variants import BY_KEY, FLOOR, Variant

INTERVAL: Final = 0.001
VARIANTS: Final = ("a_sdk_cancel", "a_sdk_cancel_many", "c_aiohttp_msgspec", FLOOR)
GUIDED: Final = "a_sdk_cancel_many"
"""The variant measured at every concurrency of ``lag_concurrencies``."""

Item = tuple[Variant, Loop, int]


@contextlib.asynccontextmanager
async def ticking(samples: list[float]) -> AsyncIterator[None]:
    """Append to ``samples`` the lateness, in seconds, of every 1 ms sleep while the block runs."""

    async def tick() -> None:
        clock, sleep = time.perf_counter, asyncio.sleep
        while True:
            t0 = clock()
            await sleep(INTERVAL)
            samples.append(clock() - t0 - INTERVAL)

    task = asyncio.create_task(tick())
    await asyncio.sleep(0)  # the ticker takes its first reading before the block starts
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100) of ``samples``; 0.0 when there are none."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


@dataclass(frozen=True, slots=True)
class LagRun:
    attempt: Attempt
    ticks: int
    p50_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True, slots=True)
class LagResult:
    variant: str
    loop: Loop
    label: str
    ticks: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_us_per_cancel: float  # ticker included: for orientation, the cancel table has the clean number
    cancels_per_s: float
    concurrency: int
    ids_given: int
    server_verified: bool
    correct: bool
    runs: list[LagRun]


@dataclass(frozen=True, slots=True)
class LagReport:
    interval_ms: float
    cancels: int
    concurrency: int
    loops: list[Loop]
    variants: dict[str, LagResult]
    uvloop_skipped: str | None
    by_concurrency: list[LagResult]
    """``cancel_many`` on the default loop at each of ``lag_concurrencies``, in that order."""


def _ms(samples: Sequence[float], p: float) -> float:
    return percentile(samples, p) * 1000


def _result(
    item: Item, runs: list[tuple[Attempt, list[float]]], ids: int, statuses: dict[str, int]
) -> LagResult:
    variant, loop, concurrency = item
    pooled = [x for attempt, samples in runs if attempt.kept for x in samples]
    verified = statuses == {PENDING: ids}
    return LagResult(
        variant=variant.key,
        loop=loop,
        label=row_label(variant, loop),
        ticks=len(pooled),
        p50_ms=_ms(pooled, 50),
        p99_ms=_ms(pooled, 99),
        max_ms=max(pooled, default=0.0) * 1000,
        cpu_us_per_cancel=statistics.median(a.run.cpu_us_per_cancel for a, _ in runs if a.kept),
        cancels_per_s=statistics.median(a.run.cancels_per_s for a, _ in runs if a.kept),
        concurrency=concurrency,
        ids_given=ids,
        server_verified=verified,
        correct=verified and all(a.run.all_cancelled for a, _ in runs),
        runs=[LagRun(a, len(s), _ms(s, 50), _ms(s, 99), max(s, default=0.0) * 1000) for a, s in runs],
    )


@dataclass(frozen=True, slots=True)
class LagSection:
    cfg: Config
    key: str = "loop_lag"
    needs_server: bool = True

    def run(self, bench: Bench) -> LagReport:
        cfg = self.cfg
        loops, uvloop_skipped = loops_to_run(cfg.uvloop)
        main: list[Item] = [(BY_KEY[key], loop, cfg.concurrency) for loop in loops for key in VARIANTS]
        guided: list[Item] = [
            (BY_KEY[GUIDED], "asyncio", c) for c in cfg.lag_concurrencies if c != cfg.concurrency
        ]
        items = main + guided
        samples: dict[Item, list[list[float]]] = {item: [] for item in items}
        ids_used: dict[Item, list[int]] = {item: [] for item in items}

        def measure(item: Item) -> Run:
            variant, loop, concurrency = item
            chunk = bench.seed(cfg.warmup + cfg.lag_cancels)
            ids_used[item].extend(chunk)
            ticks: list[float] = []
            samples[item].append(ticks)
            warmup, ids = chunk[: cfg.warmup], chunk[cfg.warmup :]
            return variant.run(
                bench.target, warmup, ids, concurrency, loop=loop, probe=lambda: ticking(ticks)
            )

        attempts = run_rounds(
            items,
            rounds=cfg.rounds,
            retries=cfg.retries,
            contended_below=cfg.contended_below,
            measure=measure,
            label=lambda item: f"lag {row_label(item[0], item[1])} c={item[2]}",
        )
        results: dict[Item, LagResult] = {}
        for item, tries in zip(items, attempts, strict=True):
            used = ids_used[item]
            results[item] = _result(
                item, list(zip(tries, samples[item], strict=True)), len(used), bench.statuses(used)
            )
        return LagReport(
            INTERVAL * 1000,
            cfg.lag_cancels,
            cfg.concurrency,
            list(loops),
            {row_key(v.key, loop): results[(v, loop, c)] for v, loop, c in main},
            uvloop_skipped,
            # At the run's own concurrency, the row is the main table's cancel_many row.
            [results[(BY_KEY[GUIDED], "asyncio", c)] for c in cfg.lag_concurrencies],
        )

    def render(self, result: LagReport) -> str:
        rows = [
            [
                r.label,
                f"{r.p50_ms:.2f}",
                f"{r.p99_ms:.2f}",
                f"{r.max_ms:.2f}",
                f"{r.ticks:,}",
                f"{r.cpu_us_per_cancel:.1f}",
                "yes" if r.server_verified else "NO",
            ]
            for r in result.variants.values()
        ]
        lines = [
            f"Event-loop lag: a {result.interval_ms:g} ms ticker on the client's loop while "
            f"{result.cancels:,} cancels run at concurrency {result.concurrency}; "
            "lateness of its wake-ups, kept runs pooled",
            table(
                ["variant", "lag p50 ms", "lag p99 ms", "lag max ms", "ticks", "CPU µs/cancel", "server ok"],
                rows,
            ),
        ]
        if result.uvloop_skipped is not None:
            lines.append(f"uvloop rows {result.uvloop_skipped}")
        guide = [
            [
                f"{r.concurrency}",
                f"{r.p50_ms:.2f}",
                f"{r.p99_ms:.2f}",
                f"{r.max_ms:.2f}",
                f"{r.cancels_per_s:,.0f}",
                f"{r.cpu_us_per_cancel:.1f}",
                "yes" if r.server_verified else "NO",
            ]
            for r in result.by_concurrency
        ]
        lines += [
            "",
            f"Event-loop lag by concurrency: one cancel_many over {result.cancels:,} ids at each "
            "concurrency, same ticker, same rounds",
            table(
                [
                    "concurrency",
                    "lag p50 ms",
                    "lag p99 ms",
                    "lag max ms",
                    "cancels/s",
                    "CPU µs/cancel",
                    "server ok",
                ],
                guide,
            ),
        ]
        return "\n".join(lines)

    def goals(self, result: LagReport) -> list[Goal]:
        return []

    def correct(self, result: LagReport) -> bool:
        return all(r.correct for r in (*result.variants.values(), *result.by_concurrency))
