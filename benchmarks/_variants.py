"""The cancel clients under test. Each one cancels a warm-up batch, then a measured batch, and counts the
cancels that really succeeded: HTTP 200 with the trade it asked for, now ``cancellation_pending``.

Every variant opens its own connection pool, warms it up (connections opened, code paths and caches hot),
collects garbage, and only then starts the clocks: ``time.perf_counter()`` for wall time and
``time.process_time()`` for the CPU time of this process (all of its threads; the server is another
process, so none of its work is counted).
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import hmac
import importlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp

from ._common import PENDING, process_cpu_s


@dataclass(frozen=True, slots=True)
class Target:
    """Where the fake server listens and the key pair it accepts."""

    base_url: str
    api_key: str
    api_secret: str
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


AsyncWorker = Callable[[Iterator[int]], Awaitable[int]]


async def _run_workers(worker: AsyncWorker, ids: Sequence[int], concurrency: int) -> int:
    """``concurrency`` coroutines pull ids from one shared iterator; returns the sum of their counts."""
    it = iter(ids)
    counts = await asyncio.gather(*(worker(it) for _ in range(concurrency)))
    return sum(counts)


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


async def _measure_workers(
    worker: AsyncWorker,
    warmup: Sequence[int],
    ids: Sequence[int],
    concurrency: int,
    server_cpu: Callable[[], float | None],
) -> Run:
    warm_ok = await _run_workers(worker, warmup, concurrency)
    gc.collect()
    s0 = server_cpu()
    t0 = time.perf_counter()
    c0 = time.process_time()
    ok = await _run_workers(worker, ids, concurrency)
    c1 = time.process_time()
    t1 = time.perf_counter()
    return Run(len(ids), ok, t1 - t0, c1 - c0, len(warmup), warm_ok, _delta(s0, server_cpu()))


# -- (a) this SDK ------------------------------------------------------------------------------------------


async def sdk_cancel(target: Target, warmup: Sequence[int], ids: Sequence[int], concurrency: int) -> Run:
    """``client.smart_trades.cancel(id)`` from ``concurrency`` worker coroutines, limiter off."""
    from threecommas_async import ThreeCommasClient, ThreeCommasError

    async with ThreeCommasClient(
        target.api_key, target.api_secret, base_url=target.base_url, rate_limit=None
    ) as client:
        cancel = client.smart_trades.cancel

        async def worker(it: Iterator[int]) -> int:
            ok = 0
            for tid in it:
                try:
                    trade = await cancel(tid)
                except ThreeCommasError:
                    continue
                if trade.id == tid and trade.status is not None and trade.status.type == PENDING:
                    ok += 1
            return ok

        return await _measure_workers(worker, warmup, ids, concurrency, target.server_cpu_s)


async def sdk_cancel_many(target: Target, warmup: Sequence[int], ids: Sequence[int], concurrency: int) -> Run:
    """One ``client.smart_trades.cancel_many(ids, concurrency=C)`` per batch, limiter off."""
    from threecommas_async import ThreeCommasClient

    async with ThreeCommasClient(
        target.api_key, target.api_secret, base_url=target.base_url, rate_limit=None
    ) as client:

        async def drive(batch: Sequence[int]) -> int:
            done: list[int] = []
            async for result in client.smart_trades.cancel_many(batch, concurrency=concurrency):
                trade = result.trade
                if (
                    result.ok
                    and not result.already_final
                    and trade is not None
                    and trade.id == result.id
                    and trade.status is not None
                    and trade.status.type == PENDING
                ):
                    done.append(result.id)
            # Exactly the ids given, each once: a duplicate or a stranger would make the sets differ.
            return len(done) if len(set(done)) == len(done) and set(done) <= set(batch) else -1

        warm_ok = await drive(warmup)
        gc.collect()
        s0 = target.server_cpu_s()
        t0 = time.perf_counter()
        c0 = time.process_time()
        ok = await drive(ids)
        c1 = time.process_time()
        t1 = time.perf_counter()
        s1 = target.server_cpu_s()
        return Run(len(ids), ok, t1 - t0, c1 - c0, len(warmup), warm_ok, _delta(s0, s1))


# -- (b) and (c) hand-written aiohttp ----------------------------------------------------------------------
# Deliberately written out twice rather than sharing a loop with a decode callback: each baseline must be
# the plain code a user would write, with no indirection of ours in its measured path.


async def aiohttp_json(target: Target, warmup: Sequence[int], ids: Sequence[int], concurrency: int) -> Run:
    """One ClientSession, ``hmac.new(...).hexdigest()`` over the path, ``await resp.json()``."""
    secret = target.api_secret.encode()
    api_key = target.api_key
    origin = target.origin
    base = target.prefix + "/v2/smart_trades/"
    sha256 = hashlib.sha256
    async with aiohttp.ClientSession() as session:

        async def worker(it: Iterator[int]) -> int:
            ok = 0
            for tid in it:
                path = f"{base}{tid}"
                signature = hmac.new(secret, path.encode(), sha256).hexdigest()
                async with session.delete(
                    origin + path, headers={"Apikey": api_key, "Signature": signature}
                ) as resp:
                    if resp.status != 200:
                        await resp.read()
                        continue
                    data = await resp.json()
                if data["id"] == tid and data["status"]["type"] == PENDING:
                    ok += 1
            return ok

        return await _measure_workers(worker, warmup, ids, concurrency, target.server_cpu_s)


async def aiohttp_msgspec(target: Target, warmup: Sequence[int], ids: Sequence[int], concurrency: int) -> Run:
    """Like :func:`aiohttp_json`, but the body bytes are decoded by msgspec into the SDK's SmartTrade."""
    from threecommas_async.models._decoders import SMART_TRADE_DECODER

    decode = SMART_TRADE_DECODER.decode
    secret = target.api_secret.encode()
    api_key = target.api_key
    origin = target.origin
    base = target.prefix + "/v2/smart_trades/"
    sha256 = hashlib.sha256
    async with aiohttp.ClientSession() as session:

        async def worker(it: Iterator[int]) -> int:
            ok = 0
            for tid in it:
                path = f"{base}{tid}"
                signature = hmac.new(secret, path.encode(), sha256).hexdigest()
                async with session.delete(
                    origin + path, headers={"Apikey": api_key, "Signature": signature}
                ) as resp:
                    if resp.status != 200:
                        await resp.read()
                        continue
                    trade = decode(await resp.read())
                if trade.id == tid and trade.status is not None and trade.status.type == PENDING:
                    ok += 1
            return ok

        return await _measure_workers(worker, warmup, ids, concurrency, target.server_cpu_s)


