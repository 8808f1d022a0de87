"""Memory: one ``cancel_many`` over ``rss_cancels`` ids in a fresh process (see ``_isolated``), no
warm-up, so its baseline is the process before the first request; the server then confirms every id is
cancelled. Results are consumed as they stream in and kept only as a count, as a bot would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ._common import PENDING
from ._goals import Goal, goal
from ._isolated import Job, Memory, isolation
from ._run import Run
from ._section import Bench
from ._table import table

GOAL_RSS_MB: Final = 150.0
GOAL_IDS: Final = 10_000
VARIANT: Final = "a_sdk_cancel_many"


@dataclass(frozen=True, slots=True)
class MemoryResult:
    ids: int
    cancelled: int
    run: Run
    memory: Memory
    server_statuses: dict[str, int]
    server_verified: bool


@dataclass(frozen=True, slots=True)
class MemorySection:
    rss_cancels: int
    concurrency: int
    key: str = "rss"
    needs_server: bool = True

    def run(self, bench: Bench) -> MemoryResult:
        ids = bench.seed(self.rss_cancels)
        with isolation() as run:
            done = run(Job(VARIANT, bench.target, [], ids, self.concurrency, bench.client_cpu))
        statuses = bench.statuses(ids)
        return MemoryResult(
            ids=len(ids),
            cancelled=done.run.cancelled,
            run=done.run,
            memory=done.memory,
            server_statuses=statuses,
            server_verified=statuses == {PENDING: len(ids)},
        )

    def render(self, result: MemoryResult) -> str:
        r, m = result, result.memory
        before_after = (
            "n/a"
            if m.rss_before_mb is None or m.rss_after_mb is None
            else f"{m.rss_before_mb:.1f} / {m.rss_after_mb:.1f}"
        )
        rows = [
            [f"peak RSS (MB, {m.peak_rss_source})", f"{m.peak_rss_mb:.1f}"],
            ["peak RSS before the first request (MB)", f"{m.baseline_rss_mb:.1f}"],
            ["current RSS before / after (MB)", before_after],
            ["cancelled", f"{r.cancelled:,}/{r.ids:,}"],
            ["wall (s)", f"{r.run.wall_s:.2f}"],
            ["CPU µs/cancel", f"{r.run.cpu_us_per_cancel:.1f}"],
        ]
        return (
            f"Memory: one cancel_many over {r.ids:,} ids in a fresh process "
            f"(concurrency {self.concurrency})\n" + table(["measure", "value"], rows)
        )

    def goals(self, result: MemoryResult) -> list[Goal]:
        r, m = result, result.memory
        note = "" if r.ids == GOAL_IDS else f" (run with {r.ids:,} ids, not {GOAL_IDS:,})"
        return [
            goal(
                f"{r.ids:,} cancels in one cancel_many: peak RSS{note}",
                f"< {GOAL_RSS_MB:.0f} MB, every id cancelled",
                f"{m.peak_rss_mb:.1f} MB peak ({m.baseline_rss_mb:.1f} MB before the first request), "
                f"{r.cancelled:,}/{r.ids:,} cancelled",
                m.peak_rss_mb < GOAL_RSS_MB and r.cancelled == r.ids,
                peak_rss_mb=m.peak_rss_mb,
                ids=r.ids,
            )
        ]

    def correct(self, result: MemoryResult) -> bool:
        return result.cancelled == result.ids and result.server_verified
