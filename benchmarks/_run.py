"""How one batch of cancels is measured, whatever the client.

A client variant *opens* (its session or connection pool, not measured) and hands back a *drive*: a
function that cancels a batch of ids and returns how many really succeeded. :func:`measure` opens it,
drives a warm-up batch (connections opened, code paths and caches hot), collects garbage, and only then
starts the clocks around the measured batch: ``time.perf_counter()`` for wall time and
``time.process_time()`` for the CPU time of this process (all of its threads; the server is another
process, so none of its work is counted). A *probe* (an async context manager) may watch the measured
batch from the same event loop: the loop-lag ticker, the memory readings.

The event loop is asyncio's default one or uvloop's (:data:`LOOPS`), created per run.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar
from urllib.parse import urlsplit

from ._common import process_cpu_s

T = TypeVar("T")
Loop = Literal["asyncio", "uvloop"]
LOOPS: Final[tuple[Loop, ...]] = ("asyncio", "uvloop")

Drive = Callable[[Sequence[int]], Awaitable[int]]
SyncDrive = Callable[[Sequence[int]], int]
OpenAsync = Callable[["Target", int], AbstractAsyncContextManager[Drive]]
OpenSync = Callable[["Target", int], AbstractContextManager[SyncDrive]]
Probe = Callable[[], AbstractAsyncContextManager[object]]
"""Entered just before the clocks start, left just after they stop, on the run's event loop."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where the fake server listens and the key pair it accepts."""

    base_url: str
    api_key: str
    api_secret: str = field(repr=False)
    server_pid: int | None = None

    def server_cpu_s(self) -> float | None:
        """The server process's CPU seconds so far, read from ``/proc`` (None elsewhere)."""
        return process_cpu_s(self.server_pid)

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def prefix(self) -> str:
        """``/public/api``: the path of the base URL, part of every signed path."""
        return urlsplit(self.base_url).path.rstrip("/")


@dataclass(frozen=True, slots=True)
class Run:
    """One measured batch of one variant; the last four fields are derived from the others."""

    ids: int
    cancelled: int
    wall_s: float
    cpu_s: float
    warmup_ids: int
    warmup_cancelled: int
    server_cpu_s: float | None = None
    cpu_us_per_cancel: float = field(init=False)
    cancels_per_s: float = field(init=False)
    client_busy: float = field(init=False)
    """Share of the wall time the client spent on CPU (1.0: one core saturated: client-bound)."""
    server_busy: float | None = field(init=False)
    """Share of the wall time the server spent on CPU (near 1.0: the server is the bottleneck)."""

    def __post_init__(self) -> None:
        derived = {
            "cpu_us_per_cancel": self.cpu_s / self.ids * 1e6,
            "cancels_per_s": self.ids / self.wall_s,
            "client_busy": self.cpu_s / self.wall_s,
            "server_busy": None if self.server_cpu_s is None else self.server_cpu_s / self.wall_s,
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @property
    def all_cancelled(self) -> bool:
        """Every id of both batches came back cancelled, by the client's own count."""
        return self.cancelled == self.ids and self.warmup_cancelled == self.warmup_ids


@dataclass(slots=True)
class _Clocks:
    target: Target
    wall_s: float = 0.0
    cpu_s: float = 0.0
    server_cpu_s: float | None = None

    def run(self, ids: int, cancelled: int, warmup_ids: int, warmup_cancelled: int) -> Run:
        return Run(ids, cancelled, self.wall_s, self.cpu_s, warmup_ids, warmup_cancelled, self.server_cpu_s)


@contextmanager
def clocks(target: Target) -> Iterator[_Clocks]:
    """Wall, client CPU and server CPU time of the block; ``.run(...)`` makes its :class:`Run`."""
    watch = _Clocks(target)
    s0 = target.server_cpu_s()
    t0 = time.perf_counter()
    c0 = time.process_time()
    yield watch
    watch.cpu_s = time.process_time() - c0
    watch.wall_s = time.perf_counter() - t0
    s1 = target.server_cpu_s()
    watch.server_cpu_s = None if s0 is None or s1 is None else s1 - s0


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield None


async def measure(
    open_client: OpenAsync,
    target: Target,
    warmup: Sequence[int],
    ids: Sequence[int],
    concurrency: int,
    probe: Probe | None = None,
) -> Run:
    async with open_client(target, concurrency) as drive:
        warm_ok = await drive(warmup)
        gc.collect()
        async with (probe or _nothing)():
            with clocks(target) as clock:
                ok = await drive(ids)
    return clock.run(len(ids), ok, len(warmup), warm_ok)


def measure_sync(
    open_client: OpenSync, target: Target, warmup: Sequence[int], ids: Sequence[int], concurrency: int
) -> Run:
    with open_client(target, concurrency) as drive:
        warm_ok = drive(warmup)
        gc.collect()
        with clocks(target) as clock:
            ok = drive(ids)
    return clock.run(len(ids), ok, len(warmup), warm_ok)


def uvloop_available() -> bool:
    try:
        importlib.import_module("uvloop")
    except ImportError:
        return False
    return True


def loops_to_run(uvloop: bool) -> tuple[tuple[Loop, ...], str | None]:
    """The loops to run on (``uvloop``: asked for), and why uvloop is not among them if it was asked."""
    if not uvloop:
        return ("asyncio",), None
    if uvloop_available():
        return LOOPS, None
    return ("asyncio",), "skipped: uvloop is not installed (pip install -e '.[uvloop]')"


def run_on(loop: Loop, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh event loop of kind ``loop`` (``asyncio``: what
    ``asyncio.run`` would create)."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if loop == "uvloop":
        factory = importlib.import_module("uvloop").new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


AsyncWorker = Callable[[Iterator[int]], Awaitable[int]]


def pool(worker: AsyncWorker, concurrency: int) -> Drive:
    """A drive of ``concurrency`` coroutines pulling ids from one shared iterator; the sum of their
    counts. A plain worker pool, as a user would write it around a hand-written client."""

    async def drive(ids: Sequence[int]) -> int:
        it = iter(ids)
        counts = await asyncio.gather(*(worker(it) for _ in range(concurrency)))
        return sum(counts)

    return drive