# -- (d) py3cw ---------------------------------------------------------------------------------------------

PY3CW_BASE_PATH: Final = "/public/api"
"""py3cw builds ``API_URL + '/public/api/v2/...'``; the fake serves the same prefix."""


def py3cw_available() -> bool:
    try:
        importlib.import_module("py3cw.request")
    except ImportError:
        return False
    return True


def py3cw_cancel(target: Target, warmup: Sequence[int], ids: Sequence[int], concurrency: int) -> Run:
    """py3cw 0.1.1 (sync, requests) from a ``ThreadPoolExecutor(max_workers=C)``, pointed at loopback.

    py3cw has no base-URL option: ``py3cw.request.API_URL`` (imported from ``py3cw.config``) is replaced.
    Its session pools 10 connections per host by default, fewer than C threads, which would open a new
    connection for most requests; the ``http://`` adapter is remounted with ``pool_maxsize=C`` so that
    py3cw is measured at its best, on C kept-alive connections like the others.
    """
    if target.prefix != PY3CW_BASE_PATH:
        raise RuntimeError(f"py3cw needs the server under {PY3CW_BASE_PATH}, not {target.prefix}")
    p3request: Any = importlib.import_module("py3cw.request")
    adapters: Any = importlib.import_module("requests.adapters")
    p3request.API_URL = target.origin
    client = p3request.Py3CW(key=target.api_key, secret=target.api_secret)
    client.session.mount("http://", adapters.HTTPAdapter(pool_connections=1, pool_maxsize=concurrency))
    request = client.request

    def worker(it: Iterator[int]) -> int:
        ok = 0
        for tid in it:  # list iterators are thread-safe in CPython: each id goes to exactly one thread
            error, data = request(entity="smart_trades_v2", action="cancel", action_id=str(tid))
            if not error and data.get("id") == tid and data["status"]["type"] == PENDING:
                ok += 1
        return ok

    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:

            def run(batch: Sequence[int]) -> int:
                it = iter(batch)
                futures = [pool.submit(worker, it) for _ in range(concurrency)]
                return sum(f.result() for f in futures)

            warm_ok = run(warmup)
            gc.collect()
            s0 = target.server_cpu_s()
            t0 = time.perf_counter()
            c0 = time.process_time()
            ok = run(ids)
            c1 = time.process_time()
            t1 = time.perf_counter()
            s1 = target.server_cpu_s()
    finally:
        client.session.close()
    return Run(len(ids), ok, t1 - t0, c1 - c0, len(warmup), warm_ok, _delta(s0, s1))


