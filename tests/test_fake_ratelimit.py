"""FakeThreeCommas rate limits: 429 with a block, 418 bans for clients that keep sending, counters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from threecommas_async._signing import SigningMiddleware
from threecommas_async.testing import FakeThreeCommas, RateLimitRule, RateLimits
from threecommas_async.testing._ratelimit import RateLimiter


@pytest.fixture
async def client(fake_3commas: FakeThreeCommas) -> AsyncIterator[aiohttp.ClientSession]:
    mw = SigningMiddleware(
        fake_3commas.api_key, api_secret=fake_3commas.api_secret, base_url=fake_3commas.base_url
    )
    async with aiohttp.ClientSession(middlewares=(mw,)) as session:
        yield session


async def statuses(session: aiohttp.ClientSession, url: str, n: int, method: str = "GET") -> list[int]:
    out = []
    for _ in range(n):
        async with session.request(method, url) as resp:
            await resp.read()
            out.append(resp.status)
    return out


@pytest.mark.fake_3commas(
    rate_limit=RateLimits(global_rule=RateLimitRule(3, 10.0, 10.0), list_rule=None, ban=5.0), cancel_delay=0
)
async def test_429_then_418_and_counters(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    tid = fake_3commas.add_trade()
    url = f"{fake_3commas.base_url}/v2/smart_trades/{tid}"
    assert await statuses(client, url, 3) == [200, 200, 200]

    async with client.delete(url) as resp:
        assert resp.status == 429
        assert "Retry-After" not in resp.headers  # 3Commas documents none; opt in with retry_after=True
        assert (await resp.json())["error"] == "rate_limit_exceeded"
    async with client.delete(url) as resp:
        assert resp.status == 418
        assert resp.headers["Retry-After"] == "5"
        assert (await resp.json())["error"] == "ip_banned"
    assert await statuses(client, url, 2) == [418, 418]

    assert fake_3commas.trade_status(tid) == "waiting_targets"  # refused DELETEs changed nothing
    assert fake_3commas.stats.status_429 == 1
    assert fake_3commas.stats.status_418 == 3
    assert fake_3commas.stats.requests == 7
    assert fake_3commas.stats.by_route == {"get": 5, "cancel": 2}
    assert [r.status for r in fake_3commas.requests] == [200, 200, 200, 429, 418, 418, 418]


@pytest.mark.fake_3commas(
    rate_limit=RateLimits(global_rule=RateLimitRule(2, 0.05, 0.1), list_rule=None, retry_after=True)
)
async def test_waiting_out_the_block_is_not_banned(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    url = f"{fake_3commas.base_url}/v2/smart_trades"
    assert await statuses(client, url, 3) == [200, 200, 429]
    assert fake_3commas.requests[-1].status == 429
    await asyncio.sleep(0.12)
    assert await statuses(client, url, 1) == [200]
    assert fake_3commas.stats.status_418 == 0


@pytest.mark.fake_3commas(rate_limit=RateLimits(global_rule=RateLimitRule(1, 10.0, 7.5), retry_after=True))
async def test_retry_after_on_429_when_enabled(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    url = f"{fake_3commas.base_url}/v2/smart_trades/1"
    await statuses(client, url, 1)
    async with client.get(url) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "8"  # whole seconds, rounded up


@pytest.mark.fake_3commas(rate_limit=RateLimits(global_rule=None, list_rule=RateLimitRule(2, 10.0, 10.0)))
async def test_list_rule_blocks_only_the_list(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    tid = fake_3commas.add_trade()
    list_url = f"{fake_3commas.base_url}/v2/smart_trades"
    assert await statuses(client, list_url, 3) == [200, 200, 429]
    assert await statuses(client, f"{list_url}/{tid}", 2) == [200, 200]
    assert await statuses(client, list_url, 1) == [418]
    # A 418 is a ban of the whole identity, not just of the list.
    assert await statuses(client, f"{list_url}/{tid}", 1) == [418]


@pytest.mark.fake_3commas(rate_limit=RateLimits(global_rule=RateLimitRule(1, 10.0, 10.0), list_rule=None))
async def test_limits_are_per_api_key(fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession) -> None:
    fake_3commas.add_key("second", secret="second-secret")
    url = f"{fake_3commas.base_url}/v2/smart_trades"
    assert await statuses(client, url, 2) == [200, 429]
    mw = SigningMiddleware("second", api_secret="second-secret", base_url=fake_3commas.base_url)
    async with aiohttp.ClientSession(middlewares=(mw,)) as other:
        assert await statuses(other, url, 1) == [200]


async def test_documented_defaults_429_on_the_101st_request(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    assert fake_3commas.rate_limit == RateLimits()
    url = f"{fake_3commas.base_url}/v2/smart_trades/1"  # unknown id: 404s count too
    got = await statuses(client, url, 101)
    assert got[:100] == [404] * 100
    assert got[100] == 429


@pytest.mark.fake_3commas(rate_limit=None)
async def test_rate_limit_none_disables_limiting(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    got = await statuses(client, f"{fake_3commas.base_url}/v2/smart_trades", 45)
    assert set(got) == {200}


async def test_rate_limit_can_be_replaced_at_runtime(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    fake_3commas.rate_limit = RateLimits(global_rule=RateLimitRule(1, 10.0, 10.0), list_rule=None)
    url = f"{fake_3commas.base_url}/v2/smart_trades"
    assert await statuses(client, url, 2) == [200, 429]
    fake_3commas.rate_limit = None
    assert await statuses(client, url, 2) == [200, 200]


def test_scaled_limits() -> None:
    fast = RateLimits.scaled(120)
    assert fast.global_rule == RateLimitRule(100, 0.5, 2.5)
    assert fast.list_rule == RateLimitRule(40, 10 / 120, 10 / 120)
    assert fast.ban == 1.0
    assert RateLimits.scaled(120, retry_after=True).retry_after is True
    with pytest.raises(ValueError, match="speedup"):
        RateLimits.scaled(0)
    with pytest.raises(ValueError, match="max_requests"):
        RateLimitRule(0, 1.0, 1.0)


def test_sliding_window_counts_any_window() -> None:
    limiter = RateLimiter(RateLimits(global_rule=RateLimitRule(2, 1.0, 5.0), list_rule=None))
    # At 1.3 the window (0.3, 1.3] already holds 0.8 and 1.1: refused, although no fixed window of
    # 1 s starting at the first request holds more than 2.
    assert [limiter.check("k", False, t)[0] for t in (0.0, 0.8, 1.1)] == [0, 0, 0]
    assert limiter.check("k", False, 1.3) == (429, 5.0)


def test_fixed_window_resets_at_the_window_edge() -> None:
    limits = RateLimits(global_rule=RateLimitRule(2, 1.0, 5.0), list_rule=None, algorithm="fixed")
    limiter = RateLimiter(limits)
    assert [limiter.check("k", False, t)[0] for t in (0.0, 0.8, 1.1, 1.3, 1.4)] == [0, 0, 0, 0, 429]


def test_bans_grow_and_are_capped() -> None:
    limits = RateLimits(
        global_rule=RateLimitRule(1, 1.0, 100.0), list_rule=None, ban=2.0, ban_growth=3.0, max_ban=10.0
    )
    limiter = RateLimiter(limits)
    assert limiter.check("k", False, 0.0)[0] == 0
    assert limiter.check("k", False, 0.1) == (429, 100.0)
    assert limiter.check("k", False, 0.2) == (418, 2.0)  # first ban
    code, left = limiter.check("k", False, 1.2)  # during the ban: 418 with what is left of it
    assert code == 418 and left == pytest.approx(1.0)
    assert limiter.check("k", False, 2.3) == (418, 6.0)  # still blocked after the ban: a longer one
    assert limiter.check("k", False, 8.4) == (418, 10.0)  # capped at max_ban
    limiter.reset()
    assert limiter.check("k", False, 9.0)[0] == 0
