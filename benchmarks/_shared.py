"""One allowance shared by several processes, through SQLite and through Redis: how much of it they use,
and whether they ever exceed it, measured on the server's side.

The run's fake enforces, while this section runs and afresh for each storage, an exact limit:
``shared_limit`` requests per ``shared_period`` seconds per API key, sliding, where the first request
over it answers 429 and blocks the key for 300 s, and any request during the block answers 418 (no
grace). Each storage gets a fresh key of its own; the answers are reported to the run's final check
(``Bench.answered``), and the limits are off again afterwards.

``shared_processes`` processes (this one, in a thread of its own, and fresh interpreters started with
``spawn``; all on the client's CPU) each run a ``ThreeCommasClient`` with the same limit in the
storage (``endpoints={}``, ``reserve=0``: GETs may use the whole window, not the 95 % the default
keeps for cancels), open their connections (``warm_up``, which sends nothing), meet at a barrier, and
GET one SmartTrade from 8 workers each as fast as the limiter lets them for ``shared_windows`` windows.
The fake records every arrival: the windows are counted from the barrier (``time.monotonic``, one
clock for every process of the host), each as a share of the ideal (``shared_limit``); the busiest
window of any start is the fake's own count.

Why ``spawn`` and not the fork server the other sections' children come from: a process forked from
one that had imported the SDK inherits its slot-token salt and counter (``_storage.new_token``), so two
such processes hand out the same tokens, and a shared window counts their slots as one (measured: 36
requests in a window of 20, then 429 and 418). Spawned processes draw their own, and so did this one.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import statistics
import tempfile
import time
from bisect import bisect_left
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

from threecommas_async import RateLimit, RateLimitError, ThreeCommasClient, ThreeCommasError
from threecommas_async._storage import forget_storages
from threecommas_async.testing import RateLimitRule, RateLimits
from threecommas_async.testing._process import FakeProcess, pin_cpu

from ._config import Config
from ._goals import Goal, goal
from ._redis import redis
from ._section import Bench, Skipped
from ._table import table

WORKERS: Final = 8
BLOCK: Final = 300.0
GOAL_SHARE: Final = 0.95

_barrier: Any = None
"""The processes' meeting point, handed to each by the pool's initializer."""


def _meet(barrier: Any) -> None:
    global _barrier
    _barrier = barrier


def _ready() -> None:
    """Nothing: a task that makes the pool start its processes (and import this module) early."""


@dataclass(frozen=True, slots=True)
class ShareJob:
    base_url: str
    api_key: str
    api_secret: str = field(repr=False)
    storage: str
    trade_id: int
    limit: int
    period: float
    windows: int
    cpu: int | None


@dataclass(frozen=True, slots=True)
class ShareDone:
    start: float  # time.monotonic() when the barrier let this process go
    done: int
    errors: dict[str, int]


def share_job(job: ShareJob) -> ShareDone:
    pin_cpu(job.cpu)
    return asyncio.run(_share(job))


async def _share(job: ShareJob) -> ShareDone:
    limit = RateLimit(
        max_rate=job.limit, time_period=job.period, endpoints={}, reserve=0.0, storage=job.storage
    )
    errors: dict[str, int] = {}
    done = 0
    async with ThreeCommasClient(
        job.api_key, job.api_secret, base_url=job.base_url, rate_limit=limit, retry=None
    ) as client:
        await client.warm_up(WORKERS)
        await asyncio.get_running_loop().run_in_executor(None, _barrier.wait, 60.0)
        start = time.monotonic()
        end = start + job.windows * job.period
        get = client.smart_trades.get

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < end:
                try:
                    await get(job.trade_id)
                except RateLimitError as exc:  # a 429: the key is blocked for minutes, stop
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    return
                except ThreeCommasError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    return
                done += 1

        await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return ShareDone(start, done, errors)


@dataclass(frozen=True, slots=True)
class ShareResult:
    storage: str
    processes: int
    limit: int
    period_s: float
    windows: int
    per_window: list[int]  # arrivals in each window from the barrier on
    share_mean: float  # of the ideal (limit per window)
    share_min: float
    busiest: int  # the fake's busiest window of any start, over the whole run
    requests: int
    status_429: int
    status_418: int
    client_errors: dict[str, int]
    done_per_process: list[int]


@dataclass(frozen=True, slots=True)
class SharedReport:
    processes: int
    limit: int
    period_s: float
    windows: int
    storages: dict[str, ShareResult | Skipped]


def _count(arrivals: list[float], start: float, period: float, windows: int) -> list[int]:
    ts = sorted(arrivals)
    edges = [bisect_left(ts, start + k * period) for k in range(windows + 1)]
    return [b - a for a, b in itertools.pairwise(edges)]


def _measure(
    fake: FakeProcess, pool: ProcessPoolExecutor, cfg: Config, label: str, url: str, cpu: int | None
) -> tuple[ShareResult, dict[int, int]]:
    """The run through one storage, and how the fake answered its requests."""
    # Fresh limits: a ban earned through one storage (bans are per IP) must not refuse the next.
    fake.call("set_limits", limits_of(cfg))
    ((key, secret),) = fake.call("new_keys", 1)
    (trade,) = fake.seed_trades(1)
    job = ShareJob(
        fake.base_url, key, secret, url, trade, cfg.shared_limit, cfg.shared_period, cfg.shared_windows, cpu
    )
    with ThreadPoolExecutor(1) as here:  # this process is one of them: one interpreter fewer to start
        mine = here.submit(lambda: asyncio.run(_share(job)))
        parts = [*pool.map(share_job, [job] * (cfg.shared_processes - 1)), mine.result()]
    start = min(p.start for p in parts)
    arrivals: list[float] = fake.call("arrivals", key)
    per_window = _count(arrivals, start, cfg.shared_period, cfg.shared_windows)
    statuses: dict[int, int] = fake.call("key_statuses", key)
    errors: dict[str, int] = {}
    for p in parts:
        for name, n in p.errors.items():
            errors[name] = errors.get(name, 0) + n
    shares = [n / cfg.shared_limit for n in per_window]
    result = ShareResult(
        storage=label,
        processes=cfg.shared_processes,
        limit=cfg.shared_limit,
        period_s=cfg.shared_period,
        windows=cfg.shared_windows,
        per_window=per_window,
        share_mean=statistics.fmean(shares),
        share_min=min(shares),
        busiest=fake.call("busiest", key, cfg.shared_period),
        requests=len(arrivals),
        status_429=statuses.get(429, 0),
        status_418=statuses.get(418, 0),
        client_errors=errors,
        done_per_process=[p.done for p in parts],
    )
    return result, statuses


def limits_of(cfg: Config) -> RateLimits:
    """The fake's exact limit: the first request over it answers 429, every later one in the block 418."""
    return RateLimits(
        global_rule=RateLimitRule(cfg.shared_limit, cfg.shared_period, BLOCK), list_rule=None, ban_grace=0.0
    )


