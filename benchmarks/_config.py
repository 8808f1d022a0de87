"""The command line of ``python -m benchmarks`` and the sizes of a run (full or ``--quick``)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from ._common import DEFAULT_JSON

CONTENDED_BELOW = 0.9
"""A run where neither the client nor the server was busy this share of the wall time was disturbed."""


CURVE_SIZES = (100, 1000, 10_000, 50_000)
QUICK_CURVE_SIZES = (100, 500)
KEY_COUNTS = (1, 1000, 10_000)
QUICK_KEY_COUNTS = (1, 100)
LAG_CONCURRENCIES = (8, 16, 32)
SECTIONS = (
    "cancel",
    "loop_lag",
    "curve",
    "tenants",
    "profile",
    "decode",
    "limiter",
    "storages",
    "shared",
    "rss",
)


@dataclass(frozen=True, slots=True)
class Config:
    quick: bool
    cancels: int
    concurrency: int
    rounds: int
    warmup: int
    rss_cancels: int
    retries: int
    limiter_fast_n: int
    limiter_waiters: int
    json_path: Path
    uvloop: bool = False
    lag_cancels: int = 2000
    curve_sizes: tuple[int, ...] = CURVE_SIZES
    curve_rounds: int = 3
    curve_min_cancels: int = 10_000
    """Below this many ids, a curve size gets more rounds, up to 5 x ``curve_rounds`` (0: never)."""
    only: tuple[str, ...] = ()
    """Section keys to run (empty: every section)."""
    contended_below: float = CONTENDED_BELOW
    tenants: int = 1000
    tenant_cancels: int = 5
    """Cancels per tenant in the tenants section (``tenants * tenant_cancels`` in all)."""
    construct: int = 10_000
    """Clients constructed for the construction-time row of the tenants section."""
    storage_ops: int = 10_000
    """Acquire + release pairs per storage in the storage section."""
    key_counts: tuple[int, ...] = KEY_COUNTS
    key_ops: int = 50_000
    redis_url: str | None = None
    """A Redis to use (``redis://host:port/db``; emptied by nobody): none starts a redis-server."""
    shared_processes: int = 4
    shared_windows: int = 10
    shared_limit: int = 100
    shared_period: float = 1.0
    lag_concurrencies: tuple[int, ...] = LAG_CONCURRENCIES
    profile_cancels: int = 5000


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Client CPU and throughput of SmartTrade cancels (this SDK, hand-written aiohttp, "
        "py3cw, a raw-protocol floor) against a loopback fake 3Commas in another process, the event "
        "loop's lag during cancels, the cancel_many size curve and profile, many tenants in one "
        "process, plus decode, limiter, rate-limit storage, shared-allowance and memory benchmarks. "
        "Prints tables and writes a JSON report.",
    )
    p.add_argument(
        "--quick", action="store_true", help="CI-sized run: a few seconds, numbers indicative only"
    )
    p.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help=f"report path (default {DEFAULT_JSON})"
    )
    p.add_argument(
        "--cancels", type=int, default=None, metavar="N", help="measured cancels per variant per round"
    )
    p.add_argument("--concurrency", type=int, default=32, metavar="C", help="in-flight cancels (default 32)")
    p.add_argument(
        "--rounds", type=int, default=None, metavar="R", help="interleaved rounds; the median is kept"
    )
    p.add_argument("--warmup", type=int, default=None, metavar="W", help="unmeasured cancels before each run")
    p.add_argument(
        "--retries",
        type=int,
        default=None,
        metavar="K",
        help="repeat a run disturbed by another process up to K times (default 2; 0 with --quick)",
    )
    p.add_argument(
        "--rss-cancels", type=int, default=None, metavar="N", help="ids of the cancel_many memory run"
    )
    p.add_argument(
        "--lag-cancels", type=int, default=None, metavar="N", help="measured cancels of each loop-lag run"
    )
    p.add_argument(
        "--curve-sizes",
        type=_sizes,
        default=None,
        metavar="N,N,...",
        help="batch sizes of the cancel_many size curve (default "
        + ",".join(map(str, CURVE_SIZES))
        + "; "
        + ",".join(map(str, QUICK_CURVE_SIZES))
        + " with --quick)",
    )
    p.add_argument(
        "--curve-rounds",
        type=int,
        default=None,
        metavar="R",
        help="rounds of the size curve (default 3; small sizes get more)",
    )
    p.add_argument(
        "--uvloop",
        action="store_true",
        help="run the cancel and loop-lag rows on uvloop as well (the uvloop extra; skipped if missing)",
    )
    p.add_argument(
        "--only",
        type=_keys,
        default=(),
        metavar="KEY,...",
        help=f"run only these sections ({', '.join(SECTIONS)})",
    )
    p.add_argument("--tenants", type=int, default=None, metavar="N", help="tenants (default 1000)")
    p.add_argument(
        "--tenant-cancels", type=int, default=None, metavar="K", help="cancels per tenant (default 5)"
    )
    p.add_argument(
        "--storage-ops",
        type=int,
        default=None,
        metavar="N",
        help="acquire + release pairs per rate-limit storage (default 10,000)",
    )
    p.add_argument(
        "--redis-url",
        default=None,
        metavar="URL",
        help="the Redis of the storage rows (default: a redis-server started on a free loopback port)",
    )
    p.add_argument(
        "--shared-windows",
        type=int,
        default=None,
        metavar="W",
        help="windows of the shared-allowance run (default 10)",
    )
    p.add_argument(
        "--profile-cancels", type=int, default=None, metavar="N", help="ids of the profiled cancel_many"
    )
    return p


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of sizes: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"every size must be positive: {text!r}")
    return sizes


