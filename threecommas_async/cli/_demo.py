"""The main job: create N SmartTrades on the embedded fake server, then cancel them all at once.

The fake server runs in a child process (``testing._process``) so that the CPU time measured here is the
clients' alone. Client and server agree on 3Commas' limits scaled for a demo (every duration divided by
``SPEEDUP``), and the server injects faults during the cancel phase: 503s, connection resets before and
after processing, and 429s with Retry-After. With ``--processes N`` the cancels go out from N processes
at once, sharing one allowance through ``--limits-storage``; the server measures the busiest window.
The verdict is OK only when it is: every SmartTrade cancelled (or shown by a GET to be final), as the
server confirms, and no 418; anything else is named, with its ids.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, TextIO

from .._client import ThreeCommasClient
from .._events import ClientEvent
from .._ratelimit import RateLimit
from .._retry import RetryPolicy
from .._status import NOTHING_TO_CANCEL
from .._storage import redact
from ..models import PositionParams, SmartTradeCreate, UnitsParams
from ._console import Console
from ._exit import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from ._output import plural

__all__ = ["DemoReport", "demo_rate_limit", "run", "run_demo"]

SPEEDUP = 120.0
"""3Commas allows 100 requests a minute; divided by 120 that is 100 per 0.5 s, i.e. 200 per second."""

DEFAULT_FAULT_KINDS = ("http_503", "reset_before", "reset_after")
RATE_LIMIT_FAULT_SHARE = 20
"""One injected 429 for every 20 other faults: each one pauses the whole client for its Retry-After."""


MAX_ATTEMPTS: Final = 6
"""Per request. At the default 5% of faults one request in 64 million fails six times; at 90% most do,
and the demo says so."""
SHOWN_IDS: Final = 10


def demo_rate_limit(speedup: float = SPEEDUP, storage: str = "memory://") -> RateLimit:
    """The client-side twin of ``RateLimits.scaled(speedup)`` on the fake server. It waits out any
    cool-down: the injected 429s say ``Retry-After: 1`` (one real second, not scaled). It learns no
    smaller plan from them (``adaptive=False``): they are faults of the demo, not a smaller plan."""
    return RateLimit.scaled(speedup, max_wait=30.0, storage=storage, adaptive=False)


def _busiest(server: Any, api_key: str, period: float) -> int:
    """A command of the fake's process: the most requests of ``api_key`` in any window of ``period``."""
    busiest: int = server.busiest_window(api_key, period)
    return busiest


# -- the client side ------------------------------------------------------------------------------------
def _ids(ids: Sequence[int]) -> str:
    ids = sorted(ids)
    shown = ", ".join(str(i) for i in ids[:SHOWN_IDS])
    return shown + (f", … ({len(ids) - SHOWN_IDS} more)" if len(ids) > SHOWN_IDS else "")


