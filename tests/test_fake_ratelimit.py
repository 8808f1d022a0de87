"""FakeThreeCommas rate limits: 429 with a block, 418 bans for clients that keep sending, counters.

Time is the server's ManualClock: blocks, graces and bans pass with ``advance()``, never a sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from threecommas_async._signing import SigningMiddleware
from threecommas_async.testing import FakeThreeCommas, ManualClock, RateLimitRule, RateLimits
from threecommas_async.testing._ratelimit import RateLimiter

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(fake_3commas: FakeThreeCommas) -> AsyncIterator[aiohttp.ClientSession]:
    mw = SigningMiddleware(
        fake_3commas.api_key, api_secret=fake_3commas.api_secret, base_url=fake_3commas.base_url
    )
    async with aiohttp.ClientSession(middlewares=(mw,)) as session:
        yield session


def manual(server: FakeThreeCommas) -> ManualClock:
    clock = server.clock
    assert isinstance(clock, ManualClock)
    return clock


def session_for(server: FakeThreeCommas, key: tuple[str, str]) -> aiohttp.ClientSession:
    """A session signing with ``key`` (api_key, api_secret), from the same IP as every other."""
    mw = SigningMiddleware(key[0], api_secret=key[1], base_url=server.base_url)
    return aiohttp.ClientSession(middlewares=(mw,))


async def statuses(session: aiohttp.ClientSession, url: str, n: int, method: str = "GET") -> list[int]:
    out = []
    for _ in range(n):
        async with session.request(method, url) as resp:
            await resp.read()
            out.append(resp.status)
    return out


@pytest.mark.fake_3commas(
    rate_limit=RateLimits(global_rule=RateLimitRule(3, 10.0, 10.0), list_rule=None, ban=5.0, ban_grace=0),
    cancel_delay=0,
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
    mine = fake_3commas.stats.by_key[fake_3commas.api_key]
    assert (mine.requests, mine.status_429, mine.status_418, mine.count(200)) == (7, 1, 3, 3)


@pytest.mark.fake_3commas(
    rate_limit=RateLimits(global_rule=RateLimitRule(2, 0.05, 0.1), list_rule=None, retry_after=True),
    clock=ManualClock(),
)
async def test_waiting_out_the_block_is_not_banned(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    url = f"{fake_3commas.base_url}/v2/smart_trades"
    assert await statuses(client, url, 3) == [200, 200, 429]
    assert fake_3commas.requests[-1].status == 429
    manual(fake_3commas).advance(0.0999)
    assert await statuses(client, url, 1) == [429]  # within the grace: in flight, not banned
    manual(fake_3commas).advance(0.0002)
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


@pytest.mark.fake_3commas(
    rate_limit=RateLimits(global_rule=None, list_rule=RateLimitRule(2, 10.0, 10.0), ban_grace=0)
)
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


@pytest.mark.fake_3commas(
    rate_limit=RateLimits(global_rule=RateLimitRule(2, 10.0, 10.0), list_rule=RateLimitRule(1, 10.0, 10.0))
)
async def test_two_keys_from_one_ip_each_get_their_own_window_by_default(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    assert fake_3commas.rate_limit is not None and fake_3commas.rate_limit.key_by == "api_key"
    second = fake_3commas.new_key()
    tid = fake_3commas.add_trade()
    url = f"{fake_3commas.base_url}/v2/smart_trades"
    async with session_for(fake_3commas, second) as other:
        assert await statuses(client, url, 2) == [200, 429]  # the list rule: 1 per 10 s
        assert await statuses(other, url, 1) == [200]  # the other key's list window is its own
        assert await statuses(other, f"{url}/{tid}", 2) == [200, 429]  # and so is its global one
        assert await statuses(client, f"{url}/{tid}", 1) == [200]  # the first key is not blocked
    by_key = fake_3commas.stats.by_key
    assert (by_key[fake_3commas.api_key].status_429, by_key[second[0]].status_429) == (1, 1)
    assert fake_3commas.stats.status_418 == 0


@pytest.mark.fake_3commas(
    rate_limit=RateLimits(global_rule=RateLimitRule(1, 10.0, 10.0), list_rule=None, ban_grace=0)
)
async def test_a_ban_earned_by_one_key_refuses_every_key_of_that_ip(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    second = fake_3commas.new_key()
    url = f"{fake_3commas.base_url}/v2/smart_trades"
    assert await statuses(client, url, 3) == [200, 429, 418]  # key A keeps sending into its block
    async with session_for(fake_3commas, second) as other:
        assert await statuses(other, url, 1) == [418]  # key B never sent before: banned all the same
    async with aiohttp.ClientSession() as anonymous:
        assert await statuses(anonymous, url, 1) == [418]  # and so is a request without a key
    assert fake_3commas.stats.by_key[second[0]].status_418 == 1
    assert fake_3commas.stats.by_key[None].status_418 == 1


@pytest.mark.fake_3commas(
    rate_limit=RateLimits(global_rule=RateLimitRule(1, 10.0, 10.0), list_rule=None, ban_grace=10.0)
)
async def test_requests_without_a_known_key_are_counted_per_ip(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    url = f"{fake_3commas.base_url}/v2/smart_trades"
    async with aiohttp.ClientSession() as anonymous:
        assert await statuses(anonymous, url, 1) == [401]  # admitted, then refused as unsigned
        async with anonymous.get(url, headers={"Apikey": "nobody-knows-me"}) as resp:
            assert resp.status == 429  # an unknown key shares the IP's window with no key at all
    assert await statuses(client, url, 1) == [200]  # a known key has its own window
    fake_3commas.remove_key(fake_3commas.api_key)
    assert await statuses(client, url, 1) == [429]  # ... until the server forgets it


@pytest.mark.fake_3commas(
    rate_limit=RateLimits(global_rule=RateLimitRule(1, 10.0, 10.0), list_rule=None, ban_grace=0, key_by="ip")
)
async def test_key_by_ip_shares_windows_blocks_and_bans_between_the_keys_of_an_ip(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    fake_3commas.add_key("second", secret="second-secret")
    url = f"{fake_3commas.base_url}/v2/smart_trades"
    async with session_for(fake_3commas, ("second", "second-secret")) as other:
        assert await statuses(client, url, 1) == [200]
        assert await statuses(other, url, 1) == [429]  # the other key, the same IP: over the limit
        assert await statuses(other, url, 1) == [418]  # ... and sending on while blocked bans the IP
        assert await statuses(client, url, 1) == [418]  # for every key
    # Unsigned requests (no key at all) from that address are refused too.
    async with aiohttp.ClientSession() as anonymous:
        assert await statuses(anonymous, url, 1) == [418]


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
    # The grace covers network and client delays, which do not shrink with the speedup: a floor.
    assert fast.ban_grace == 0.1
    assert RateLimits.scaled(2).ban_grace == 0.5
    assert fast.key_by == "api_key"
    assert RateLimits.scaled(120, retry_after=True).retry_after is True
    with pytest.raises(ValueError, match="speedup"):
        RateLimits.scaled(0)
    with pytest.raises(ValueError, match="max_requests"):
        RateLimitRule(0, 1.0, 1.0)


def check(
    limiter: RateLimiter, now: float, identity: str = "k", ip: str = "ip"
) -> tuple[int, float, float | None]:
    """One non-list request of ``identity`` from ``ip`` at ``now``."""
    return limiter.check(identity, ip, False, now)


def test_sliding_window_counts_any_window() -> None:
    limiter = RateLimiter(RateLimits(global_rule=RateLimitRule(2, 1.0, 5.0), list_rule=None))
    # At 1.3 the window (0.3, 1.3] already holds 0.8 and 1.1: refused, although no fixed window of
    # 1 s starting at the first request holds more than 2.
    assert [check(limiter, t)[0] for t in (0.0, 0.8, 1.1)] == [0, 0, 0]
    assert check(limiter, 1.3) == (429, 5.0, None)


def test_fixed_window_resets_at_the_window_edge() -> None:
    limits = RateLimits(global_rule=RateLimitRule(2, 1.0, 5.0), list_rule=None, algorithm="fixed")
    limiter = RateLimiter(limits)
    assert [check(limiter, t)[0] for t in (0.0, 0.8, 1.1, 1.3, 1.4)] == [0, 0, 0, 0, 429]


def test_windows_and_blocks_per_identity_bans_per_ip() -> None:
    limiter = RateLimiter(RateLimits(global_rule=RateLimitRule(1, 10.0, 5.0), list_rule=None, ban_grace=0))
    assert check(limiter, 0.0, "a")[0] == 0
    assert check(limiter, 0.1, "b")[0] == 0  # its own window
    assert check(limiter, 0.2, "a")[0] == 429  # a's block does not touch b
    assert check(limiter, 0.3, "b")[0] == 429
    assert check(limiter, 0.4, "c", ip="elsewhere")[0] == 0
    assert check(limiter, 0.5, "a") == (418, 120.0, 120.0)  # a keeps sending: its IP is banned
    assert check(limiter, 0.6, "c")[0] == 418  # c, never blocked, from that IP: banned too
    assert check(limiter, 0.7, "d", ip="elsewhere")[0] == 0  # another IP is not


def test_bans_grow_and_are_capped() -> None:
    limits = RateLimits(
        global_rule=RateLimitRule(1, 1.0, 100.0),
        list_rule=None,
        ban=2.0,
        ban_growth=3.0,
        max_ban=10.0,
        ban_grace=0.05,
    )
    limiter = RateLimiter(limits)
    assert check(limiter, 0.0)[0] == 0
    assert check(limiter, 0.1) == (429, 100.0, None)
    assert check(limiter, 0.2) == (418, 2.0, 2.0)  # first ban
    code, left, header = check(limiter, 1.2)  # during the ban: 418 with what is left of it
    assert code == 418 and left == pytest.approx(1.0) and header == left
    assert check(limiter, 2.3) == (418, 6.0, 6.0)  # still blocked after the ban: a longer one
    assert check(limiter, 8.4) == (418, 10.0, 10.0)  # capped at max_ban
    limiter.reset()
    assert check(limiter, 9.0)[0] == 0


def test_defaults_key_by_api_key_with_a_one_second_grace() -> None:
    limits = RateLimits()
    assert limits.key_by == "api_key"
    assert limits.ban_grace == 1.0
    with pytest.raises(ValueError, match="key_by"):
        RateLimits(key_by="user")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ban_grace"):
        RateLimits(ban_grace=-1.0)


def test_requests_within_the_grace_get_429_and_later_ones_418() -> None:
    limits = RateLimits(global_rule=RateLimitRule(1, 10.0, 5.0), list_rule=None, ban=2.0, ban_grace=0.5)
    limiter = RateLimiter(limits)
    assert check(limiter, 0.0)[0] == 0
    assert check(limiter, 1.0) == (429, 5.0, None)  # the 429 that starts the block
    code, left, _ = check(limiter, 1.4)  # in flight when the 429 went out: 429, no ban
    assert code == 429 and left == pytest.approx(4.6)
    assert check(limiter, 1.49)[0] == 429
    assert check(limiter, 1.51) == (418, 2.0, 2.0)  # after the grace: keeping on sending
    limiter.reset()
    # A grace never outlives its block: once the block is over, requests are admitted again.
    short = RateLimiter(RateLimits(global_rule=RateLimitRule(1, 0.1, 0.2), list_rule=None, ban_grace=1.0))
    assert [check(short, t)[0] for t in (0.0, 0.05, 0.1, 0.3)] == [0, 429, 429, 0]


def test_grace_429s_carry_retry_after_when_enabled() -> None:
    limits = RateLimits(global_rule=RateLimitRule(1, 10.0, 5.0), list_rule=None, retry_after=True)
    limiter = RateLimiter(limits)
    check(limiter, 0.0)
    assert check(limiter, 1.0) == (429, 5.0, 5.0)
    code, left, header = check(limiter, 1.5)
    assert code == 429 and header == left == pytest.approx(4.5)


@pytest.mark.fake_3commas(
    rate_limit=RateLimits(global_rule=RateLimitRule(3, 10.0, 10.0), list_rule=None, ban_grace=0.3),
    clock=ManualClock(),
)
async def test_requests_in_flight_at_the_429_are_not_banned(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    url = f"{fake_3commas.base_url}/v2/smart_trades"

    async def one() -> int:
        async with client.get(url) as resp:
            await resp.read()
            return resp.status

    # Ten at once: three fit, the other seven were already sent when the first 429 went out.
    got = await asyncio.gather(*(one() for _ in range(10)))
    assert sorted(got) == [200] * 3 + [429] * 7
    assert fake_3commas.stats.status_429 == 7 and fake_3commas.stats.status_418 == 0
    manual(fake_3commas).advance(0.3)
    # After the grace, the block still on: a request now is "keeping on sending".
    assert await statuses(client, url, 1) == [418]


@pytest.mark.fake_3commas(
    rate_limit=RateLimits(global_rule=RateLimitRule(100, 10.0, 10.0), list_rule=None, ban_grace=0.2),
    clock=ManualClock(),
)
async def test_injected_429_starts_a_real_block_with_the_fault_retry_after(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    url = f"{fake_3commas.base_url}/v2/smart_trades"
    fake_3commas.faults.add("rate_limit", route="list", retry_after=0.6)
    assert await statuses(client, url, 1) == [429]
    async with client.get(url) as resp:  # within the grace: 429 again, not a 200
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "1"  # the fault set retry_after: its block's 429s say so
    manual(fake_3commas).advance(0.2)
    assert await statuses(client, url, 1) == [418]  # after the grace, within the block: banned
    assert fake_3commas.stats.faults == {"rate_limit": 1}


@pytest.mark.fake_3commas(
    rate_limit=RateLimits(global_rule=RateLimitRule(100, 10.0, 10.0), list_rule=None, ban_grace=0.05),
    clock=ManualClock(),
)
async def test_waiting_out_an_injected_429_is_not_banned(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    tid = fake_3commas.add_trade()
    url = f"{fake_3commas.base_url}/v2/smart_trades/{tid}"
    fake_3commas.faults.add("rate_limit", retry_after=0.2)
    assert await statuses(client, url, 1) == [429]
    manual(fake_3commas).advance(0.1999)
    assert await statuses(client, url, 1) == [418]  # after the grace, before the block's end
    fake_3commas.reset()  # trades, counters, blocks and bans
    url = f"{fake_3commas.base_url}/v2/smart_trades/{fake_3commas.add_trade()}"
    fake_3commas.faults.add("rate_limit", retry_after=0.2)
    assert await statuses(client, url, 1) == [429]
    manual(fake_3commas).advance(0.2)
    assert await statuses(client, url, 2) == [200, 200]
    assert fake_3commas.stats.status_418 == 0


@pytest.mark.parametrize(
    ("limits", "fault", "expected"),
    [
        # The fault's block, else its retry_after, else the global rule's block, else 300 s.
        (RateLimits(global_rule=RateLimitRule(100, 10.0, 7.0)), {"block": 3.0, "retry_after": 1.0}, 3.0),
        (RateLimits(global_rule=RateLimitRule(100, 10.0, 7.0)), {"retry_after": 1.0}, 1.0),
        (RateLimits(global_rule=RateLimitRule(100, 10.0, 7.0)), {}, 7.0),
        (RateLimits.scaled(120), {}, 2.5),
        (None, {}, 300.0),
        (RateLimits(global_rule=None), {}, 300.0),
    ],
)
async def test_how_long_an_injected_429_blocks(
    limits: RateLimits | None, fault: dict[str, float], expected: float
) -> None:
    clock = ManualClock()
    async with FakeThreeCommas(rate_limit=limits, clock=clock) as server:
        server.faults.add("rate_limit", block=fault.get("block"), retry_after=fault.get("retry_after"))
        mw = SigningMiddleware(server.api_key, api_secret=server.api_secret, base_url=server.base_url)
        async with aiohttp.ClientSession(middlewares=(mw,)) as session:
            url = f"{server.base_url}/v2/smart_trades"
            assert await statuses(session, url, 1) == [429]
            clock.advance(0.05)
            # The block's own 429s (within the grace) say how long it has left.
            async with session.get(url) as resp:
                assert resp.status == 429
                text = (await resp.json())["error_description"]
    left = float(text.removeprefix("Rate limit exceeded, access blocked for ").removesuffix(" s"))
    assert left == pytest.approx(expected - 0.05)


@pytest.mark.fake_3commas(rate_limit=None)
async def test_injected_429_blocks_even_with_rate_limits_off(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    url = f"{fake_3commas.base_url}/v2/smart_trades"
    fake_3commas.faults.add("rate_limit")
    assert await statuses(client, url, 2) == [429, 429]  # 300 s block, 1 s grace
    fake_3commas.reset()
    assert await statuses(client, url, 1) == [200]


@pytest.mark.fake_3commas(
    rate_limit=RateLimits(global_rule=RateLimitRule(2, 10.0, 10.0), list_rule=None, ban_grace=0)
)
async def test_faults_come_after_the_rate_limiter(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    url = f"{fake_3commas.base_url}/v2/smart_trades"
    fake_3commas.faults.add("http_503", times=None)
    # The client sent them: requests that got a fault count toward the limit.
    assert await statuses(client, url, 3) == [503, 503, 429]
    assert await statuses(client, url, 1) == [418]  # a block or ban wins over any fault
    assert fake_3commas.stats.faults == {"http_503": 2}
