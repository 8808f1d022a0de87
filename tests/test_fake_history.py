"""FakeThreeCommas truth for outcome checks: each SmartTrade's status history with causes, DELETE counts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from threecommas_async._signing import SigningMiddleware
from threecommas_async.testing import FakeThreeCommas, ManualClock, RateLimitRule, RateLimits, Transition

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(100.0)


@pytest.fixture
async def server(clock: ManualClock) -> AsyncIterator[FakeThreeCommas]:
    async with FakeThreeCommas(rate_limit=None, cancel_delay=5.0, clock=clock, record_requests=False) as s:
        yield s


@pytest.fixture
async def http(server: FakeThreeCommas) -> AsyncIterator[aiohttp.ClientSession]:
    mw = SigningMiddleware(server.api_key, api_secret=server.api_secret, base_url=server.base_url)
    async with aiohttp.ClientSession(middlewares=(mw,)) as session:
        yield session


async def call(http: aiohttp.ClientSession, server: FakeThreeCommas, method: str, path: str) -> int:
    async with http.request(method, server.base_url + path) as resp:
        await resp.read()
        return resp.status


def cancelled_by_a_delete_since(server: FakeThreeCommas, trade_id: int, start: float) -> bool:
    """What an outcome check asks: did a DELETE sent since ``start`` cancel this trade?"""
    return any(
        t.to == "cancellation_pending" and t.cause in ("cancel", "cancel_trade") and t.time >= start
        for t in server.history(trade_id)
    )


async def test_a_cancel_and_its_timer_with_their_times_and_causes(
    server: FakeThreeCommas, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    tid = server.add_trade()
    assert server.history(tid) == [Transition(100.0, None, "waiting_targets", "seed", None)]
    clock.advance(1.0)
    assert await call(http, server, "DELETE", f"/v2/smart_trades/{tid}") == 200
    clock.advance(7.0)  # the delayed transition is noticed at 108, but happened at 106
    assert server.trade_status(tid) == "cancelled"
    assert server.history(tid) == [
        Transition(100.0, None, "waiting_targets", "seed", None),
        Transition(101.0, "waiting_targets", "cancellation_pending", "cancel", server.api_key),
        Transition(106.0, "cancellation_pending", "cancelled", "timer", None),
    ]
    assert cancelled_by_a_delete_since(server, tid, 100.5)
    assert server.delete_count(tid) == 1


async def test_already_final_before_is_told_apart_from_cancelled_now(
    server: FakeThreeCommas, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    final, active = server.seed_trades(1, status="cancelled") + server.seed_trades(1)
    clock.advance(1.0)
    start = clock()
    assert await call(http, server, "DELETE", f"/v2/smart_trades/{final}") == 403
    assert await call(http, server, "DELETE", f"/v2/smart_trades/{final}") == 403
    assert await call(http, server, "DELETE", f"/v2/smart_trades/{active}") == 200
    assert not cancelled_by_a_delete_since(server, final, start)
    assert cancelled_by_a_delete_since(server, active, start)
    assert server.history(final) == [Transition(100.0, None, "cancelled", "seed", None)]
    assert (server.delete_count(final), server.delete_count(active), server.delete_count(1)) == (2, 1, 0)


async def test_create_and_the_other_causes(
    server: FakeThreeCommas, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    body = {
        "account_id": 1,
        "pair": "USDT_BTC",
        "position": {"type": "buy", "order_type": "limit", "units": {"value": "1"}, "price": {"value": "9"}},
    }
    async with http.post(f"{server.base_url}/v2/smart_trades", json=body) as resp:
        created = (await resp.json())["id"]
    clock.advance(1.0)
    assert await call(http, server, "POST", f"/v2/smart_trades/{created}/force_start") == 201
    clock.advance(1.0)
    assert await call(http, server, "POST", f"/v2/smart_trades/{created}/close_by_market") == 201
    assert await call(http, server, "POST", f"/v2/smart_trades/{created}/force_process") == 201
    key = server.api_key
    assert [(t.time, t.from_, t.to, t.cause, t.api_key) for t in server.history(created)] == [
        (100.0, None, "created", "create", key),
        (100.0, "created", "waiting_position", "timer", None),
        (101.0, "waiting_position", "waiting_targets", "force_start", key),
        (102.0, "waiting_targets", "panic_sell_pending", "close_by_market", key),
        (102.0, "panic_sell_pending", "finished", "force_process", key),
    ]

    forced = server.add_trade()
    server.set_trade_status(forced, "failed")
    assert server.history(forced)[-1] == Transition(102.0, "waiting_targets", "failed", "set_status", None)

    # Cancelling the position's Trade entity cancels the SmartTrade: cause cancel_trade.
    via_position = server.add_trade(status="waiting_position")
    async with http.get(f"{server.base_url}/v2/smart_trades/{via_position}/trades") as resp:
        position_id = (await resp.json())[0]["id"]
    assert await call(http, server, "DELETE", f"/v2/smart_trades/{via_position}/trades/{position_id}") == 200
    assert server.history(via_position)[-1].cause == "cancel_trade"
    assert server.delete_count(via_position) == 1

    with pytest.raises(KeyError):
        server.history(12345)


async def test_complete_pending_stamps_now_and_refused_deletes_count() -> None:
    clock = ManualClock(10.0)
    limits = RateLimits(global_rule=RateLimitRule(1, 60.0, 60.0), list_rule=None, ban_grace=60.0)
    async with FakeThreeCommas(rate_limit=limits, cancel_delay=None, clock=clock) as server:
        tid = server.add_trade()
        mw = SigningMiddleware(server.api_key, api_secret=server.api_secret, base_url=server.base_url)
        async with aiohttp.ClientSession(middlewares=(mw,)) as http:
            assert await call(http, server, "DELETE", f"/v2/smart_trades/{tid}") == 200
            server.faults.add("http_503", times=None)
            assert await call(http, server, "DELETE", f"/v2/smart_trades/{tid}") == 429  # refused: counted
        clock.advance(3.0)
        server.complete_pending()  # cancel_delay=None: never on its own; stamped when forced
        assert server.history(tid)[-1] == Transition(13.0, "cancellation_pending", "cancelled", "timer", None)
        assert server.delete_count(tid) == 2
        server.reset()
        assert server.delete_count(tid) == 0
