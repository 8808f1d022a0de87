"""wait_final and cancel_many(wait=True) against the fake: every id settles once, final or not, and the
confirmation is cheap in 3Commas' allowance (pages of the closed list, not one GET per id)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from threecommas_async import NotFoundError, ThreeCommasClient
from threecommas_async.resources.final import FinalState
from threecommas_async.testing import FakeThreeCommas

pytestmark = pytest.mark.integration


@pytest.fixture
async def server() -> AsyncIterator[FakeThreeCommas]:
    async with FakeThreeCommas(rate_limit=None, cancel_delay=0.05) as fake:
        yield fake


def client_for(server: FakeThreeCommas) -> ThreeCommasClient:
    return ThreeCommasClient(server.api_key, server.api_secret, base_url=server.base_url, rate_limit=None)


async def states(client: ThreeCommasClient, ids: list[int], **options: float) -> dict[int, FinalState]:
    got: dict[int, FinalState] = {}
    async for state in client.smart_trades.wait_final(ids, **options):
        assert state.id not in got, "one state per id"
        got[state.id] = state
    return got


async def test_a_thousand_cancelled_ids_are_confirmed_a_page_at_a_time(server: FakeThreeCommas) -> None:
    ids = server.seed_trades(1_000)
    older = server.seed_trades(300)  # finished before the cancels: newest first, they are never reached
    for id in older:
        server.set_trade_status(id, "finished")
    async with client_for(server) as client:
        cancelled = [r.id async for r in client.smart_trades.cancel_many(ids, concurrency=32) if r.ok]
        assert len(cancelled) == 1_000
        server.clear_requests()
        got = await states(client, cancelled, timeout=30.0, poll=0.1)
    assert sorted(got) == sorted(ids)
    assert all(s.final and s.status == "cancelled" for s in got.values())
    trade = got[ids[0]].trade  # the SmartTrade as the list showed it, decoded on demand
    assert trade is not None and trade.id == ids[0]
    sent = server.requests
    assert {r.route for r in sent} == {"list"}
    # ten pages of 100 confirm 1,000 ids (oldest first would take 13); a page or two more if the last
    # ones were still pending at the first poll
    assert len(sent) <= 12, len(sent)


async def test_ids_still_pending_at_the_timeout_come_out_not_final_with_their_status() -> None:
    async with FakeThreeCommas(rate_limit=None, cancel_delay=None) as server:  # pending until told
        ids = server.seed_trades(5)
        async with client_for(server) as client:
            async for result in client.smart_trades.cancel_many(ids):
                assert result.outcome == "cancelled"
            got = await states(client, ids, timeout=0.3, poll=0.05)
    assert sorted(got) == ids
    assert {(s.final, s.status) for s in got.values()} == {(False, None)}  # the list never showed them
    assert {server.trade_status(i) for i in ids} == {"cancellation_pending"}


async def test_a_few_ids_left_are_looked_at_one_get_each(server: FakeThreeCommas) -> None:
    active, gone = server.seed_trades(2)
    async with client_for(server) as client:
        await client.smart_trades.cancel(active)
        server.clear_requests()
        got = await states(client, [active, 99_999_999], timeout=5.0, poll=0.1)
    assert got[active].final and got[active].status == "cancelled"
    assert not got[99_999_999].final and isinstance(got[99_999_999].error, NotFoundError)
    assert {r.route for r in server.requests} == {"get"}
    assert gone in server.trade_ids()


async def test_cancel_many_with_wait_yields_each_cancelled_trade_once_it_is_final(
    server: FakeThreeCommas,
) -> None:
    ids = server.seed_trades(40)
    server.set_trade_status(ids[0], "finished")
    async with client_for(server) as client:
        results = {r.id: r async for r in client.smart_trades.cancel_many(ids, wait=True, wait_timeout=30.0)}
    assert sorted(results) == ids
    assert results[ids[0]].outcome == "already_final" and results[ids[0]].final
    rest = [results[i] for i in ids[1:]]
    assert all(r.outcome == "cancelled" and r.final and r.status == "cancelled" for r in rest)


async def test_wait_with_a_timeout_too_short_says_not_final() -> None:
    async with FakeThreeCommas(rate_limit=None, cancel_delay=None) as server:
        ids = server.seed_trades(3)
        async with client_for(server) as client:
            stream = client.smart_trades.cancel_many(ids, wait=True, wait_timeout=0.2)
            results = [r async for r in stream]
    assert sorted(r.id for r in results) == ids
    assert all(r.ok and r.final is False and r.status == "cancellation_pending" for r in results)


@pytest.mark.parametrize(
    ("ids", "options"),
    [([0], {}), (["7"], {}), ([True], {}), ([1], {"timeout": 0}), ([1], {"poll": 5.0, "max_poll": 1.0})],
)
async def test_bad_arguments_raise_before_anything_is_sent(
    server: FakeThreeCommas, ids: list[object], options: dict[str, float]
) -> None:
    async with client_for(server) as client:
        with pytest.raises(ValueError, match="wait_final"):
            client.smart_trades.wait_final(ids, **options)  # type: ignore[arg-type]
    assert server.requests == []


@pytest.mark.virtual_clock
async def test_a_server_repeating_its_page_never_keeps_the_wait_past_its_timeout() -> None:
    """Every page number answers the same 100 closed trades (a proxy dropping ``page``): each poll stops
    at the page that shows nothing new, and the wait ends at its timeout."""
    import asyncio

    async with FakeThreeCommas(rate_limit=None, cancel_delay=None) as server:
        ids = server.seed_trades(10)  # never final
        others = server.seed_trades(100)
        for other in others:
            server.set_trade_status(other, "cancelled")
        server.faults.add("respond", route="list", body=[server.get_trade(i) for i in others], times=None)
        async with server.client() as client:
            loop = asyncio.get_running_loop()
            started = loop.time()
            states = [s async for s in client.smart_trades.wait_final(ids, timeout=3, poll=0.1, max_poll=0.1)]
            elapsed = loop.time() - started
        lists = server.stats.by_route.get("list", 0)
    assert sorted(s.id for s in states) == ids and not any(s.final for s in states)
    assert elapsed <= 3.01
    assert lists <= 2 * 30  # two pages a poll (the second shows nothing new), one poll a 0.1 s


@pytest.mark.virtual_clock
@pytest.mark.parametrize("fault", ["hang", "rate_limit"])
async def test_a_request_in_flight_ends_with_the_wait(fault: str) -> None:
    """A poll that hangs, or meets a 429 cool-down, is cut at the wait's timeout: not the client's 30 s
    request timeout, not the 300 s block."""
    import asyncio

    async with FakeThreeCommas(rate_limit=None, cancel_delay=None) as server:
        ids = server.seed_trades(10)
        server.faults.add(fault, route="list", times=1)
        async with server.client(rate_limit=server.client_rate_limit()) as client:
            loop = asyncio.get_running_loop()
            started = loop.time()
            states = [s async for s in client.smart_trades.wait_final(ids, timeout=2, poll=0.1)]
            elapsed = loop.time() - started
    assert sorted(s.id for s in states) == ids and not any(s.final for s in states)
    assert elapsed <= 2.01


async def test_a_get_that_shows_another_trade_proves_nothing() -> None:
    async with FakeThreeCommas(rate_limit=None, cancel_delay=None) as server:
        active, other = server.seed_trades(2)
        server.set_trade_status(other, "cancelled")
        server.faults.add("respond", route="get", body=server.get_trade(other), times=None)
        async with server.client() as client:
            (state,) = [s async for s in client.smart_trades.wait_final([active], timeout=0.5, poll=0.1)]
    assert state.id == active and not state.final
