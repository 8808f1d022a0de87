"""The ``cancel_many`` size curve: ``client.smart_trades.cancel_many(ids)`` at growing batch sizes against
the plain worker pool a user would hand-write around aiohttp + msgspec (variant (c)), CPU per cancel,
their ratio and the memory each batch adds, at each size.

Every run is a fresh process (``_isolated``): ``warmup`` ids, then one batch of the size under the
clocks, so that neither CPU nor RSS carries anything from an earlier, bigger batch. At each size the two
clients interleave in rounds (``_rounds``); each number is the median over the kept run of each round.
A small batch is a short, noisy measurement but a cheap one: sizes under ``curve_min_cancels`` ids get
more rounds (:func:`rounds_at`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ._common import PENDING
from ._config import Config
from ._goals import Goal, goal
from ._isolated import Isolated, Job, isolation
from ._rounds import Attempt, run_rounds
from ._run import Run
from ._section import Bench
from ._table import table
from ._variants import BY_KEY

SDK: Final = "a_sdk_cancel_many"
HAND: Final = "c_aiohttp_msgspec"
GOAL_SMALL: Final = 1.00
"""The ratio to reach below ``LARGE`` ids, where fixed costs (tasks, the iterator) weigh most."""
GOAL_LARGE: Final = 0.90
LARGE: Final = 1000


def goal_ratio(size: int) -> float:
    return GOAL_LARGE if size >= LARGE else GOAL_SMALL


def rounds_at(size: int, rounds: int, min_cancels: int) -> int:
    """``rounds``, or more for a small size: until ``min_cancels`` ids, at most 5 x ``rounds``."""
    return max(rounds, min(5 * rounds, -(-min_cancels // size)))


@dataclass(frozen=True, slots=True)
class CurveRun:
    attempt: Attempt
    rss_growth_mb: float
    peak_rss_mb: float
    baseline_rss_mb: float


@dataclass(frozen=True, slots=True)
class CurveRow:
    """One client at one size."""

    cpu_us_per_cancel: float
    cancels_per_s: float
    rss_growth_mb: float
    peak_rss_mb: float
    runs: list[CurveRun]


@dataclass(frozen=True, slots=True)
class CurvePoint:
    size: int
    rounds: int
    sdk: CurveRow
    hand: CurveRow
    cpu_ratio: float  # sdk / hand, of the medians
    paired_cpu_ratio_median: float  # median of the same-round ratios
    goal_ratio: float


@dataclass(frozen=True, slots=True)
class CurveReport:
    sdk: str
    hand: str
    warmup: int
    concurrency: int
    points: list[CurvePoint]
    ids_given: int
    server_statuses: dict[str, int]
    server_verified: bool
    correct: bool


def _row(attempts: list[Attempt], done: list[Isolated]) -> CurveRow:
    runs = [
        CurveRun(a, d.memory.growth_mb, d.memory.peak_rss_mb, d.memory.baseline_rss_mb)
        for a, d in zip(attempts, done, strict=True)
    ]
    good = [r for r in runs if r.attempt.kept]
    return CurveRow(
        cpu_us_per_cancel=statistics.median(r.attempt.run.cpu_us_per_cancel for r in good),
        cancels_per_s=statistics.median(r.attempt.run.cancels_per_s for r in good),
        rss_growth_mb=statistics.median(r.rss_growth_mb for r in good),
        peak_rss_mb=statistics.median(r.peak_rss_mb for r in good),
        runs=runs,
    )


def _point(size: int, rounds: int, sdk: CurveRow, hand: CurveRow) -> CurvePoint:
    pairs = [
        x.attempt.run.cpu_us_per_cancel / y.attempt.run.cpu_us_per_cancel
        for x, y in zip(
            (r for r in sdk.runs if r.attempt.kept), (r for r in hand.runs if r.attempt.kept), strict=True
        )
    ]
    return CurvePoint(
        size=size,
        rounds=rounds,
        sdk=sdk,
        hand=hand,
        cpu_ratio=sdk.cpu_us_per_cancel / hand.cpu_us_per_cancel,
        paired_cpu_ratio_median=statistics.median(pairs),
        goal_ratio=goal_ratio(size),
    )


@dataclass(frozen=True, slots=True)
class CurveSection:
    cfg: Config
    key: str = "curve"
    needs_server: bool = True

    def run(self, bench: Bench) -> CurveReport:
        ids_used: list[int] = []
        with isolation() as isolated:
            measured = [self._at(size, bench, isolated, ids_used) for size in self.cfg.curve_sizes]
        statuses = bench.statuses(ids_used)
        verified = statuses == {PENDING: len(ids_used)}
        return CurveReport(
            sdk=SDK,
            hand=HAND,
            warmup=self.cfg.warmup,
            concurrency=self.cfg.concurrency,
            points=[point for point, _ in measured],
            ids_given=len(ids_used),
            server_statuses=statuses,
            server_verified=verified,
            correct=verified and all(complete for _, complete in measured),
        )

    def _at(
        self, size: int, bench: Bench, isolated: Callable[[Job], Isolated], ids_used: list[int]
    ) -> tuple[CurvePoint, bool]:
        """The point at ``size``, and whether every run cancelled every id by the clients' own count."""
        cfg = self.cfg
        done: dict[str, list[Isolated]] = {SDK: [], HAND: []}

        def measure(key: str) -> Run:
            chunk = bench.seed(cfg.warmup + size)
            ids_used.extend(chunk)
            warmup, ids = chunk[: cfg.warmup], chunk[cfg.warmup :]
            done[key].append(isolated(Job(key, bench.target, warmup, ids, cfg.concurrency, bench.client_cpu)))
            return done[key][-1].run

        rounds = rounds_at(size, cfg.curve_rounds, cfg.curve_min_cancels)
        sdk, hand = run_rounds(
            (SDK, HAND),
            rounds=rounds,
            retries=cfg.retries,
            contended_below=cfg.contended_below,
            measure=measure,
            label=lambda key: f"curve {size:>6,} ids  {BY_KEY[key].label}",
        )
        complete = all(a.run.all_cancelled for a in (*sdk, *hand))
        return _point(size, rounds, _row(sdk, done[SDK]), _row(hand, done[HAND])), complete

    def render(self, result: CurveReport) -> str:
        rows = [
            [
                f"{p.size:,}",
                f"{p.rounds}",
                f"{p.sdk.cpu_us_per_cancel:.1f}",
                f"{p.hand.cpu_us_per_cancel:.1f}",
                f"{p.cpu_ratio:.3f}",
                f"{p.paired_cpu_ratio_median:.3f}",
                f"<= {p.goal_ratio:.2f}",
                f"{p.sdk.rss_growth_mb:.1f}",
                f"{p.hand.rss_growth_mb:.1f}",
                f"{p.sdk.peak_rss_mb:.1f}",
            ]
            for p in result.points
        ]
        headers = [
            "ids",
            "rounds",
            "(a) CPU µs/cancel",
            "(c) CPU µs/cancel",
            "(a) × (c)",
            "same-round",
            "goal",
            "(a) RSS +MB",
            "(c) RSS +MB",
            "(a) peak MB",
        ]
        return "\n".join(
            [
                f"cancel_many size curve: (a) one cancel_many(ids, concurrency={result.concurrency}) vs (c) "
                f"hand-written aiohttp + msgspec, {result.concurrency} workers; each run in a fresh process "
                f"(+{result.warmup} warm-up), median over the rounds shown",
                "RSS +MB = peak RSS growth during the batch (VmHWM after - before); server ok: "
                + ("yes" if result.server_verified else "NO"),
                table(headers, rows),
            ]
        )

    def goals(self, result: CurveReport) -> list[Goal]:
        return [
            goal(
                f"cancel_many CPU per cancel at {p.size:,} ids vs hand-written aiohttp + msgspec",
                f"<= {p.goal_ratio:.2f} x (c)",
                f"{p.sdk.cpu_us_per_cancel:.1f} µs vs {p.hand.cpu_us_per_cancel:.1f} µs "
                f"= {p.cpu_ratio:.3f} x "
                f"(same-round pairs: {p.paired_cpu_ratio_median:.3f} x)",
                p.cpu_ratio <= p.goal_ratio,
                ratio=p.cpu_ratio,
                size=p.size,
                sdk_cpu_us_per_cancel=p.sdk.cpu_us_per_cancel,
                hand_cpu_us_per_cancel=p.hand.cpu_us_per_cancel,
                paired_ratio_median=p.paired_cpu_ratio_median,
            )
            for p in result.points
        ]

    def correct(self, result: CurveReport) -> bool:
        return result.correct
