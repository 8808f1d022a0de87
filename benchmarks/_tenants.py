"""Many tenants, one process: ``tenants`` API keys cancelling ``tenant_cancels`` SmartTrades each, against
one client doing the same number of cancels with one key, side by side in one run.

Variants (each tenant has a key pair of its own on the fake, made before anything is measured):

- *one client*: one ``ThreeCommasClient`` cancels every id (the baseline of the ratios);
- *siblings*: one client, and a sibling per tenant made by ``with_credentials`` (one shared pool);
- *one session=*: a ``ThreeCommasClient`` per tenant, all on one aiohttp session passed in;
- *own sessions*: a ``ThreeCommasClient`` per tenant with a session of its own (the default).

Every variant cancels through the same worker pool: ``concurrency`` coroutines pull (client, id) pairs
from one iterator, the j-th id going to tenant j mod ``tenants``, so the requests in flight belong to
as many tenants as possible (a panic: every tenant cancels at once). The warm-up batch goes through the
first client (it opens the shared pool's connections); the tenants' clients are then made and entered
(``async with``: a session of its own opens here), outside the clocks, and the measured batch runs.
With their own sessions, the tenants' connections open during the measured batch: that is the old
way's cost.

Rate limit: every client runs with the limiter on, at a limit it never reaches (1,000,000 per 60 s,
in a ``memory://`` storage of the run's own). A service keeps its limiter on, so each tenant's key pays
for its windows; 3Commas' own 100 per minute would not throttle 5 cancels per tenant either, but it
would throttle the one client's thousands, and the ratio must compare like with like. The fake limits
nothing (the run's server).

Memory, each variant in a fresh process (``_isolated``): *idle KB/tenant* is what ``tracemalloc``
counts as allocated by making and entering the tenants' clients, before any request, divided by their
number; *RSS +MB* is the peak RSS growth from the warm first client to the end of the tenant batch
(clients made, entered, every cancel done); *construct* is the wall time of making ``construct``
clients (siblings: ``with_credentials``; the others: the constructor; made, never entered).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import secrets
import statistics
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

import aiohttp

from threecommas_async import RateLimit, ThreeCommasClient
from threecommas_async._storage import forget_storages
from threecommas_async.testing._process import pin_cpu

from ._common import PENDING, peak_rss_mb
from ._config import Config
from ._goals import Goal, goal
from ._isolated import fresh_processes
from ._rounds import Attempt, kept, run_rounds
from ._run import Drive, Run, Target, clocks, run_on
from ._section import Bench
from ._table import table
from ._variants import Cancel, sdk_cancels

Kind = Literal["one", "siblings", "shared_session", "own_sessions"]
Key = tuple[str, str]
Build = Callable[[str, str], ThreeCommasClient]

LIMIT: Final = RateLimit(max_rate=1_000_000, time_period=60.0)
POOL: Final = 100
"""The connections of a session passed in: the client's own default (``connection_limit=100``)."""
BASELINE: Final[Kind] = "one"
GOAL_CPU_RATIO: Final = 1.10
GOAL_IDLE_BYTES: Final = 4096
GOAL_RSS_MB: Final = 20.0
GOAL_CONSTRUCT_S: Final = 1.0
GOAL_SIZES: Final = (1000, 5, 10_000)
"""The sizes the goals are stated for: tenants, cancels per tenant, constructed clients."""


@dataclass(frozen=True, slots=True)
class TenantVariant:
    kind: Kind
    label: str
    description: str


VARIANTS: Final = (
    TenantVariant("one", "one client (one key)", "one ThreeCommasClient cancels every id"),
    TenantVariant(
        "siblings",
        "siblings: with_credentials",
        "one ThreeCommasClient and client.with_credentials(key, api_secret=...) per tenant: one pool",
    ),
    TenantVariant(
        "shared_session",
        "clients on one session= (old)",
        "ThreeCommasClient(key, secret, session=session) per tenant, one aiohttp.ClientSession",
    ),
    TenantVariant(
        "own_sessions",
        "clients, own sessions (old, default)",
        "ThreeCommasClient(key, secret) per tenant, each with a session and pool of its own",
    ),
)
BY_KIND: Final = {v.kind: v for v in VARIANTS}


# -- driving many clients -----------------------------------------------------------------------------------