def _keys(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def config(argv: list[str] | None = None) -> Config:
    """Parse ``argv``; a bad value exits with status 2 and a message naming the option."""
    p = parser()
    args = p.parse_args(argv)
    quick: bool = args.quick

    def pick(name: str, value: int | None, full: int, fast: int) -> int:
        chosen = value if value is not None else (fast if quick else full)
        if chosen < 1:
            p.error(f"{name} must be positive, got {chosen}")
        return chosen

    if args.concurrency < 1:
        p.error(f"--concurrency must be positive, got {args.concurrency}")
    if args.retries is not None and args.retries < 0:
        p.error(f"--retries must be 0 or more, got {args.retries}")
    return Config(
        quick=quick,
        cancels=pick("--cancels", args.cancels, 4000, 300),
        concurrency=args.concurrency,
        rounds=pick("--rounds", args.rounds, 5, 1),
        warmup=pick("--warmup", args.warmup, 300, 64),
        rss_cancels=pick("--rss-cancels", args.rss_cancels, 10_000, 2000),
        retries=args.retries if args.retries is not None else (0 if quick else 2),
        limiter_fast_n=10_000 if quick else 200_000,
        limiter_waiters=500 if quick else 10_000,
        json_path=args.json if args.json is not None else DEFAULT_JSON,
        uvloop=args.uvloop,
        lag_cancels=pick("--lag-cancels", args.lag_cancels, 2000, 200),
        curve_sizes=args.curve_sizes or (QUICK_CURVE_SIZES if quick else CURVE_SIZES),
        curve_rounds=pick("--curve-rounds", args.curve_rounds, 3, 1),
        curve_min_cancels=0 if quick else 10_000,
        only=args.only,
        tenants=pick("--tenants", args.tenants, 1000, 50),
        tenant_cancels=pick("--tenant-cancels", args.tenant_cancels, 5, 2),
        construct=100 if quick else 10_000,
        storage_ops=pick("--storage-ops", args.storage_ops, 10_000, 300),
        key_counts=QUICK_KEY_COUNTS if quick else KEY_COUNTS,
        key_ops=1000 if quick else 50_000,
        redis_url=args.redis_url,
        shared_processes=2 if quick else 4,
        shared_windows=pick("--shared-windows", args.shared_windows, 10, 3),
        shared_limit=20 if quick else 100,
        shared_period=0.1 if quick else 1.0,
        profile_cancels=pick("--profile-cancels", args.profile_cancels, 5000, 200),
    )
