"""Memory: a fresh process (``python -m benchmarks._rss``) runs only one ``cancel_many`` over
``rss_cancels`` ids and reports its peak RSS; the server then confirms every id is cancelled."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field, replace
from typing import Final

import msgspec

from ._common import PENDING, ROOT
from ._goals import Goal, goal
from ._section import Bench
from ._table import table

GOAL_RSS_MB: Final = 150.0
GOAL_IDS: Final = 10_000


@dataclass(frozen=True, slots=True)
class MemoryResult:
    ids: int
    cancelled: int
    baseline_rss_mb: float
    peak_rss_mb: float
    peak_rss_source: str
    rss_before_mb: float | None
    rss_after_mb: float | None
    wall_s: float
    cpu_s: float
    server_statuses: dict[str, int] = field(default_factory=dict)  # filled in by the parent
    server_verified: bool = False


@dataclass(frozen=True, slots=True)
class MemorySection:
    rss_cancels: int
    concurrency: int
    key: str = "rss"
    needs_server: bool = True

    def run(self, bench: Bench) -> MemoryResult:
        ids = bench.seed(self.rss_cancels)
        t = bench.target
        job = {
            "base_url": t.base_url,
            "api_key": t.api_key,
            "api_secret": t.api_secret,
            "ids": ids,
            "concurrency": self.concurrency,
            "cpu": bench.client_cpu,
        }
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks._rss"],
            cwd=ROOT,
            input=json.dumps(job) + "\n",
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"memory benchmark failed:\n{proc.stderr}")
        statuses = bench.statuses(ids)
        return replace(
            msgspec.json.decode(proc.stdout, type=MemoryResult),
            server_statuses=statuses,
            server_verified=statuses == {PENDING: len(ids)},
        )

    def render(self, result: MemoryResult) -> str:
        r = result
        before_after = (
            "n/a"
            if r.rss_before_mb is None or r.rss_after_mb is None
            else f"{r.rss_before_mb:.1f} / {r.rss_after_mb:.1f}"
        )
        rows = [
            [f"peak RSS (MB, {r.peak_rss_source})", f"{r.peak_rss_mb:.1f}"],
            ["peak RSS before the first request (MB)", f"{r.baseline_rss_mb:.1f}"],
            ["current RSS before / after (MB)", before_after],
            ["cancelled", f"{r.cancelled:,}/{r.ids:,}"],
            ["wall (s)", f"{r.wall_s:.2f}"],
            ["CPU µs/cancel", f"{r.cpu_s / r.ids * 1e6:.1f}"],
        ]
        return (
            f"Memory: one cancel_many over {r.ids:,} ids in a fresh process "
            f"(concurrency {self.concurrency})\n" + table(["measure", "value"], rows)
        )

    def goals(self, result: MemoryResult) -> list[Goal]:
        r = result
        note = "" if r.ids == GOAL_IDS else f" (run with {r.ids:,} ids, not {GOAL_IDS:,})"
        return [
            goal(
                f"{r.ids:,} cancels in one cancel_many: peak RSS{note}",
                f"< {GOAL_RSS_MB:.0f} MB, every id cancelled",
                f"{r.peak_rss_mb:.1f} MB peak ({r.baseline_rss_mb:.1f} MB before the first request), "
                f"{r.cancelled:,}/{r.ids:,} cancelled",
                r.peak_rss_mb < GOAL_RSS_MB and r.cancelled == r.ids,
                peak_rss_mb=r.peak_rss_mb,
                ids=r.ids,
            )
        ]

    def correct(self, result: MemoryResult) -> bool:
        return result.cancelled == result.ids and result.server_verified
