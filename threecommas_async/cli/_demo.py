"""The main job: create N SmartTrades on the embedded fake server, then cancel them all at once.

The fake server runs in a child process so that the CPU time measured here is the client's alone. Client
and server agree on 3Commas' limits scaled for a demo (every duration divided by ``SPEEDUP``), and the
server injects faults during the cancel phase: 503s, connection resets before and after processing, and
429s with Retry-After. The verdict is OK only when it is: every SmartTrade cancelled (or shown by a
GET to be final already), as the server confirms, and no 418; anything else is named, with its ids.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any, Final, TextIO

from .._client import ThreeCommasClient
from .._events import ClientEvent
from .._ratelimit import RateLimit
from .._retry import RetryPolicy
from .._status import CANCELLING
from ..models import PositionParams, SmartTradeCreate, UnitsParams
from ..resources.cancel import CancelResult
from ._console import Console
from ._exit import EXIT_FAILED, EXIT_OK
from ._output import plural
from ._settings import rate_limit

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


def demo_rate_limit(speedup: float = SPEEDUP) -> RateLimit:
    """The client-side twin of ``RateLimits.scaled(speedup)`` on the fake server. It waits out any
    cool-down: the injected 429s say ``Retry-After: 1`` (one real second, not scaled)."""
    return dataclasses.replace(rate_limit(scale=speedup), max_wait=30.0)


# -- the server process ---------------------------------------------------------------------------------
def _serve(conn: Connection, speedup: float) -> None:
    asyncio.run(_serve_async(conn, speedup))


async def _serve_async(conn: Connection, speedup: float) -> None:
    from ..testing import FakeThreeCommas, RateLimits

    loop = asyncio.get_running_loop()
    server = FakeThreeCommas(
        rate_limit=RateLimits.scaled(speedup, retry_after=True), cancel_delay=0.05, record_requests=False
    )
    async with server:
        conn.send((server.base_url, server.api_key, server.api_secret))
        while True:
            command, *args = await loop.run_in_executor(None, conn.recv)
            if command == "faults":
                ratio, seed, expected = args
                server.faults.clear()
                if ratio > 0:
                    server.faults.random(ratio, kinds=DEFAULT_FAULT_KINDS, seed=seed)
                    throttles = max(1, round(expected * ratio / RATE_LIMIT_FAULT_SHARE))
                    server.faults.add("rate_limit", route="cancel", times=throttles, retry_after=1)
                conn.send(None)
            elif command == "statuses":
                server.complete_pending()
                conn.send({i: server.trade_status(i) for i in args[0]})
            elif command == "stop":
                server.faults.clear()
                conn.send({"418": server.stats.status_418})
                return


@contextmanager
def _server_process(speedup: float) -> Iterator[tuple[Connection, tuple[str, str, str]]]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(child, speedup), daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("the fake server did not start within 30 s")
        yield parent, parent.recv()
    finally:
        process.join(timeout=5)
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)


# -- the client side ------------------------------------------------------------------------------------
def _ids(ids: Sequence[int]) -> str:
    ids = sorted(ids)
    shown = ", ".join(str(i) for i in ids[:SHOWN_IDS])
    return shown + (f", … ({len(ids) - SHOWN_IDS} more)" if len(ids) > SHOWN_IDS else "")


@dataclass
class DemoReport:
    trades: int
    created: int = 0
    cancelled: int = 0
    already_final: int = 0
    failed: int = 0
    unaccounted: int = 0
    server_disagrees: int = 0
    retries: int = 0
    received_429: int = 0
    received_418: int = 0
    server_418: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    failed_ids: dict[str, list[int]] = field(default_factory=dict)
    """The ids whose cancel failed, by the exception's class."""
    failure_samples: dict[str, str] = field(default_factory=dict)
    """One message per exception class: why they failed."""
    failed_but_cancelled: list[int] = field(default_factory=list)
    """Failed ids the server shows cancelled all the same (the answers were lost)."""
    unaccounted_ids: list[int] = field(default_factory=list)
    disagreeing_ids: list[int] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Everything that keeps the result from being OK, each with its count, ids and cause."""
        found: list[str] = []
        if self.created != self.trades:
            found.append(f"only {self.created} of {plural(self.trades)} were created")
        if self.failed:
            found.append(f"{plural(self.failed)} not cancelled:")
            for kind, ids in self.failed_ids.items():
                found.append(f"  {len(ids)} {kind}: {self.failure_samples.get(kind, '')} (ids {_ids(ids)})")
            if self.failed_but_cancelled:
                found.append(
                    f"  of those, the server shows {len(self.failed_but_cancelled)} cancelled all the same "
                    f"(their answers were lost): ids {_ids(self.failed_but_cancelled)}"
                )
        if self.unaccounted:
            shown = f": ids {_ids(self.unaccounted_ids)}" if self.unaccounted_ids else ""
            found.append(f"{plural(self.unaccounted)} got no result or an unexpected one{shown}")
        if self.server_disagrees:
            shown = f": ids {_ids(self.disagreeing_ids)}" if self.disagreeing_ids else ""
            found.append(
                f"{self.server_disagrees} reported cancelled, but the server does not show it{shown}"
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
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        rate = self.trades / self.seconds if self.seconds else 0.0
        cpu_us = self.cpu_seconds / max(1, self.trades) * 1e6
        problems = self.problems()
        out = [
            f"SmartTrades        {self.trades} created, {self.created} confirmed",
            f"cancelled          {self.cancelled}",
            f"already final      {self.already_final}",
            f"failed             {self.failed}" + (f"  ({dict(self.errors)})" if self.errors else ""),
            f"unaccounted        {self.unaccounted}",
            f"server disagrees   {self.server_disagrees}",
            f"retries            {self.retries}",
            f"429s received      {self.received_429}",
            f"418s received      {self.received_418}",
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


async def _create_all(client: ThreeCommasClient, n: int, concurrency: int) -> list[int]:
    ids: list[int] = []
    params = SmartTradeCreate(
        account_id=1,
        pair="USDT_BTC",
        position=PositionParams(type="buy", order_type="market", units=UnitsParams(value=Decimal("0.01"))),
    )
    remaining = iter(range(n))

    async def worker() -> None:
        for _ in remaining:
            trade = await client.smart_trades.create(params)
            if trade.id is not None:
                ids.append(trade.id)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
    return ids


async def _run(
    conn: Connection,
    credentials: tuple[str, str, str],
    report: DemoReport,
    *,
    fault_rate: float,
    concurrency: int,
    seed: int,
    speedup: float,
    stream: TextIO,
) -> None:
    base_url, api_key, api_secret = credentials
    events: Counter[str] = Counter()

    def count(event: ClientEvent) -> None:
        events[event.kind] += 1

    async with ThreeCommasClient(
        api_key,
        api_secret,
        base_url=base_url,
        rate_limit=demo_rate_limit(speedup),
        retry=RetryPolicy(max_attempts=MAX_ATTEMPTS, backoff_base=0.05, backoff_max=1.0, deadline=30.0),
        event_hook=count,
    ) as client:
        print(f"fake 3Commas at {base_url}; creating {report.trades} SmartTrades …", file=stream, flush=True)
        ids = await _create_all(client, report.trades, concurrency)
        report.created = len(set(ids))
        conn.send(("faults", fault_rate, seed, len(ids)))
        conn.recv()
        events.clear()
        print(
            f"cancelling {len(ids)} at concurrency {concurrency}, {fault_rate:.0%} injected faults …",
            file=stream,
            flush=True,
        )
        results: dict[int, CancelResult] = {}
        cpu0, t0 = time.process_time(), time.perf_counter()
        with _progress(len(ids), stream) as bar:
            async for result in client.smart_trades.cancel_many(ids, concurrency=concurrency):
                results[result.id] = result
                bar.update(1)
        report.seconds = time.perf_counter() - t0
        report.cpu_seconds = time.process_time() - cpu0
    conn.send(("faults", 0.0, seed, 0))
    conn.recv()
    conn.send(("statuses", ids))
    statuses: dict[int, str] = conn.recv()
    report.unaccounted_ids = sorted(set(ids) ^ set(results))
    report.unaccounted = len(report.unaccounted_ids)
    for id, result in results.items():
        report.latencies.append(result.elapsed)
        server_says = statuses.get(id)
        if result.error is None:
            report.already_final += result.already_final
            report.cancelled += not result.already_final
            if server_says not in CANCELLING:
                report.server_disagrees += 1
                report.disagreeing_ids.append(id)
        else:
            kind = type(result.error).__name__
            report.failed += 1
            report.errors[kind] += 1
            report.failed_ids.setdefault(kind, []).append(id)
            report.failure_samples.setdefault(kind, str(result.error))
            if server_says in CANCELLING:
                report.failed_but_cancelled.append(id)
    report.retries = events["retry"]
    report.received_429 = events["cooldown"]
    report.received_418 = events["ban"]


def run_demo(
    trades: int = 1000,
    *,
    fault_rate: float = 0.05,
    concurrency: int = 32,
    seed: int = 7,
    speedup: float = SPEEDUP,
    stream: TextIO = sys.stderr,
) -> DemoReport:
    """Run the whole demo; the report's ``ok`` says whether every id was accounted for without a ban."""
    if trades < 1:
        raise ValueError(f"trades must be at least 1, got {trades}")
    if not 0 <= fault_rate < 1:
        raise ValueError(f"fault_rate must be in [0, 1), got {fault_rate}")
    report = DemoReport(trades=trades)
    with _server_process(speedup) as (conn, credentials):
        try:
            asyncio.run(
                _run(
                    conn,
                    credentials,
                    report,
                    fault_rate=fault_rate,
                    concurrency=concurrency,
                    seed=seed,
                    speedup=speedup,
                    stream=stream,
                )
            )
        finally:
            conn.send(("stop",))
            if conn.poll(10):
                stats = conn.recv()
                report.server_418 = stats["418"]
    return report


def run(args: argparse.Namespace, console: Console) -> int:
    """``threecommas-async demo``: the report on stdout, progress on stderr; exit 0 only when OK."""
    report = run_demo(
        args.trades,
        fault_rate=args.fault_rate,
        concurrency=args.concurrency,
        seed=args.seed,
        stream=console.stderr,
    )
    console.stdout.write("\n".join(report.lines()) + "\n")
    console.stdout.flush()
    return EXIT_OK if report.ok else EXIT_FAILED