# -- (e) aiohttp + SigningMiddleware ----------------------------------------------------------------------


async def aiohttp_middleware_msgspec(
    target: Target, warmup: Sequence[int], ids: Sequence[int], concurrency: int
) -> Run:
    """Exactly :func:`aiohttp_msgspec`, except that the SDK's ``SigningMiddleware`` signs each request in
    aiohttp's middleware chain instead of the worker signing by hand: (e) - (c) is the middleware's cost."""
    from threecommas_async import SigningMiddleware
    from threecommas_async.models._decoders import SMART_TRADE_DECODER

    decode = SMART_TRADE_DECODER.decode
    origin = target.origin
    base = target.prefix + "/v2/smart_trades/"
    signing = SigningMiddleware(target.api_key, api_secret=target.api_secret, base_url=target.base_url)
    async with aiohttp.ClientSession(middlewares=(signing,)) as session:

        async def worker(it: Iterator[int]) -> int:
            ok = 0
            for tid in it:
                async with session.delete(f"{origin}{base}{tid}") as resp:
                    if resp.status != 200:
                        await resp.read()
                        continue
                    trade = decode(await resp.read())
                if trade.id == tid and trade.status is not None and trade.status.type == PENDING:
                    ok += 1
            return ok

        return await _measure_workers(worker, warmup, ids, concurrency, target.server_cpu_s)


# -- the table of variants ---------------------------------------------------------------------------------

AsyncVariant = Callable[[Target, Sequence[int], Sequence[int], int], Coroutine[Any, Any, Run]]
SyncVariant = Callable[[Target, Sequence[int], Sequence[int], int], Run]


@dataclass(frozen=True, slots=True)
class Variant:
    key: str
    label: str
    description: str
    async_fn: AsyncVariant | None = None
    sync_fn: SyncVariant | None = None
    available: Callable[[], bool] = lambda: True

    def run(self, target: Target, warmup: Sequence[int], ids: Sequence[int], concurrency: int) -> Run:
        if self.async_fn is not None:
            return asyncio.run(self.async_fn(target, warmup, ids, concurrency))
        assert self.sync_fn is not None
        return self.sync_fn(target, warmup, ids, concurrency)


BASELINE: Final = "b_aiohttp_json"

VARIANTS: Final[tuple[Variant, ...]] = (
    Variant(
        "a_sdk_cancel",
        "(a) threecommas_async cancel()",
        "ThreeCommasClient(rate_limit=None); client.smart_trades.cancel(id) from C worker coroutines",
        async_fn=sdk_cancel,
    ),
    Variant(
        "a_sdk_cancel_many",
        "(a) threecommas_async cancel_many()",
        "ThreeCommasClient(rate_limit=None); one client.smart_trades.cancel_many(ids, concurrency=C)",
        async_fn=sdk_cancel_many,
    ),
    Variant(
        BASELINE,
        "(b) aiohttp + hmac + resp.json()",
        "one aiohttp.ClientSession, hmac.new(...).hexdigest(), await resp.json(), C worker coroutines",
        async_fn=aiohttp_json,
    ),
    Variant(
        "c_aiohttp_msgspec",
        "(c) aiohttp + hmac + msgspec SmartTrade",
        "as (b), body decoded by SMART_TRADE_DECODER.decode(await resp.read())",
        async_fn=aiohttp_msgspec,
    ),
    Variant(
        "d_py3cw",
        "(d) py3cw 0.1.1 (requests, C threads)",
        "Py3CW.request(entity='smart_trades_v2', action='cancel', action_id=str(id)) "
        "from ThreadPoolExecutor(max_workers=C)",
        sync_fn=py3cw_cancel,
        available=py3cw_available,
    ),
    Variant(
        "e_aiohttp_middleware_msgspec",
        "(e) aiohttp + SigningMiddleware + msgspec",
        "as (c), but signed by ClientSession(middlewares=(SigningMiddleware(key, api_secret=secret, "
        "base_url=base_url),)) instead of by hand",
        async_fn=aiohttp_middleware_msgspec,
    ),
)
