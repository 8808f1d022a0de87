"""One measured run of one variant in a fresh process, with its memory.

The size curve and the memory run need a heap that no earlier run has touched, or their RSS would
measure what earlier runs left behind. Each job runs in a child forked from multiprocessing's fork
server, which preloads this module: the imports are paid once, and every child starts in milliseconds
from a heap holding nothing but them. A child pins itself to the client's CPU, opens the variant,
drives the warm-up batch, collects garbage, reads its memory, drives the measured batch under the clocks
(``_run.measure``) and reads its memory again.

Memory (Linux; elsewhere ``ru_maxrss`` and no current RSS): *peak* is ``VmHWM``, the high-water mark of
the process's resident set, read before the measured batch (``baseline``) and after the client closed
(``peak``); *growth* is the difference, what the measured batch added at its worst. ``ru_maxrss`` is not
used on Linux: the kernel carries the parent's mark into it across ``exec``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from typing import TypeVar

from threecommas_async.testing._process import pin_cpu

from ._common import current_rss_mb, peak_rss_mb
from ._run import Run, Target
from ._variants import BY_KEY

T = TypeVar("T")
A = TypeVar("A")


@dataclass(frozen=True, slots=True)
class Job:
    variant: str
    target: Target
    warmup: list[int]
    ids: list[int]
    concurrency: int
    cpu: int | None


@dataclass(frozen=True, slots=True)
class Memory:
    baseline_rss_mb: float  # peak RSS once the client is open and warm, before the measured batch
    peak_rss_mb: float
    peak_rss_source: str  # "VmHWM" (Linux) or "ru_maxrss"
    rss_before_mb: float | None  # current RSS just before / after the measured batch (Linux only)
    rss_after_mb: float | None
    growth_mb: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "growth_mb", self.peak_rss_mb - self.baseline_rss_mb)


@dataclass(frozen=True, slots=True)
class Isolated:
    run: Run
    memory: Memory


def _job(job: Job) -> Isolated:
    pin_cpu(job.cpu)
    seen: dict[str, float | None] = {}

    @asynccontextmanager
    async def watch() -> AsyncIterator[None]:
        seen["baseline"], _ = peak_rss_mb()
        seen["before"] = current_rss_mb()
        yield
        seen["after"] = current_rss_mb()

    run = BY_KEY[job.variant].run(job.target, job.warmup, job.ids, job.concurrency, probe=watch)
    peak, source = peak_rss_mb()
    baseline = seen["baseline"]
    assert baseline is not None
    return Isolated(run, Memory(baseline, peak, source, seen["before"], seen["after"]))


def context() -> BaseContext:
    """multiprocessing's fork server, preloading this module (and so the clients), or spawn where there
    is none. Every child process of the benchmarks starts from it."""
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        ctx.set_forkserver_preload([__name__])
    return ctx


@contextmanager
def fresh_processes(timeout: float = 900.0) -> Iterator[Callable[[Callable[[A], T], A], T]]:
    """``call(fn, arg)`` runs ``fn(arg)`` in a fresh child (``fn`` a module-level function) and returns
    its result; exceptions come back."""
    with ProcessPoolExecutor(max_workers=1, mp_context=context(), max_tasks_per_child=1) as pool:

        def call(fn: Callable[[A], T], arg: A) -> T:
            return pool.submit(fn, arg).result(timeout)

        yield call


@contextmanager
def isolation(timeout: float = 900.0) -> Iterator[Callable[[Job], Isolated]]:
    """``run(job)`` runs ``job`` in a fresh child and returns what it measured; exceptions come back."""
    with fresh_processes(timeout) as call:

        def run(job: Job) -> Isolated:
            return call(_job, job)

        yield run
