"""The cancel clients under test. Each one opens its session or connection pool and hands back a drive
(see ``_run``) that cancels a batch of ids and counts the cancels that really succeeded: HTTP 200 with
the trade it asked for, now ``cancellation_pending``."""

from __future__ import annotations

import hashlib
import hmac
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from itertools import repeat
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from ._common import PENDING
from ._raw import raw_protocol
from ._run import (
    Drive,
    Loop,
    OpenAsync,
    OpenSync,
    Probe,
    Run,
    SyncDrive,
    Target,
    measure,
    measure_sync,
    pool,
    run_on,
)

if TYPE_CHECKING:
    from threecommas_async import SmartTrade

# -- (a) this SDK ------------------------------------------------------------------------------------------

Cancel = Callable[[int], Awaitable["SmartTrade"]]


async def sdk_cancels(work: Iterator[tuple[Cancel, int]]) -> int:
    """Cancel each id with its client's ``smart_trades.cancel``; how many came back cancelled. One worker
    of a pool: the workers share ``work``."""
    from threecommas_async import ThreeCommasError

    ok = 0
    for cancel, tid in work:
        try:
            trade = await cancel(tid)
        except ThreeCommasError:
            continue
        if trade.id == tid and trade.status is not None and trade.status.type == PENDING:
            ok += 1
    return ok


@asynccontextmanager
async def sdk_cancel(target: Target, concurrency: int) -> AsyncIterator[Drive]:
    """``client.smart_trades.cancel(id)`` from ``concurrency`` worker coroutines, limiter off."""
    from threecommas_async import ThreeCommasClient

    async with ThreeCommasClient(
        target.api_key, target.api_secret, base_url=target.base_url, rate_limit=None
    ) as client:
        cancel = client.smart_trades.cancel

        async def worker(it: Iterator[int]) -> int:
            return await sdk_cancels(zip(repeat(cancel), it))  # zip: C-level, no frame per id

        yield pool(worker, concurrency)


@asynccontextmanager
async def sdk_cancel_many(target: Target, concurrency: int) -> AsyncIterator[Drive]:
    """One ``client.smart_trades.cancel_many(ids, concurrency=C)`` per batch, limiter off."""
    from threecommas_async import ThreeCommasClient

    async with ThreeCommasClient(
        target.api_key, target.api_secret, base_url=target.base_url, rate_limit=None
    ) as client:

        async def drive(batch: Sequence[int]) -> int:
            n = total = squares = 0
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
                    n += 1
                    total += result.id
                    squares += result.id * result.id
            # Exactly the ids given, each once: a duplicate or a stranger in place of an id changes both
            # sums. Checked in constant memory, so that the memory runs measure the SDK and not us.
            exact = total == sum(batch) and squares == sum(i * i for i in batch)
            return n if exact else -1

        yield drive


# -- (b) and (c) hand-written aiohttp ----------------------------------------------------------------------
# Deliberately written out twice rather than sharing a loop with a decode callback: each baseline must be
# the plain code a user would write, with no indirection of ours in its measured path.


@asynccontextmanager
async def aiohttp_json(target: Target, concurrency: int) -> AsyncIterator[Drive]:
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

        yield pool(worker, concurrency)


@asynccontextmanager
async def aiohttp_msgspec(target: Target, concurrency: int) -> AsyncIterator[Drive]:
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

        yield pool(worker, concurrency)


# -- (d) py3cw ---------------------------------------------------------------------------------------------

PY3CW_BASE_PATH: Final = "/public/api"
"""py3cw builds ``API_URL + '/public/api/v2/...'``; the fake serves the same prefix."""


def py3cw_available() -> bool:
    try:
        importlib.import_module("py3cw.request")
    except ImportError:
        return False
    return True


@contextmanager
def py3cw_cancel(target: Target, concurrency: int) -> Iterator[SyncDrive]:
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
        with ThreadPoolExecutor(max_workers=concurrency) as threads:

            def drive(batch: Sequence[int]) -> int:
                it = iter(batch)
                futures = [threads.submit(worker, it) for _ in range(concurrency)]
                return sum(f.result() for f in futures)

            yield drive
    finally:
        client.session.close()


# -- (e) aiohttp + SigningMiddleware ----------------------------------------------------------------------


@asynccontextmanager
async def aiohttp_middleware_msgspec(target: Target, concurrency: int) -> AsyncIterator[Drive]:
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

        yield pool(worker, concurrency)


# -- the table of variants ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Variant:
    key: str
    label: str
    description: str
    open_async: OpenAsync | None = None
    open_sync: OpenSync | None = None
    available: Callable[[], bool] = lambda: True

    @property
    def on_loop(self) -> bool:
        """Runs on an event loop (so on uvloop too, and under a loop probe); py3cw runs in threads."""
        return self.open_async is not None

    def run(
        self,
        target: Target,
        warmup: Sequence[int],
        ids: Sequence[int],
        concurrency: int,
        *,
        loop: Loop = "asyncio",
        probe: Probe | None = None,
    ) -> Run:
        if self.open_async is not None:
            return run_on(loop, measure(self.open_async, target, warmup, ids, concurrency, probe))
        assert self.open_sync is not None
        if loop != "asyncio" or probe is not None:
            raise ValueError(f"{self.key} runs in threads: no event loop to choose or to probe")
        return measure_sync(self.open_sync, target, warmup, ids, concurrency)


BASELINE: Final = "b_aiohttp_json"
FLOOR: Final = "f_raw_protocol"

VARIANTS: Final[tuple[Variant, ...]] = (
    Variant(
        "a_sdk_cancel",
        "(a) threecommas_async cancel()",
        "ThreeCommasClient(rate_limit=None); client.smart_trades.cancel(id) from C worker coroutines",
        open_async=sdk_cancel,
    ),
    Variant(
        "a_sdk_cancel_many",
        "(a) threecommas_async cancel_many()",
        "ThreeCommasClient(rate_limit=None); one client.smart_trades.cancel_many(ids, concurrency=C)",
        open_async=sdk_cancel_many,
    ),
    Variant(
        BASELINE,
        "(b) aiohttp + hmac + resp.json()",
        "one aiohttp.ClientSession, hmac.new(...).hexdigest(), await resp.json(), C worker coroutines",
        open_async=aiohttp_json,
    ),
    Variant(
        "c_aiohttp_msgspec",
        "(c) aiohttp + hmac + msgspec SmartTrade",
        "as (b), body decoded by SMART_TRADE_DECODER.decode(await resp.read())",
        open_async=aiohttp_msgspec,
    ),
    Variant(
        "d_py3cw",
        "(d) py3cw 0.1.1 (requests, C threads)",
        "Py3CW.request(entity='smart_trades_v2', action='cancel', action_id=str(id)) "
        "from ThreadPoolExecutor(max_workers=C)",
        open_sync=py3cw_cancel,
        available=py3cw_available,
    ),
    Variant(
        "e_aiohttp_middleware_msgspec",
        "(e) aiohttp + SigningMiddleware + msgspec",
        "as (c), but signed by ClientSession(middlewares=(SigningMiddleware(key, api_secret=secret, "
        "base_url=base_url),)) instead of by hand",
        open_async=aiohttp_middleware_msgspec,
    ),
    Variant(
        FLOOR,
        "(f) raw asyncio.Protocol + msgspec (floor)",
        "C keep-alive HTTP/1.1 connections on asyncio.Protocol, one request at a time each, hmac by hand, "
        "status line and Content-Length parsed, body decoded by SMART_TRADE_DECODER: the physical floor",
        open_async=raw_protocol,
    ),
)

BY_KEY: Final = {v.key: v for v in VARIANTS}
