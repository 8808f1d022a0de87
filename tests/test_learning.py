"""The allowance used fully, and no more: two clients of one key in one process share it; a client whose
configured rate exceeds the key's plan learns the smaller one from the first cool-down."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from threecommas_async import RateLimit, RetryPolicy, ThreeCommasClient
from threecommas_async._ledger import GLOBAL, GRANTED, WindowSpec
from threecommas_async._storage import open_storage
from threecommas_async.testing import FakeThreeCommas, RateLimitRule, RateLimits

pytestmark = pytest.mark.integration


def episodes(times: Sequence[float], gap: float) -> int:
    """429 answers that came within ``gap`` of each other were one cool-down (requests in flight together)."""
    count, last = 0, float("-inf")
    for t in sorted(times):
        if t - last > gap:
            count += 1
        last = t
    return count


async def test_two_clients_of_one_key_in_one_process_share_one_allowance() -> None:
    limits = RateLimits(global_rule=RateLimitRule(20, 0.1, 2.0), list_rule=None, ban_grace=0.0)
    async with FakeThreeCommas(rate_limit=limits, cancel_delay=None) as server:
        ids = server.seed_trades(400)
        limit = server.client_rate_limit(reserve=0)
        assert limit is not None and limit.max_rate == 20
        a, b = server.client(rate_limit=limit), server.client(rate_limit=limit)
        async with a, b:

            async def drive(client: ThreeCommasClient, share: list[int]) -> None:
                await asyncio.gather(*(client.smart_trades.get(id) for id in share))

            await asyncio.gather(drive(a, ids[::2]), drive(b, ids[1::2]))
    assert server.stats.status_429 == 0 and server.stats.status_418 == 0
    assert server.busiest_window(period=0.1) <= 20


@pytest.mark.parametrize("kind", ["memory", "redis"])  # the rules in Python (memory, SQLite) and in Lua
async def test_a_smaller_plan_is_learned_from_the_first_cool_down(kind: str, redis_url: str) -> None:
    """The server allows 10 per window, the client is configured for 20: after the first cool-down it
    settles below the plan, meeting one more cool-down only each time the learned plan expires."""
    period, block = 0.05, 0.1
    limits = RateLimits(global_rule=RateLimitRule(10, period, block), list_rule=None, ban_grace=0.05)
    async with FakeThreeCommas(rate_limit=limits, cancel_delay=None) as server:
        ids = server.seed_trades(600)
        configured = RateLimit(
            max_rate=20,
            time_period=period,
            cooldown=block,
            endpoints={},
            reserve=0,
            max_wait=5.0,
            storage=redis_url if kind == "redis" else f"memory://plan-{id(server)}",
        )
        retry = RetryPolicy(max_attempts=5, backoff_base=0.001, backoff_max=0.002)
        async with server.client(rate_limit=configured, retry=retry) as client:
            # Connections and scripts opened first: the first burst's answers come within a (scaled) window.
            await client.warm_up(20)
            loop = asyncio.get_running_loop()
            started = loop.time()
            for chunk in range(0, 600, 20):
                await asyncio.gather(*(client.smart_trades.get(id) for id in ids[chunk : chunk + 20]))
            elapsed = loop.time() - started
        refused = [r.time for r in server.requests if r.status == 429]
    assert server.stats.status_418 == 0
    assert elapsed >= 60 * period  # 600 requests at 10 a window: at least 60 windows
    # The first cool-down, then one re-probe each time the learned plan expires (60 windows): no more.
    assert episodes(refused, gap=block) <= 1 + int(elapsed / (60 * period)), refused


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
async def test_an_episode_whose_429s_are_read_before_its_passes_is_learned_once_they_are(
    kind: str, redis_url: str, tmp_path: Path
) -> None:
    """20 sent at once, 10 let through: on a loaded machine all ten 429s may be read before any pass.
    The first proves little; a 429 of the same burst read after the passes teaches the plan."""
    url = {
        "memory": f"memory://order-{id(tmp_path)}",
        "sqlite": f"sqlite:///{tmp_path}/l.db",
        "redis": redis_url,
    }
    storage = open_storage(url[kind])
    spec = (WindowSpec(GLOBAL, 20, 60.0, 2.0),)
    now = asyncio.get_running_loop().time()
    decisions = [await storage.acquire("key", spec, now, 30.0, 0.0, 5.0) for _ in range(20)]
    assert {d.kind for d in decisions} == {GRANTED}
    tokens = [d.token for d in decisions]
    for token in tokens[10:]:
        storage.release("key", spec, token, now, passed=False)
    assert (await storage.cool_down("key", spec, None, now, 60.0, 5.0))[1] == 0
    for token in tokens[:10]:
        storage.release("key", spec, token, now, passed=True)
    assert (await storage.cool_down("key", spec, None, now, 60.0, 5.0))[1] == 10
