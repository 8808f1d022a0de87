"""FakeThreeCommas with several key pairs: fresh keys, per-key counters, the busiest window."""

from __future__ import annotations

import random
from pathlib import Path

import aiohttp
import pytest

from threecommas_async._signing import SigningMiddleware
from threecommas_async.testing import FakeThreeCommas, KeyStats, ManualClock, RateLimitRule, RateLimits
from threecommas_async.testing._traffic import busiest

pytestmark = pytest.mark.integration

RSA_PEM = (Path(__file__).parent / "fixtures" / "rsa_test_private_key.pem").read_text()


def signed(
    server: FakeThreeCommas, api_key: str, secret: str | None = None, pem: str | None = None
) -> aiohttp.ClientSession:
    mw = SigningMiddleware(api_key, api_secret=secret, private_key=pem, base_url=server.base_url)
    return aiohttp.ClientSession(middlewares=(mw,))


async def get(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as resp:
        await resp.read()
        return resp.status


def test_new_key_makes_distinct_hmac_pairs_the_server_accepts() -> None:
    server = FakeThreeCommas()
    a, b = server.new_key(), server.new_key()
    assert len({a[0], b[0], server.api_key}) == 3
    assert a[1] != b[1]
    assert a[1] not in repr(server)
    server.remove_key(a[0])
    server.remove_key(a[0])  # forgetting twice is no error


async def test_each_key_counts_apart_hmac_and_rsa() -> None:
    limits = RateLimits(global_rule=RateLimitRule(2, 60.0, 60.0), list_rule=None, ban_grace=60.0)
    async with FakeThreeCommas(rate_limit=limits) as server:
        hmac_key = server.new_key()
        server.add_key("rsa-key", public_key=RSA_PEM)
        url = f"{server.base_url}/v2/smart_trades"
        async with (
            signed(server, server.api_key, server.api_secret) as first,
            signed(server, *hmac_key) as second,
            signed(server, "rsa-key", pem=RSA_PEM) as third,
        ):
            assert [await get(first, url) for _ in range(3)] == [200, 200, 429]
            assert [await get(second, url) for _ in range(2)] == [200, 200]
            assert [await get(third, url) for _ in range(4)] == [200, 200, 429, 429]
            assert await get(second, url) == 429
        by_key = server.stats.by_key
        assert {k: (s.requests, s.count(200), s.status_429) for k, s in by_key.items()} == {
            server.api_key: (3, 2, 1),
            hmac_key[0]: (3, 2, 1),
            "rsa-key": (4, 2, 2),
        }
        assert server.stats.key("never-seen") == KeyStats()
        server.reset()
        assert server.stats.by_key == {}


async def test_busiest_window_from_known_arrival_times_without_a_record() -> None:
    clock = ManualClock()
    limits = RateLimits(global_rule=RateLimitRule(1000, 1.0, 1.0), list_rule=None)
    async with FakeThreeCommas(rate_limit=limits, clock=clock, record_requests=False) as server:
        other = server.new_key()
        url = f"{server.base_url}/v2/smart_trades"
        mine = [0.0, 0.1, 0.5, 1.0, 1.1, 2.5]
        theirs = [0.2, 0.3, 0.4, 0.45, 0.6]  # a busier key: none of it counts for mine
        arrivals = sorted([(t, "me") for t in mine] + [(t, "them") for t in theirs])
        async with signed(server, server.api_key, server.api_secret) as me, signed(server, *other) as them:
            for t, who in arrivals:
                clock.now = t
                assert await get(me if who == "me" else them, url) == 200
            clock.now = 3.0
            async with aiohttp.ClientSession() as anonymous:
                assert await get(anonymous, url) == 401  # counted too: every arrival is
        assert server.requests == []  # no traffic record, yet the arrivals are known
        # Windows are half-open, (t - period, t]: 0.0 and 1.0 are a whole period apart, never together.
        assert server.busiest_window() == 3  # the global rule's period, 1 s
        assert server.busiest_window(period=1.000001) == 4  # (-0.000001, 1.0]
        assert server.busiest_window(period=0.5) == 2
        assert server.busiest_window(period=2.5) == 5
        assert server.busiest_window(period=2.6) == 6
        assert server.busiest_window(other[0]) == 5
        assert server.busiest_window(other[0], period=0.25) == 3  # (0.35, 0.6], not [0.2, 0.45]
        assert server.busiest_window("never-seen") == 0
        assert server.stats.by_key[None].requests == 1
        server.reset()
        assert server.busiest_window() == 0


def test_busiest_matches_brute_force_on_random_arrivals() -> None:
    rng = random.Random(7)
    for _ in range(200):
        times = [round(rng.uniform(0, 5), rng.choice((1, 2, 6))) for _ in range(rng.randrange(0, 40))]
        period = rng.choice((0.1, 0.5, 1.0, 2.0))
        expected = max(
            (sum(1 for u in times if t - period < u <= t) for t in times),
            default=0,
        )
        assert busiest(times, period) == expected, (times, period)
    with pytest.raises(ValueError, match="period"):
        busiest([1.0], 0)


async def test_an_injected_429_blocks_only_the_key_that_got_it() -> None:
    clock = ManualClock()
    limits = RateLimits(global_rule=RateLimitRule(100, 60.0, 30.0), list_rule=None, ban_grace=1.0)
    async with FakeThreeCommas(rate_limit=limits, clock=clock) as server:
        other = server.new_key()
        url = f"{server.base_url}/v2/smart_trades"
        server.faults.add("rate_limit", times=1)
        async with signed(server, server.api_key, server.api_secret) as me, signed(server, *other) as them:
            assert await get(me, url) == 429  # the injected one
            assert await get(them, url) == 200  # another key: not blocked
            assert await get(me, url) == 429  # within the grace: still blocked
            clock.advance(1.0)
            assert await get(me, url) == 418  # kept sending into its block: the IP is banned ...
            assert await get(them, url) == 418  # ... for every key
        assert server.stats.key(other[0]).count(200) == 1
        assert (server.stats.key(server.api_key).status_429, server.stats.key(server.api_key).status_418) == (
            2,
            1,
        )
