"""Where ``cancel_many``'s CPU goes: the SDK's own share against aiohttp, asyncio and msgspec.

In a fresh process (``_isolated``, the client alone: the fake is another process), one client (the curve's
variant (a): ``rate_limit=None``) cancels ``warmup`` ids, then ``profile_cancels`` ids in one
``cancel_many`` under the clocks only (the unprofiled CPU per cancel), then as many more under
``cProfile``. Each function's *self* time (``tottime``: its own code, not its callees) is put in a group
by where the function lives: ``threecommas_async/`` frames are the SDK; C functions (``~`` in the
profile) go to the library their name names (``msgspec.json.Decoder.decode`` to msgspec, ``_hashlib`` to
hashing, socket and epoll calls to the kernel side). The benchmark's own consuming loop is a group of its
own. cProfile counts each resumption of a coroutine as a call: a coroutine that awaits once shows two
calls per cancel.

cProfile costs about a microsecond per Python call and nothing inside C functions, so it inflates
Python-heavy code (the SDK, aiohttp's Python parts) against C (msgspec, hashing, sockets): the shares
are of profiled time, and *≈ µs unprofiled* spreads the unprofiled CPU per cancel by those shares, an
estimate that leans towards the Python side.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import pstats
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from threecommas_async.testing._process import pin_cpu

from ._common import PENDING, ROOT
from ._config import Config
from ._goals import Goal
from ._isolated import fresh_processes
from ._run import Target
from ._section import Bench
from ._table import table
from ._variants import sdk_cancel_many

SDK: Final = "threecommas_async"
AIOHTTP: Final = "aiohttp (+ yarl, multidict)"
ASYNCIO: Final = "asyncio (event loop, tasks)"
HASHING: Final = "hmac / hashlib (signing)"
KERNEL: Final = "sockets, epoll (system calls)"
DRIVER: Final = "benchmark driver (consumes results)"
TOP: Final = 10

_BY_PATH: Final = (
    ("/threecommas_async/", SDK),
    ("/benchmarks/", DRIVER),
    ("/aiohttp/", AIOHTTP),
    ("/yarl/", AIOHTTP),
    ("/multidict/", AIOHTTP),
    ("/propcache/", AIOHTTP),
    ("/aiohappyeyeballs/", AIOHTTP),
    ("/msgspec/", "msgspec"),
    ("/asyncio/", ASYNCIO),
    ("/selectors.py", ASYNCIO),
    ("/hmac.py", HASHING),
)
_BY_C_NAME: Final = (
    ("msgspec", "msgspec"),
    ("_hashlib", HASHING),
    ("hmac", HASHING),
    ("sha256", HASHING),
    ("aiohttp", AIOHTTP),
    ("multidict", AIOHTTP),
    ("yarl", AIOHTTP),
    ("propcache", AIOHTTP),
    ("socket", KERNEL),
    ("epoll", KERNEL),
    ("_asyncio", ASYNCIO),
    ("_contextvars", ASYNCIO),
)


def group_of(filename: str, name: str) -> str:
    """The group a profiled function's self time counts for."""
    if filename == "~":
        return next((g for marker, g in _BY_C_NAME if marker in name), "other C functions (builtins)")
    path = filename.replace("\\", "/")
    return next((g for marker, g in _BY_PATH if marker in path), "Python stdlib (other)")


@dataclass(frozen=True, slots=True)
class ProfileJob:
    target: Target
    warmup: list[int]
    plain: list[int]
    profiled: list[int]
    concurrency: int
    cpu: int | None


@dataclass(frozen=True, slots=True)
class Hot:
    function: str  # path relative to the repository, line, name
    calls_per_cancel: float
    self_us_per_cancel: float  # profiled
    share: float  # of all profiled self time


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    self_us_per_cancel: float  # profiled
    share: float
    estimate_us_per_cancel: float  # share x the unprofiled CPU per cancel


@dataclass(frozen=True, slots=True)
class ProfileRun:
    ids: int
    plain_cpu_us_per_cancel: float
    profiled_cpu_us_per_cancel: float
    cancelled_plain: int
    cancelled_profiled: int
    groups: list[Group]  # largest first
    top_sdk: list[Hot]


def _where(filename: str, line: int, name: str) -> str:
    path = Path(filename)
    if path.is_relative_to(ROOT):
        filename = path.relative_to(ROOT).as_posix()
    return f"{filename}:{line}({name})"