@dataclass
class DemoReport:
    trades: int
    processes: int = 1
    storage: str = "memory://"
    created: int = 0
    cancelled: int = 0
    already_final: int = 0
    final: int = 0
    """Cancelled or on their way, but an answer was lost: whether by this run cannot be told."""
    unknown: int = 0
    failed: int = 0
    unaccounted: int = 0
    server_disagrees: int = 0
    retries: int = 0
    received_429: int = 0
    received_418: int = 0
    server_418: int = 0
    server_429: int = 0
    busiest_window: int = 0
    limit: int = 100
    period: float = 60.0 / SPEEDUP
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failed_ids: dict[str, list[int]] = field(default_factory=dict)
    """The ids not cancelled (outcome ``failed``), by the exception's class."""
    unknown_ids: dict[str, list[int]] = field(default_factory=dict)
    """The ids whose outcome is ``unknown`` (an answer lost, the check failed too), by exception class."""
    failure_samples: dict[str, str] = field(default_factory=dict)
    """One message per exception class: why they failed."""
    unknown_samples: dict[str, str] = field(default_factory=dict)
    """One message per exception class: why they are unknown."""
    unknown_but_cancelled: list[int] = field(default_factory=list)
    """Unknown ids the server shows cancelled after all (the answers were lost)."""
    unaccounted_ids: list[int] = field(default_factory=list)
    disagreeing_ids: list[int] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Everything that keeps the result from being OK, each with its count, ids and cause."""
        found: list[str] = []
        if self.created != self.trades:
            found.append(f"only {self.created} of {plural(self.trades)} were created")
        if self.failed:
            found.append(f"{plural(self.failed)} not cancelled:")
            found += _causes(self.failed_ids, self.failure_samples)
        if self.unknown:
            found.append(f"{plural(self.unknown)} unknown (an answer was lost and the check failed too):")
            found += _causes(self.unknown_ids, self.unknown_samples)
            if self.unknown_but_cancelled:
                found.append(
                    f"  of those, the server shows {len(self.unknown_but_cancelled)} cancelled after all: "
                    f"ids {_ids(self.unknown_but_cancelled)}"
                )
        if self.busiest_window > self.limit:
            found.append(f"the server saw {self.busiest_window} requests in one window, over the limit")
        if self.unaccounted:
            shown = f": ids {_ids(self.unaccounted_ids)}" if self.unaccounted_ids else ""
            found.append(f"{plural(self.unaccounted)} got no result or an unexpected one{shown}")
        if self.server_disagrees:
            shown = f": ids {_ids(self.disagreeing_ids)}" if self.disagreeing_ids else ""
            found.append(
                f"{self.server_disagrees} reported with an outcome the server contradicts (cancelled but not "
                f"shown so, or failed but shown cancelled){shown}"
            )
        if self.received_418 or self.server_418:
            found.append(
                f"IP banned: {self.received_418} 418 answers received, {self.server_418} sent by the server"
            )
        return found

    @property
    def ok(self) -> bool:
        """Every SmartTrade cancelled or provably final already, as the server confirms, and no ban."""
        return not self.problems()

    def lines(self) -> list[str]:
        lat = sorted(self.latencies) or [0.0]
        shared = (
            [f"processes          {self.processes}, sharing one allowance in {self.storage}"]
            if self.processes > 1
            else []
        )
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        rate = self.trades / self.seconds if self.seconds else 0.0
        cpu_us = self.cpu_seconds / max(1, self.trades) * 1e6
        problems = self.problems()
        out = [
            f"SmartTrades        {self.trades} created, {self.created} confirmed",
            *shared,
            f"cancelled          {self.cancelled}",
            f"already final      {self.already_final}",
            *([f"final, who unknown {self.final}"] if self.final else []),
            f"failed             {self.failed}",
            *([f"unknown            {self.unknown}"] if self.unknown else []),
            f"unaccounted        {self.unaccounted}",
            f"server disagrees   {self.server_disagrees}",
            f"retries            {self.retries}",
            f"429s received      {self.received_429}",
            f"418s received      {self.received_418}",
            f"busiest window     {self.busiest_window} of {self.limit} per {self.period:g} s (at the server)",
            f"latency p50 / p99  {p50 * 1e3:.1f} ms / {p99 * 1e3:.1f} ms",
            f"cancels per second {rate:,.0f}",
            f"client CPU/cancel  {cpu_us:,.0f} µs",
            "result             "
            + ("NOT OK" if problems else "OK: every SmartTrade cancelled or already final, no ban"),
            *problems,
        ]
        return out


def _progress(total: int, stream: TextIO) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="cancel", file=stream, disable=None, dynamic_ncols=True, leave=False)


@dataclass
class _Share:
    """What one process cancels, and how (picklable: it crosses to the child processes)."""

    base_url: str
    api_key: str
    api_secret: str
    ids: list[int]
    concurrency: int
    speedup: float
    storage: str
    show_progress: bool = False


@dataclass
class _Outcomes:
    """What one process reports back: per id (outcome, error class, message, elapsed), events, CPU."""

    results: dict[int, tuple[str, str | None, str | None, float]] = field(default_factory=dict)
    events: Counter[str] = field(default_factory=Counter)
    cpu_seconds: float = 0.0
    seconds: float = 0.0


def _client(share: _Share, hook: Any) -> ThreeCommasClient:
    return ThreeCommasClient(
        share.api_key,
        share.api_secret,
        base_url=share.base_url,
        rate_limit=demo_rate_limit(share.speedup, share.storage),
        retry=RetryPolicy(max_attempts=MAX_ATTEMPTS, backoff_base=0.05, backoff_max=1.0, deadline=30.0),
        event_hook=hook,
    )


async def _create_all(share: _Share, n: int) -> list[int]:
    ids: list[int] = []
    params = SmartTradeCreate(
        account_id=1,
        pair="USDT_BTC",
        position=PositionParams(type="buy", order_type="market", units=UnitsParams(value=Decimal("0.01"))),
    )
    remaining = iter(range(n))
    async with _client(share, None) as client:

        async def worker() -> None:
            for _ in remaining:
                trade = await client.smart_trades.create(params)
                if trade.id is not None:
                    ids.append(trade.id)

        await asyncio.gather(*(worker() for _ in range(min(share.concurrency, n))))
    return ids


def _cancel_share(share: _Share, stream: TextIO | None = None) -> _Outcomes:
    """Cancel one share of the ids (in this process, or in a child of the demo)."""
    return asyncio.run(_cancel_async(share, stream))


async def _cancel_async(share: _Share, stream: TextIO | None) -> _Outcomes:
    got = _Outcomes()

    def count(event: ClientEvent) -> None:
        got.events[event.kind] += 1

    async with _client(share, count) as client:
        cpu0, t0 = time.process_time(), time.perf_counter()
        with _progress(len(share.ids), stream or sys.stderr) if share.show_progress else _Nothing() as bar:
            async for result in client.smart_trades.cancel_many(share.ids, concurrency=share.concurrency):
                error = result.error
                got.results[result.id] = (
                    result.outcome,
                    type(error).__name__ if error is not None else None,
                    str(error) if error is not None else None,
                    result.elapsed,
                )
                bar.update(1)
        got.seconds = time.perf_counter() - t0
        got.cpu_seconds = time.process_time() - cpu0
    return got


class _Nothing:
    """A progress bar that draws nothing (the children of a many-process demo)."""

    def __enter__(self) -> _Nothing:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _cancel_everywhere(share: _Share, processes: int, stream: TextIO) -> _Outcomes:
    """The cancel phase: in this process, or split over ``processes`` children started at once."""
    if processes == 1:
        return _cancel_share(share, stream)
    shares = [
        _Share(
            share.base_url,
            share.api_key,
            share.api_secret,
            share.ids[i::processes],
            share.concurrency,
            share.speedup,
            share.storage,
        )
        for i in range(processes)
    ]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(_cancel_share, shares))
    total = _Outcomes()  # its time: the longest cancel phase, not the processes' start-up
    for part in parts:
        total.results.update(part.results)
        total.events.update(part.events)
        total.cpu_seconds += part.cpu_seconds
        total.seconds = max(total.seconds, part.seconds)
    return total


def _account(report: DemoReport, ids: list[int], got: _Outcomes, statuses: dict[int, str]) -> None:
    report.unaccounted_ids = sorted(set(ids) ^ set(got.results))
    report.unaccounted = len(report.unaccounted_ids)
    for id, (outcome, kind, message, elapsed) in got.results.items():
        report.latencies.append(elapsed)
        server_says = statuses.get(id)
        if outcome in ("cancelled", "already_final", "final"):
            report.cancelled += outcome == "cancelled"
            report.already_final += outcome == "already_final"
            report.final += outcome == "final"
            if server_says not in NOTHING_TO_CANCEL:
                report.server_disagrees += 1
                report.disagreeing_ids.append(id)
            continue
        kind = kind or "UnknownOutcome"
        if outcome == "unknown":
            report.unknown_samples.setdefault(kind, message or "")
            report.unknown += 1
            report.unknown_ids.setdefault(kind, []).append(id)
            if server_says in NOTHING_TO_CANCEL:
                report.unknown_but_cancelled.append(id)
            continue
        report.failure_samples.setdefault(kind, message or "")
        report.failed += 1
        report.failed_ids.setdefault(kind, []).append(id)
        if server_says in NOTHING_TO_CANCEL:  # "failed" claims it is not cancelled: the server disagrees
            report.server_disagrees += 1
            report.disagreeing_ids.append(id)
    report.retries = got.events["retry"]
    report.received_429 = got.events["cooldown"]
    report.received_418 = got.events["ban"]
    report.seconds = got.seconds
    report.cpu_seconds = got.cpu_seconds


def _causes(by_kind: dict[str, list[int]], samples: dict[str, str]) -> list[str]:
    """One line per exception class: how many, why (one message), which ids."""
    return [
        f"  {len(ids)} {kind}: {samples.get(kind, '')} (ids {_ids(ids)})" for kind, ids in by_kind.items()
    ]


def run_demo(
    trades: int = 1000,
    *,
    fault_rate: float = 0.05,
    concurrency: int = 32,
    seed: int = 7,
    speedup: float = SPEEDUP,
    processes: int = 1,
    storage: str | None = None,
    stream: TextIO = sys.stderr,
) -> DemoReport:
    """Run the whole demo; the report's ``ok`` says whether every id was accounted for without a ban."""
    from ..testing import RateLimits
    from ..testing._process import FakeProcess

    if trades < 1:
        raise ValueError(f"trades must be at least 1, got {trades}")
    if not 0 <= fault_rate < 1:
        raise ValueError(f"fault_rate must be in [0, 1), got {fault_rate}")
    with tempfile.TemporaryDirectory(prefix="threecommas-demo-") as scratch:
        if storage is None:
            storage = "memory://" if processes == 1 else f"sqlite:///{os.path.join(scratch, 'limits.db')}"
        limit = demo_rate_limit(speedup, storage)  # a bad storage URL fails here, before any process
        report = DemoReport(trades=trades, processes=processes, storage=redact(storage))
        report.limit, report.period = int(limit.max_rate), limit.time_period
        fake = FakeProcess(
            rate_limit=RateLimits.scaled(speedup, retry_after=True),
            cancel_delay=0.05,
            record_requests=False,
            commands={"busiest": _busiest},
        )
        with fake:
            share = _Share(fake.base_url, fake.api_key, fake.api_secret, [], concurrency, speedup, storage)
            print(
                f"fake 3Commas at {fake.base_url}; creating {trades} SmartTrades …", file=stream, flush=True
            )
            ids = asyncio.run(_create_all(share, trades))
            report.created = len(set(ids))
            throttles = max(1, round(len(ids) * fault_rate / RATE_LIMIT_FAULT_SHARE))
            fake.set_faults(
                [{"kind": "rate_limit", "route": "cancel", "times": throttles, "retry_after": 1}]
                if fault_rate > 0
                else [],
                random={"ratio": fault_rate, "kinds": DEFAULT_FAULT_KINDS, "seed": seed}
                if fault_rate
                else None,
            )
            before = fake.stats()
            many = f" from {processes} processes sharing {redact(storage)}" if processes > 1 else ""
            faulted = f"{fault_rate:.0%} injected faults"
            print(
                f"cancelling {len(ids)} at concurrency {concurrency}{many}, {faulted} …",
                file=stream,
                flush=True,
            )
            share.ids, share.show_progress = ids, processes == 1
            got = _cancel_everywhere(share, processes, stream)
            fake.set_faults()
            fake.complete_pending()
            statuses = fake.statuses(ids)
            after = fake.stats()
            report.server_418 = after.status_418
            report.server_429 = after.status_429 - before.status_429
            report.busiest_window = fake.call("busiest", fake.api_key, limit.time_period)
        _account(report, ids, got, statuses)
    return report


def run(args: argparse.Namespace, console: Console) -> int:
    """``threecommas-async demo``: the report on stdout, progress on stderr; exit 0 only when OK."""
    try:
        report = run_demo(
            args.trades,
            fault_rate=args.fault_rate,
            concurrency=args.concurrency,
            seed=args.seed,
            processes=args.processes,
            storage=args.limits_storage,
            stream=console.stderr,
        )
    except ValueError as exc:  # the storage URL: everything else the parser checked
        console.stderr.write(f"threecommas-async: --limits-storage: {exc}\n")
        return EXIT_USAGE
    console.stdout.write("\n".join(report.lines()) + "\n")
    console.stdout.flush()
    return EXIT_OK if report.ok else EXIT_FAILED