def spread(cancels: Sequence[Cancel], concurrency: int) -> Drive:
    """A drive of ``concurrency`` workers over one iterator of (cancel, id): id j goes to ``cancels[j %
    n]``. With one cancel it is the plain worker pool of the cancel table's (a) ``cancel()``."""

    async def drive(ids: Sequence[int]) -> int:
        n = len(cancels)
        work = iter([(cancels[j % n], tid) for j, tid in enumerate(ids)])
        counts = await asyncio.gather(*(sdk_cancels(work) for _ in range(concurrency)))
        return sum(counts)

    return drive


@dataclass(slots=True)
class Tenancy:
    """One variant, open: the first client's drive (the warm-up), and how to make the tenants."""

    first: ThreeCommasClient
    build: Build | None  # a tenant's client, not entered (None: one client, no tenants)
    keys: Sequence[Key]
    concurrency: int
    made: list[ThreeCommasClient]

    @property
    def warm(self) -> Drive:
        return spread([self.first.smart_trades.cancel], self.concurrency)

    async def make(self) -> Drive:
        """Make and enter every tenant's client; the drive of the measured batch over them."""
        if self.build is None:
            return self.warm
        for key, secret in self.keys:
            self.made.append(await self.build(key, secret).__aenter__())
        return spread([c.smart_trades.cancel for c in self.made], self.concurrency)


@contextlib.asynccontextmanager
async def open_tenancy(
    kind: Kind, target: Target, keys: Sequence[Key], concurrency: int, limit: RateLimit
) -> AsyncIterator[Tenancy]:
    async with contextlib.AsyncExitStack() as stack:
        session = None
        if kind == "shared_session":
            connector = aiohttp.TCPConnector(limit=POOL)
            session = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))
        first = ThreeCommasClient(
            target.api_key, target.api_secret, base_url=target.base_url, rate_limit=limit, session=session
        )
        await stack.enter_async_context(first)

        def client(key: str, secret: str) -> ThreeCommasClient:
            return ThreeCommasClient(key, secret, base_url=target.base_url, rate_limit=limit, session=session)

        def sibling(key: str, secret: str) -> ThreeCommasClient:
            return first.with_credentials(key, api_secret=secret)

        build = {"one": None, "siblings": sibling, "shared_session": client, "own_sessions": client}[kind]
        tenancy = Tenancy(first, build, keys, concurrency, [])
        try:
            yield tenancy
        finally:
            await asyncio.gather(*(c.close() for c in tenancy.made))


def run_limit() -> RateLimit:
    """:data:`LIMIT` in a ``memory://`` storage of its own: no run inherits another's windows."""
    return replace(LIMIT, storage=f"memory://bench-tenants-{uuid.uuid4().hex}")


async def measure_tenancy(
    kind: Kind,
    target: Target,
    keys: Sequence[Key],
    warmup: Sequence[int],
    ids: Sequence[int],
    concurrency: int,
) -> Run:
    async with open_tenancy(kind, target, keys, concurrency, run_limit()) as tenancy:
        warm_ok = await tenancy.warm(warmup)
        drive = await tenancy.make()
        gc.collect()
        with clocks(target) as clock:
            ok = await drive(ids)
    return clock.run(len(ids), ok, len(warmup), warm_ok)


# -- memory, in a fresh process ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemoryJob:
    kind: Kind
    target: Target
    keys: list[Key]
    warmup: list[int]
    ids: list[int]
    concurrency: int
    construct: int
    cpu: int | None


@dataclass(frozen=True, slots=True)
class TenantMemory:
    baseline_rss_mb: float  # peak RSS with the first client open and warm, before the tenants exist
    peak_rss_mb: float  # after the tenant batch
    rss_growth_mb: float
    cancelled: int
    idle_bytes_per_tenant: float | None  # None: no tenants (one client)
    construct_s: float | None


def memory_job(job: MemoryJob) -> TenantMemory:
    pin_cpu(job.cpu)
    return asyncio.run(_memory(job))


async def _memory(job: MemoryJob) -> TenantMemory:
    limit = run_limit()
    async with open_tenancy(job.kind, job.target, job.keys, job.concurrency, limit) as tenancy:
        await tenancy.warm(job.warmup)
        gc.collect()
        baseline, _ = peak_rss_mb()
        drive = await tenancy.make()
        ok = await drive(job.ids)
        peak, _ = peak_rss_mb()
    if job.kind == BASELINE:
        return TenantMemory(baseline, peak, peak - baseline, ok, None, None)
    async with open_tenancy(job.kind, job.target, job.keys, job.concurrency, limit) as tenancy:
        gc.collect()
        tracemalloc.start()
        before, _ = tracemalloc.get_traced_memory()
        await tenancy.make()
        after, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        idle = (after - before) / len(job.keys)
        assert tenancy.build is not None
        made = [(f"fake-{secrets.token_hex(16)}", secrets.token_hex(32)) for _ in range(job.construct)]
        gc.collect()
        t0 = time.perf_counter()
        clients = [tenancy.build(key, secret) for key, secret in made]
        construct = time.perf_counter() - t0
        assert len(clients) == job.construct
    return TenantMemory(baseline, peak, peak - baseline, ok, idle, construct)


