"""One 3Commas allowance for every process: real child processes sharing a SQLite file or a real Redis,
against the fake server enforcing the limit exactly, measured on the server's side."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import aiohttp
import pytest

from threecommas_async import (
    IPBannedError,
    RateLimit,
    RateLimitError,
    RateLimitStorageError,
    SigningMiddleware,
    ThreeCommasClient,
)
from threecommas_async.testing import FakeThreeCommas, RateLimitRule, RateLimits

from . import _children
from ._children import Job, Outcome
from .conftest import RedisProcess

pytestmark = pytest.mark.e2e

MAX_RATE = 100
PERIOD = 0.25
BLOCK = 300.0  # a 429 would stop the test: the point is that none comes


def busiest_window(times: Sequence[float], period: float) -> int:
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while t - times[start] >= period:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.fixture
async def server() -> AsyncIterator[FakeThreeCommas]:
    limits = RateLimits(global_rule=RateLimitRule(MAX_RATE, PERIOD, BLOCK), list_rule=None, ban_grace=0.0)
    async with FakeThreeCommas(rate_limit=limits, cancel_delay=None) as fake:
        yield fake


async def run_processes(jobs: list[Job], start: str = "spawn") -> list[Outcome]:
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(len(jobs), mp_context=multiprocessing.get_context(start)) as pool:
        return list(await asyncio.gather(*(loop.run_in_executor(pool, _children.run, job) for job in jobs)))


def jobs_for(server: FakeThreeCommas, storage: str, n: int = 4, per: int = 300) -> list[Job]:
    ids = server.seed_trades(n * per)
    key, secret, url = server.api_key, server.api_secret, server.base_url
    return [Job(url, key, secret, storage, ids[i * per : (i + 1) * per], MAX_RATE, PERIOD) for i in range(n)]


def storage_url(kind: str, tmp_path: Path, redis_url: str) -> str:
    return f"sqlite:///{tmp_path}/limits.db" if kind == "sqlite" else redis_url


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_four_processes_share_one_allowance(
    server: FakeThreeCommas, kind: str, tmp_path: Path, redis_url: str
) -> None:
    outcomes = await run_processes(jobs_for(server, storage_url(kind, tmp_path, redis_url)))
    assert [o.done for o in outcomes] == [300] * 4, outcomes
    assert server.stats.status_429 == 0 and server.stats.status_418 == 0
    arrivals = [r.time for r in server.requests if r.route == "get"]
    assert len(arrivals) == 1200
    # Never over the limit, and used up to it: reads leave the 5 % reserve to cancels (95 measured).
    assert MAX_RATE * 0.95 - 5 <= busiest_window(arrivals, PERIOD) <= MAX_RATE
    # ... and the allowance is used: 1,200 requests at 100 per 0.25 s span 11 windows at least
    assert max(arrivals) - min(arrivals) < 12 * PERIOD * 3


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_processes_forked_after_the_import_share_the_allowance_too(
    server: FakeThreeCommas, kind: str, tmp_path: Path, redis_url: str
) -> None:
    """gunicorn --preload, Celery prefork, a fork pool: children of one parent that imported the SDK
    must still hold slots of their own in the shared windows (they once drew the same slot ids)."""
    jobs = jobs_for(server, storage_url(kind, tmp_path, redis_url), per=150)
    outcomes = await run_processes(jobs, start="fork")
    assert [o.done for o in outcomes] == [150] * 4, outcomes
    assert server.stats.status_429 == 0 and server.stats.status_418 == 0
    assert busiest_window([r.time for r in server.requests if r.route == "get"], PERIOD) <= MAX_RATE


def test_a_forked_child_draws_its_own_slot_ids_and_its_own_sqlite_connection(tmp_path: Path) -> None:
    from threecommas_async._ledger import GLOBAL, WindowSpec
    from threecommas_async._storage import new_token, open_storage

    url = f"sqlite:///{tmp_path}/limits.db"
    spec = (WindowSpec(GLOBAL, 10, 60.0, 300.0),)
    storage = open_storage(url)
    first = asyncio.run(storage.acquire("key", spec, 0.0, 30.0, 0.0, 5.0))  # the parent's connection
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next slot id and a grant through the inherited storage object
        try:
            granted = asyncio.run(storage.acquire("key", spec, 0.0, 30.0, 0.0, 5.0))
            os.write(write, f"{new_token()} {granted.kind} {open_storage(url) is storage}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    token, kind, same = os.read(read, 200).decode().split()
    os.close(read)
    assert int(token) >> 32 != new_token() >> 32  # another salt: its slots never merge with the parent's
    assert kind == "granted" and same == "False"  # a connection of its own; the registry starts afresh
    again = asyncio.run(storage.acquire("key", spec, 0.0, 30.0, 0.0, 5.0))
    assert again.kind == "granted" and len({first.token, again.token}) == 2  # the parent's still works


async def test_a_host_with_its_clock_two_seconds_off_changes_nothing_on_redis(
    server: FakeThreeCommas, redis_url: str
) -> None:
    jobs = jobs_for(server, redis_url, n=3, per=150)
    jobs[0].clock_shift = 2.0
    jobs[1].clock_shift = -2.0
    outcomes = await run_processes(jobs)
    assert [o.done for o in outcomes] == [150] * 3
    assert server.stats.status_429 == 0
    assert busiest_window([r.time for r in server.requests], PERIOD) <= MAX_RATE


def one_get(server: FakeThreeCommas, url: str, id: int) -> Job:
    return Job(
        server.base_url, server.api_key, server.api_secret, url, [id], 100, 60.0, retry=False, max_wait=0.5
    )


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_a_429_in_one_process_pauses_the_others(
    server: FakeThreeCommas, kind: str, tmp_path: Path, redis_url: str
) -> None:
    url = storage_url(kind, tmp_path, redis_url)
    (id,) = server.seed_trades(1)
    server.faults.add("rate_limit", route="get", times=1, retry_after=30)
    limit = RateLimit(storage=url, max_wait=0.5, endpoints={})
    async with ThreeCommasClient(
        server.api_key, server.api_secret, base_url=server.base_url, rate_limit=limit
    ) as client:
        with pytest.raises(RateLimitError):
            await client.smart_trades.get(id)
    (outcome,) = await run_processes([one_get(server, url, id)])
    assert outcome.errors == {"RateLimitError": 1}  # refused before it sent anything
    assert server.stats.requests == 1


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_a_418_in_one_process_stops_every_key_in_the_others(
    server: FakeThreeCommas, kind: str, tmp_path: Path, redis_url: str
) -> None:
    url = storage_url(kind, tmp_path, redis_url)
    (id,) = server.seed_trades(1)
    other = ("other-key", "other-secret")
    server.add_key(other[0], secret=other[1])
    # Someone else on this IP (a script without limiter) keeps sending into a block: the IP is banned.
    server.rate_limit = RateLimits(global_rule=RateLimitRule(1, 60.0, 60.0), list_rule=None, ban_grace=0.0)
    signing = SigningMiddleware(server.api_key, api_secret=server.api_secret, base_url=server.base_url)
    async with aiohttp.ClientSession(middlewares=(signing,)) as raw:
        statuses = []
        for _ in range(3):
            async with raw.get(f"{server.base_url}/v2/smart_trades/{id}") as resp:
                statuses.append(resp.status)
    assert statuses == [200, 429, 418]
    limit = RateLimit(storage=url, endpoints={})
    async with ThreeCommasClient(*other, base_url=server.base_url, rate_limit=limit, retry=None) as client:
        with pytest.raises(IPBannedError):
            await client.smart_trades.get(id)
    sent = server.stats.requests
    (outcome,) = await run_processes([one_get(server, url, id)])  # the first key, another process
    assert outcome.errors == {"IPBannedError": 1}
    assert server.stats.requests == sent  # the ban was learned through the storage, not by asking


async def test_redis_going_away_fails_closed_and_recovers(server: FakeThreeCommas, tmp_path: Path) -> None:
    redis = RedisProcess(tmp_path)
    redis.start()
    try:
        limit = RateLimit(storage=redis.url, storage_timeout=0.5, endpoints={})
        ids = server.seed_trades(3)
        async with ThreeCommasClient(
            server.api_key, server.api_secret, base_url=server.base_url, rate_limit=limit
        ) as client:
            await client.smart_trades.get(ids[0])
            redis.kill()
            with pytest.raises(RateLimitStorageError) as info:
                await client.smart_trades.get(ids[1])
            assert info.value.storage == redis.url
            assert server.stats.requests == 1  # nothing went out unlimited
            redis.start()
            await client.smart_trades.get(ids[2])
        assert server.stats.requests == 2
    finally:
        redis.stop()


async def test_fallback_local_limits_alone_while_the_storage_is_away(
    server: FakeThreeCommas, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    redis = RedisProcess(tmp_path)  # never started: unreachable from the start
    limit = RateLimit(
        max_rate=8,
        time_period=60.0,
        storage=redis.url,
        storage_timeout=0.2,
        endpoints={},
        fallback="local",
        expected_processes=4,
    )
    ids = server.seed_trades(3)
    async with ThreeCommasClient(
        server.api_key, server.api_secret, base_url=server.base_url, rate_limit=limit
    ) as client:
        await client.smart_trades.get(ids[0])
        await client.smart_trades.get(ids[1])
        third = asyncio.create_task(client.smart_trades.get(ids[2]))
        await asyncio.sleep(0.5)
        assert not third.done()  # 8 / 4 = 2 per window while alone
        third.cancel()
    assert server.stats.requests == 2
    assert caplog.text.count("limiting this process alone to 1/4") == 1


async def test_warm_up_opens_the_storage_without_sending_and_never_raises_for_it(
    server: FakeThreeCommas, tmp_path: Path, redis_url: str
) -> None:
    """The first burst of a panic finds the SQLite file open and Redis holding the scripts; a storage out
    of reach is left for the requests to report."""
    import redis.asyncio

    from threecommas_async._storage_redis import _ACQUIRE, _BAN, _COOL_DOWN, _RELEASE

    probe = redis.asyncio.Redis.from_url(redis_url)
    try:
        await probe.script_flush()
        database = tmp_path / "state" / "limits.db"
        for url in (f"sqlite:///{database}", redis_url, "redis://127.0.0.1:1/0"):
            limit = RateLimit(storage=url, storage_timeout=0.3, endpoints={})
            async with server.client(rate_limit=limit) as client:
                assert await client.warm_up(2) == 2
        assert database.exists()
        shas = [probe.register_script(s).sha for s in (_ACQUIRE, _RELEASE, _COOL_DOWN, _BAN)]
        assert await probe.script_exists(*shas) == [True] * 4
        assert server.stats.requests == 0
    finally:
        await probe.aclose()


async def test_redis_releases_riding_on_the_next_acquire_end_their_slots_and_count_their_passes(
    redis_url: str,
) -> None:
    """A caller that acquires right after a release pays one round trip for both: the release still
    ends its slot at its answer (the wait is exact, not a lease's) and a pass still counts as one."""
    import redis.asyncio

    from threecommas_async._ledger import GLOBAL, WINDOW, WindowSpec
    from threecommas_async._storage_redis import TAG, RedisStorage

    storage = RedisStorage(redis_url)
    specs = (WindowSpec(GLOBAL, 3, 30.0, 300.0),)
    key = f"ride-{os.getpid()}"
    probe = redis.asyncio.Redis.from_url(redis_url)
    await storage.warm_up(5.0)
    await probe.config_resetstat()
    for passed in (True, True, False):
        decision = await storage.acquire(key, specs, 0.0, 600.0, 0.0, 5.0)
        assert decision.kind == "granted"
        storage.release(key, specs, decision.token, 0.0, passed)
    assert storage._pending  # the last release waits for the next round trip ...
    full = await storage.acquire(key, specs, 0.0, 600.0, 0.0, 5.0)
    assert not storage._pending  # ... and went with it
    assert full.kind == WINDOW and full.exact and 29.0 < full.wait <= 30.0  # ended at its answer
    try:
        stats = await probe.info("commandstats")
        assert stats["cmdstat_evalsha"]["calls"] == 4  # four acquires, no release of its own
        members = await probe.zrange(f"{TAG}:p:{key}:{GLOBAL}", 0, -1)
        assert sorted(m[:1] for m in members) == [b"p", b"p"]  # two passes; the refused one is none
    finally:
        await probe.aclose()


async def test_a_release_riding_on_an_acquire_that_fails_is_kept_for_the_next(redis_url: str) -> None:
    """Redis refuses scripts for a moment: the acquire carrying three releases fails closed, and the
    releases are sent later instead of leaving the slots held for their whole lease (a lost minute)."""
    import redis.asyncio

    from threecommas_async._ledger import GLOBAL, WindowSpec
    from threecommas_async._storage_redis import RedisStorage

    storage = RedisStorage(redis_url)
    specs = (WindowSpec(GLOBAL, 3, 0.2, 300.0),)
    probe = redis.asyncio.Redis.from_url(redis_url)
    try:
        await storage.warm_up(5.0)
        tokens = [(await storage.acquire("lost", specs, 0.0, 60.0, 0.0, 5.0)).token for _ in range(3)]
        await probe.acl_setuser("default", enabled=True, commands=["-evalsha"])
        try:
            for token in tokens:
                storage.release("lost", specs, token, 0.0, True)
            with pytest.raises(RateLimitStorageError):
                await storage.acquire("lost", specs, 0.0, 60.0, 0.0, 0.2)
        finally:
            await probe.acl_setuser("default", enabled=True, commands=["+evalsha"])
        await asyncio.sleep(0.5)  # the releases' own flush, then their windows' end
        assert (await storage.acquire("lost", specs, 0.0, 60.0, 0.0, 5.0)).kind == "granted"
    finally:
        await probe.aclose()


def test_a_loop_that_ends_right_after_a_release_does_not_stop_the_next_loops_flushes(redis_url: str) -> None:
    """``asyncio.run`` of a job whose last step is a release (a Celery task, a script): the next run of
    the same process-wide storage still writes its releases in the background."""
    import redis.asyncio

    from threecommas_async._ledger import GLOBAL, WindowSpec
    from threecommas_async._storage_redis import TAG, RedisStorage

    storage = RedisStorage(redis_url)
    specs = (WindowSpec(GLOBAL, 3, 30.0, 300.0),)

    async def job(key: str, then: float) -> list[bytes]:
        decision = await storage.acquire(key, specs, 0.0, 60.0, 0.0, 5.0)
        storage.release(key, specs, decision.token, 0.0, True)
        if not then:
            return []
        await asyncio.sleep(then)
        probe = redis.asyncio.Redis.from_url(redis_url)
        try:
            members = await probe.zrange(f"{TAG}:w:{key}:{GLOBAL}", 0, -1)
            return [m for m in members if isinstance(m, bytes)]
        finally:
            await probe.aclose()

    asyncio.run(job("first", 0.0))
    members = asyncio.run(job("second", 0.3))
    assert [m[:1] for m in members] == [b"d"]  # answered, not a lease still in flight


async def test_the_redis_set_of_grants_stays_as_small_as_a_window(redis_url: str) -> None:
    import redis.asyncio

    from threecommas_async._ledger import GLOBAL, WindowSpec
    from threecommas_async._storage_redis import TAG, RedisStorage

    storage = RedisStorage(redis_url)
    specs = (WindowSpec(GLOBAL, 1000, 0.02, 1.0),)
    for _ in range(300):
        decision = await storage.acquire("grow", specs, 0.0, 0.5, 0.0, 5.0)
        storage.release("grow", specs, decision.token, 0.0, True)
        await asyncio.sleep(0.001)
    probe = redis.asyncio.Redis.from_url(redis_url)
    try:
        held = await probe.zcard(f"{TAG}:p:grow:{GLOBAL}")
    finally:
        await probe.aclose()
    assert held < 100  # 300 acquired over > 0.3 s, a window of 0.02 s: only the recent ones stay
