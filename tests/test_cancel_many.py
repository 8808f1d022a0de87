"""cancel_many accounts for every id: faults, already-final ids, duplicates, bad input and 10,000 ids."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

import pytest

from threecommas_async import CancelResult, RetryPolicy, ThreeCommasClient
from threecommas_async.testing import FakeThreeCommas

pytestmark = pytest.mark.integration

FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.001, backoff_max=0.005)


@pytest.fixture
async def server() -> AsyncIterator[FakeThreeCommas]:
    async with FakeThreeCommas(rate_limit=None, cancel_delay=0) as fake:
        yield fake


def client_for(server: FakeThreeCommas, retry: RetryPolicy | None = None) -> ThreeCommasClient:
    return ThreeCommasClient(
        server.api_key, server.api_secret, base_url=server.base_url, rate_limit=None, retry=retry
    )


async def collect(client: ThreeCommasClient, ids: list[int], concurrency: int = 8) -> dict[int, CancelResult]:
    results: dict[int, CancelResult] = {}
    async for result in client.smart_trades.cancel_many(ids, concurrency=concurrency):
        assert result.id not in results, "one result per id"
        results[result.id] = result
    return results


async def test_every_id_cancelled_once(server: FakeThreeCommas) -> None:
    ids = server.seed_trades(50)
    async with client_for(server, retry=FAST_RETRY) as client:
        results = await collect(client, ids)
    assert set(results) == set(ids)
    assert all(r.ok and not r.already_final and r.error is None for r in results.values())
    assert all(r.trade is not None and r.trade.id == r.id for r in results.values())
    assert {server.trade_status(i) for i in ids} == {"cancelled"}
    assert server.stats.by_route.get("cancel") == 50


async def test_duplicates_give_one_result_each(server: FakeThreeCommas) -> None:
    ids = server.seed_trades(3)
    async with client_for(server) as client:
        results = await collect(client, [ids[0], ids[1], ids[0], ids[2], ids[1], ids[0]])
    assert sorted(results) == sorted(ids)
    assert server.stats.by_route.get("cancel") == 3


async def test_already_final_ids_are_reported_as_done_and_distinguished(server: FakeThreeCommas) -> None:
    fresh, cancelled, finished, failed = server.seed_trades(4)
    server.set_trade_status(cancelled, "cancelled")
    server.set_trade_status(finished, "finished")
    server.set_trade_status(failed, "failed")
    async with client_for(server) as client:
        results = await collect(client, [fresh, cancelled, finished, failed])
    assert results[fresh].ok and not results[fresh].already_final
    for id, status in ((cancelled, "cancelled"), (finished, "finished"), (failed, "failed")):
        r = results[id]
        assert r.ok, r.error
        assert r.already_final
        assert r.trade is not None and r.trade.status is not None and r.trade.status.type == status


async def test_unknown_id_is_a_failure_not_an_exception(server: FakeThreeCommas) -> None:
    (known,) = server.seed_trades(1)
    async with client_for(server) as client:
        results = await collect(client, [known, 999_999_999])
    assert results[known].ok
    missing = results[999_999_999]
    assert not missing.ok
    from threecommas_async import NotFoundError

    assert isinstance(missing.error, NotFoundError)


async def test_reset_after_processing_is_cancelled_not_lost(server: FakeThreeCommas) -> None:
    """The first DELETE did its work but the answer was lost; the retry is refused; the GET settles it."""
    ids = server.seed_trades(5)
    server.faults.add("reset_after", route="cancel", times=5)
    async with client_for(server, retry=FAST_RETRY) as client:
        results = await collect(client, ids)
    for r in results.values():
        assert r.ok, r.error
        assert not r.already_final  # our own first attempt cancelled it
    assert {server.trade_status(i) for i in ids} == {"cancelled"}


async def test_lost_answer_without_retries_is_settled_with_a_get(server: FakeThreeCommas) -> None:
    ids = server.seed_trades(4)
    server.faults.add("reset_after", route="cancel", times=2)
    server.faults.add("reset_before", route="cancel", times=2)
    async with client_for(server, retry=None) as client:
        results = await collect(client, ids, concurrency=1)
    done = [r for r in results.values() if r.ok]
    lost = [r for r in results.values() if not r.ok]
    # reset_after: the server cancelled -> the GET shows it and the id is ok.
    # reset_before: nothing happened -> the GET shows it still active and the id is reported failed.
    assert len(done) == 2 and len(lost) == 2
    for r in lost:
        assert server.trade_status(r.id) == "waiting_targets"
        assert r.trade is not None  # the GET's view of it, for the operator


async def test_random_faults_never_lose_an_id(server: FakeThreeCommas) -> None:
    ids = server.seed_trades(300)
    server.faults.random(0.2, kinds=["http_503", "reset_before", "reset_after", "html_error"], seed=3)
    async with client_for(
        server, retry=RetryPolicy(max_attempts=6, backoff_base=0.001, backoff_max=0.002)
    ) as client:
        results = await collect(client, ids, concurrency=16)
    assert set(results) == set(ids)
    for r in results.values():
        status = server.trade_status(r.id)
        if r.ok:
            assert status == "cancelled", (r, status)
        else:
            assert status == "waiting_targets", (r, status)  # a failure is reported truthfully


async def test_bad_input_raises_before_anything_is_sent(server: FakeThreeCommas) -> None:
    async with client_for(server) as client:
        with pytest.raises(ValueError, match="positive integers"):
            client.smart_trades.cancel_many([1, "2", -3])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="concurrency"):
            client.smart_trades.cancel_many([1], concurrency=0)
        assert [r async for r in client.smart_trades.cancel_many([])] == []
    assert server.stats.requests == 0


async def test_concurrency_bounds_in_flight_requests(
    server: FakeThreeCommas, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = server.seed_trades(40)
    server.faults.random(1.0, kinds=["latency"], delay=0.01, seed=1)
    in_flight = peak = 0
    real_attempt = ThreeCommasClient._attempt

    async def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await real_attempt(*args, **kwargs)
        finally:
            in_flight -= 1

    monkeypatch.setattr(ThreeCommasClient, "_attempt", counting)
    async with client_for(server) as client:
        results = await collect(client, ids, concurrency=5)
    assert len(results) == 40
    assert peak == 5


async def test_thousands_of_ids_with_a_flat_task_count(server: FakeThreeCommas) -> None:
    # 2,000 is enough to tell a fixed pool from a task per id; benchmarks/ measures 10,000 (memory, time).
    server.record_requests = False
    ids = server.seed_trades(2_000)
    seen = 0
    max_tasks = 0
    async with client_for(server, retry=None) as client:
        async for result in client.smart_trades.cancel_many(ids, concurrency=32):
            seen += 1
            assert result.ok
            if seen % 500 == 0:
                max_tasks = max(max_tasks, len(asyncio.all_tasks()))
    assert seen == 2_000
    # 32 workers plus the server's handlers and the test itself: never one task per id.
    assert max_tasks < 32 * 3 + 10
    gc.collect()


async def test_closing_the_iterator_early_stops_the_workers(server: FakeThreeCommas) -> None:
    ids = server.seed_trades(100)
    async with client_for(server) as client:
        stream = client.smart_trades.cancel_many(ids, concurrency=4)
        first = await anext(stream)
        await stream.aclose()
        await asyncio.sleep(0.05)
        sent = server.stats.by_route.get("cancel", 0)
        await asyncio.sleep(0.05)
        assert server.stats.by_route.get("cancel", 0) == sent  # nothing more is sent
    assert first.ok
    assert sent < 100


async def test_trades_closed_otherwise_are_already_final_even_after_a_5xx(server: FakeThreeCommas) -> None:
    finished, panic = server.seed_trades(2)
    server.set_trade_status(finished, "finished")
    server.set_trade_status(panic, "panic_sell_pending")
    server.faults.add("http_503", route="cancel", times=2)  # not processed, then the retry is refused
    async with client_for(server, retry=FAST_RETRY) as client:
        results = await collect(client, [finished, panic], concurrency=1)
    for id in (finished, panic):
        assert results[id].ok and results[id].already_final, results[id]


async def test_single_cancel_whose_answer_was_lost_returns_the_trade(server: FakeThreeCommas) -> None:
    (id,) = server.seed_trades(1)
    server.faults.add("reset_after", route="cancel", times=1)
    async with client_for(server, retry=FAST_RETRY) as client:
        trade = await client.smart_trades.cancel(id)
    assert trade.id == id
    assert trade.status is not None and trade.status.type in ("cancellation_pending", "cancelled")
    assert server.stats.by_route["cancel"] == 2  # the retry was refused, the GET settled it


async def test_single_cancel_of_a_cancelled_trade_still_raises(server: FakeThreeCommas) -> None:
    from threecommas_async import PermissionDeniedError

    (id,) = server.seed_trades(1)
    server.set_trade_status(id, "cancelled")
    async with client_for(server, retry=FAST_RETRY) as client:
        with pytest.raises(PermissionDeniedError):
            await client.smart_trades.cancel(id)


async def test_a_consumer_that_stops_reading_stops_the_cancels(server: FakeThreeCommas) -> None:
    ids = server.seed_trades(200)
    async with client_for(server) as client:
        stream = client.smart_trades.cancel_many(ids, concurrency=4)
        async for _ in stream:
            break  # no aclose(): the generator stays referenced
        await asyncio.sleep(0.2)
        sent = server.stats.by_route.get("cancel", 0)
        assert sent <= 1 + 4 + 4  # the one read, a full queue, and one in flight per worker
        await stream.aclose()


async def test_results_settled_but_not_yet_read_are_taken_when_the_reader_stops(
    server: FakeThreeCommas,
) -> None:
    """Ctrl-C lands after workers settled ids the reader has not taken yet: ``take_ready()`` hands them
    over, so every id is in exactly one place: read, taken, in flight or not started."""
    ids = server.seed_trades(12)
    async with server.client(rate_limit=None) as client:
        stream = client.smart_trades.cancel_many(ids, concurrency=3)
        first = await stream.__anext__()
        for _ in range(200):
            if len(stream._ready) >= 2:
                break
            await asyncio.sleep(0.005)
        taken = stream.take_ready()
        assert len(taken) >= 2 and all(r.outcome == "cancelled" for r in taken)
        assert stream.settled == 1 + len(taken)
        places = [[first.id], [r.id for r in taken], stream.in_flight(), stream.not_started()]
        await stream.aclose()
    seen = [i for place in places for i in place]
    assert sorted(seen) == sorted(ids) and len(set(seen)) == len(seen)