# -- the section ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TenantRow:
    kind: Kind
    label: str
    description: str
    tenants: int  # clients the ids were spread over (1: the baseline)
    cpu_us_per_cancel: float  # medians over the kept run of each round
    cancels_per_s: float
    cpu_ratio_vs_one: float
    paired_cpu_ratio_median: float  # median of same-round ratios to the one client
    memory: TenantMemory
    ids_given: int
    server_verified: bool
    correct: bool
    rounds: list[Attempt]


@dataclass(frozen=True, slots=True)
class TenantsReport:
    tenants: int
    cancels_per_tenant: int
    concurrency: int
    construct: int
    rate_limit: str
    variants: dict[str, TenantRow]


@dataclass(frozen=True, slots=True)
class TenantsSection:
    cfg: Config
    key: str = "tenants"
    needs_server: bool = True

    def run(self, bench: Bench) -> TenantsReport:
        cfg = self.cfg
        n = cfg.tenants * cfg.tenant_cancels
        keys = bench.new_keys(cfg.tenants)
        ids_used: dict[Kind, list[int]] = {v.kind: [] for v in VARIANTS}

        def fresh(kind: Kind) -> tuple[list[int], list[int]]:
            chunk = bench.seed(cfg.warmup + n)
            ids_used[kind].extend(chunk)
            return chunk[: cfg.warmup], chunk[cfg.warmup :]

        def measure(variant: TenantVariant) -> Run:
            warmup, ids = fresh(variant.kind)
            try:
                return run_on(
                    "asyncio",
                    measure_tenancy(variant.kind, bench.target, keys, warmup, ids, cfg.concurrency),
                )
            finally:
                forget_storages()  # the run's memory:// storage and its windows go with it

        attempts = run_rounds(
            VARIANTS,
            rounds=cfg.rounds,
            retries=cfg.retries,
            contended_below=cfg.contended_below,
            measure=measure,
            label=lambda v: f"tenants {v.label}",
        )
        memory: dict[Kind, TenantMemory] = {}
        with fresh_processes() as call:
            for variant in VARIANTS:
                warmup, ids = fresh(variant.kind)
                job = MemoryJob(
                    variant.kind,
                    bench.target,
                    keys,
                    warmup,
                    ids,
                    cfg.concurrency,
                    cfg.construct,
                    bench.client_cpu,
                )
                memory[variant.kind] = call(memory_job, job)
                print(
                    f"  memory  tenants {variant.label}: +{memory[variant.kind].rss_growth_mb:.1f} MB",
                    flush=True,
                )
        base = dict(zip((v.kind for v in VARIANTS), attempts, strict=True))[BASELINE]
        rows: dict[str, TenantRow] = {}
        for variant, tries in zip(VARIANTS, attempts, strict=True):
            used = ids_used[variant.kind]
            statuses = bench.statuses(used)
            verified = statuses == {PENDING: len(used)}
            mem = memory[variant.kind]
            runs, base_runs = kept(tries), kept(base)
            cpu = statistics.median(r.cpu_us_per_cancel for r in runs)
            rows[variant.kind] = TenantRow(
                kind=variant.kind,
                label=variant.label,
                description=variant.description,
                tenants=1 if variant.kind == BASELINE else cfg.tenants,
                cpu_us_per_cancel=cpu,
                cancels_per_s=statistics.median(r.cancels_per_s for r in runs),
                cpu_ratio_vs_one=cpu / statistics.median(r.cpu_us_per_cancel for r in base_runs),
                paired_cpu_ratio_median=statistics.median(
                    r.cpu_us_per_cancel / b.cpu_us_per_cancel for r, b in zip(runs, base_runs, strict=True)
                ),
                memory=mem,
                ids_given=len(used),
                server_verified=verified,
                correct=verified and mem.cancelled == n and all(a.run.all_cancelled for a in tries),
                rounds=tries,
            )
        return TenantsReport(
            tenants=cfg.tenants,
            cancels_per_tenant=cfg.tenant_cancels,
            concurrency=cfg.concurrency,
            construct=cfg.construct,
            rate_limit=f"RateLimit(max_rate={LIMIT.max_rate:,.0f}, time_period={LIMIT.time_period:g})",
            variants=rows,
        )

    def render(self, result: TenantsReport) -> str:
        r = result
        total = r.tenants * r.cancels_per_tenant
        rows = []
        for row in r.variants.values():
            mem = row.memory
            rows.append(
                [
                    row.label if row.kind == BASELINE else f"{row.tenants:,} {row.label}",
                    f"{row.cpu_us_per_cancel:.1f}",
                    f"{row.cpu_ratio_vs_one:.3f}",
                    f"{row.paired_cpu_ratio_median:.3f}",
                    f"{row.cancels_per_s:,.0f}",
                    "-" if mem.idle_bytes_per_tenant is None else f"{mem.idle_bytes_per_tenant / 1024:.2f}",
                    f"{mem.rss_growth_mb:.1f}",
                    "-" if mem.construct_s is None else f"{mem.construct_s:.3f}",
                    "yes" if row.server_verified else "NO",
                ]
            )
        headers = [
            "variant",
            "CPU µs/cancel",
            "× one client",
            "same-round",
            "cancels/s",
            "idle KB/tenant",
            "RSS +MB",
            f"construct {r.construct:,} s",
            "server ok",
        ]
        return "\n".join(
            [
                f"Tenants: {r.tenants:,} tenants x {r.cancels_per_tenant} cancels ({total:,} cancels, "
                f"concurrency {r.concurrency} overall) against one client doing the same {total:,}; "
                "median over the rounds shown",
                f"limiter on, never reached: {r.rate_limit}, a memory:// storage per run; the fake limits "
                "nothing. Memory columns: one fresh process per variant",
                table(headers, rows),
            ]
        )

    def goals(self, result: TenantsReport) -> list[Goal]:
        r = result
        row, one = r.variants["siblings"], r.variants[BASELINE]
        mem = row.memory
        sizes = (r.tenants, r.cancels_per_tenant, r.construct)
        note = "" if sizes == GOAL_SIZES else f" (run with {r.tenants:,} x {r.cancels_per_tenant})"
        idle = mem.idle_bytes_per_tenant or 0.0
        construct = mem.construct_s or 0.0
        return [
            goal(
                f"{r.tenants:,} sibling tenants: CPU per cancel vs one client{note}",
                f"<= {GOAL_CPU_RATIO:.2f} x one client",
                f"{row.cpu_us_per_cancel:.1f} µs vs {one.cpu_us_per_cancel:.1f} µs = "
                f"{row.cpu_ratio_vs_one:.3f} x (same-round pairs: {row.paired_cpu_ratio_median:.3f} x)",
                row.cpu_ratio_vs_one <= GOAL_CPU_RATIO,
                ratio=row.cpu_ratio_vs_one,
                paired_ratio_median=row.paired_cpu_ratio_median,
            ),
            goal(
                "idle memory per sibling (tracemalloc, made with with_credentials)",
                f"<= {GOAL_IDLE_BYTES / 1024:.0f} KB",
                f"{idle:,.0f} bytes",
                idle <= GOAL_IDLE_BYTES,
                bytes_per_tenant=idle,
            ),
            goal(
                f"peak RSS growth of the {r.tenants:,}-sibling run{note}",
                f"<= {GOAL_RSS_MB:.0f} MB",
                f"+{mem.rss_growth_mb:.1f} MB ({mem.baseline_rss_mb:.1f} -> {mem.peak_rss_mb:.1f} MB)",
                mem.rss_growth_mb <= GOAL_RSS_MB,
                rss_growth_mb=mem.rss_growth_mb,
            ),
            goal(
                f"time to construct {r.construct:,} siblings",
                f"<= {GOAL_CONSTRUCT_S:.0f} s"
                + ("" if r.construct == GOAL_SIZES[2] else f" for {GOAL_SIZES[2]:,}"),
                f"{construct:.3f} s",
                construct <= GOAL_CONSTRUCT_S * r.construct / GOAL_SIZES[2],
                seconds=construct,
                clients=r.construct,
            ),
        ]

    def correct(self, result: TenantsReport) -> bool:
        return all(row.correct for row in result.variants.values())