@dataclass(frozen=True, slots=True)
class SharedSection:
    cfg: Config
    key: str = "shared"
    needs_server: bool = True

    def run(self, bench: Bench) -> SharedReport:
        cfg = self.cfg
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(cfg.shared_processes)
        _meet(barrier)
        fake = bench.fake
        results: dict[str, ShareResult | Skipped] = {}
        with (
            tempfile.TemporaryDirectory(prefix="bench-shared-") as scratch,
            redis(cfg.redis_url, bench.server_cpu) as server,
            ProcessPoolExecutor(
                cfg.shared_processes - 1, mp_context=ctx, initializer=_meet, initargs=(barrier,)
            ) as pool,
        ):
            for started in [pool.submit(_ready) for _ in range(cfg.shared_processes - 1)]:
                started.result()  # every process started (a fresh interpreter each) before the first run
            stores = {"sqlite": f"sqlite:///{scratch}/limits.db", "redis": server.url}
            try:
                for name, url in stores.items():
                    if url is None:
                        assert server.reason is not None
                        results[name] = Skipped(name, server.reason)
                        continue
                    try:
                        results[name], answered = _measure(fake, pool, cfg, name, url, bench.client_cpu)
                    finally:
                        forget_storages()  # this process's storage of the URL, made in the thread
                    bench.answered(answered)
                    print(f"  shared allowance through {name}: {_line(results[name])}", flush=True)
            finally:
                fake.call("set_limits", None)  # the other sections' cancels are never limited
        return SharedReport(
            cfg.shared_processes, cfg.shared_limit, cfg.shared_period, cfg.shared_windows, results
        )

    def render(self, result: SharedReport) -> str:
        rows: list[list[str]] = []
        for name, r in result.storages.items():
            if isinstance(r, Skipped):
                rows.append([name, r.reason])
                continue
            rows.append(
                [
                    name,
                    f"{r.share_mean:.1%}",
                    f"{r.share_min:.1%}",
                    f"{r.busiest} / {r.limit}",
                    f"{r.status_429}",
                    f"{r.status_418}",
                    f"{r.requests:,}",
                    " ".join(map(str, r.per_window)),
                ]
            )
        return "\n".join(
            [
                f"Shared allowance: {result.processes} processes, one key, {result.limit} requests per "
                f"{result.period_s:g} s (sliding, exact, server-side); GETs as fast as the limiter lets them "
                f"for {result.windows} windows",
                table(
                    [
                        "storage",
                        "used (mean)",
                        "worst window",
                        "busiest / limit",
                        "429s",
                        "418s",
                        "requests",
                        "per window",
                    ],
                    rows,
                ),
            ]
        )

    def goals(self, result: SharedReport) -> list[Goal]:
        out = []
        for name, r in result.storages.items():
            if isinstance(r, Skipped):
                out.append(
                    goal(
                        f"{result.processes} processes sharing one allowance through {name}",
                        "",
                        r.reason,
                        None,
                    )
                )
                continue
            out.append(
                goal(
                    f"{r.processes} processes sharing one allowance through {name}",
                    f">= {GOAL_SHARE:.0%} of the ideal per window, no 429, busiest window <= {r.limit}",
                    _line(r),
                    r.share_mean >= GOAL_SHARE
                    and r.status_429 == 0
                    and r.status_418 == 0
                    and r.busiest <= r.limit,
                    share_mean=r.share_mean,
                    share_min=r.share_min,
                    busiest=r.busiest,
                    status_429=r.status_429,
                )
            )
        return out

    def correct(self, result: SharedReport) -> bool:
        return True


def _line(r: ShareResult | Skipped) -> str:
    if isinstance(r, Skipped):
        return r.reason
    return (
        f"{r.share_mean:.1%} of the ideal (worst window {r.share_min:.1%}), "
        f"busiest window {r.busiest}/{r.limit}, {r.status_429} 429s, {r.status_418} 418s"
    )