def profile_job(job: ProfileJob) -> ProfileRun:
    pin_cpu(job.cpu)
    return asyncio.run(_profile(job))


async def _profile(job: ProfileJob) -> ProfileRun:
    profiler = cProfile.Profile()
    async with sdk_cancel_many(job.target, job.concurrency) as drive:
        await drive(job.warmup)
        gc.collect()
        c0 = time.process_time()
        plain = await drive(job.plain)
        c1 = time.process_time()
        gc.collect()
        profiler.enable()
        profiled = await drive(job.profiled)
        profiler.disable()
        c2 = time.process_time()
    n = len(job.plain)
    raw = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    by_group: dict[str, float] = {}
    sdk: list[tuple[float, int, str]] = []
    for (filename, line, name), (_, calls, self_s, _, _) in raw.items():
        where = group_of(filename, name)
        by_group[where] = by_group.get(where, 0.0) + self_s
        if where == SDK:
            sdk.append((self_s, calls, _where(filename, line, name)))
    plain_us = (c1 - c0) / n * 1e6
    groups = [
        Group(name, s / n * 1e6, s / total, s / total * plain_us)
        for name, s in sorted(by_group.items(), key=lambda kv: -kv[1])
    ]
    top = [
        Hot(where, calls / n, s / n * 1e6, s / total) for s, calls, where in sorted(sdk, reverse=True)[:TOP]
    ]
    return ProfileRun(n, plain_us, (c2 - c1) / n * 1e6, plain, profiled, groups, top)


@dataclass(frozen=True, slots=True)
class ProfileReport:
    concurrency: int
    warmup: int
    run: ProfileRun
    sdk_share: float
    sdk_estimate_us_per_cancel: float
    ids_given: int
    server_verified: bool


@dataclass(frozen=True, slots=True)
class ProfileSection:
    cfg: Config
    key: str = "profile"
    needs_server: bool = True

    def run(self, bench: Bench) -> ProfileReport:
        cfg, n = self.cfg, self.cfg.profile_cancels
        ids = bench.seed(cfg.warmup + 2 * n)
        job = ProfileJob(
            bench.target,
            ids[: cfg.warmup],
            ids[cfg.warmup : cfg.warmup + n],
            ids[cfg.warmup + n :],
            cfg.concurrency,
            bench.client_cpu,
        )
        with fresh_processes() as call:
            done = call(profile_job, job)
        sdk = next((g for g in done.groups if g.name == SDK), Group(SDK, 0.0, 0.0, 0.0))
        print(f"  profile  cancel_many {n:,} ids: SDK {sdk.share:.1%} of profiled self time", flush=True)
        statuses = bench.statuses(ids)
        return ProfileReport(
            concurrency=cfg.concurrency,
            warmup=cfg.warmup,
            run=done,
            sdk_share=sdk.share,
            sdk_estimate_us_per_cancel=sdk.estimate_us_per_cancel,
            ids_given=len(ids),
            server_verified=statuses == {PENDING: len(ids)},
        )

    def render(self, result: ProfileReport) -> str:
        r = result.run
        groups = [
            [g.name, f"{g.self_us_per_cancel:.1f}", f"{g.share:.1%}", f"{g.estimate_us_per_cancel:.1f}"]
            for g in r.groups
        ]
        hot = [
            [h.function, f"{h.calls_per_cancel:.2f}", f"{h.self_us_per_cancel:.2f}", f"{h.share:.1%}"]
            for h in r.top_sdk
        ]
        return "\n".join(
            [
                f"Profile: one cancel_many(ids, concurrency={result.concurrency}) over {r.ids:,} ids under "
                f"cProfile, in a fresh process (client only); unprofiled {r.plain_cpu_us_per_cancel:.1f} µs "
                f"CPU/cancel, profiled {r.profiled_cpu_us_per_cancel:.1f}; server ok: "
                + ("yes" if result.server_verified else "NO"),
                table(["self time in", "µs/cancel (profiled)", "share", "≈ µs/cancel unprofiled"], groups),
                "",
                f"Top {len(r.top_sdk)} SDK functions by self time (cProfile counts a coroutine's every "
                "resumption as a call)",
                table(["function", "calls/cancel", "self µs/cancel", "share of all"], hot),
            ]
        )

    def goals(self, result: ProfileReport) -> list[Goal]:
        return []

    def correct(self, result: ProfileReport) -> bool:
        r = result.run
        return result.server_verified and r.cancelled_plain == r.ids and r.cancelled_profiled == r.ids
