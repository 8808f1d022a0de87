"""FakeThreeCommas faults: what the client observes, and what state the server is left in."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from threecommas_async._signing import SigningMiddleware
from threecommas_async.testing import FakeThreeCommas, FaultKind

pytestmark = [pytest.mark.integration, pytest.mark.fake_3commas(rate_limit=None, cancel_delay=0)]


@pytest.fixture
async def client(fake_3commas: FakeThreeCommas) -> AsyncIterator[aiohttp.ClientSession]:
    mw = SigningMiddleware(
        fake_3commas.api_key, api_secret=fake_3commas.api_secret, base_url=fake_3commas.base_url
    )
    async with aiohttp.ClientSession(middlewares=(mw,)) as session:
        yield session


def trade_url(server: FakeThreeCommas, tid: int) -> str:
    return f"{server.base_url}/v2/smart_trades/{tid}"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_json_error_and_state_unchanged(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession, status: int
) -> None:
    tid = fake_3commas.add_trade()
    fake_3commas.faults.add(f"http_{status}", method="DELETE", route="cancel")
    async with client.delete(trade_url(fake_3commas, tid)) as resp:
        assert resp.status == status
        assert resp.content_type == "application/json"
        assert (await resp.json())["error"] == "unknown_error"
    assert fake_3commas.trade_status(tid) == "waiting_targets"
    # times=1: the retry goes through.
    async with client.delete(trade_url(fake_3commas, tid)) as resp:
        assert resp.status == 200
    assert fake_3commas.trade_status(tid) == "cancelled"
    assert fake_3commas.stats.faults == {f"http_{status}": 1}
    assert [(r.status, r.fault) for r in fake_3commas.requests] == [(status, f"http_{status}"), (200, None)]


@pytest.mark.parametrize(("given", "expected"), [(None, 502), (504, 504)])
async def test_html_error_page_from_the_edge(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession, given: int | None, expected: int
) -> None:
    tid = fake_3commas.add_trade()
    fake_3commas.faults.add(FaultKind.HTML_ERROR, status=given)
    async with client.delete(trade_url(fake_3commas, tid)) as resp:
        assert resp.status == expected
        assert resp.content_type == "text/html"
        text = await resp.text()
    assert text.startswith("<html>")
    assert f"<h1>{expected} " in text
    assert fake_3commas.trade_status(tid) == "waiting_targets"


async def test_latency_delays_then_processes(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    tid = fake_3commas.add_trade()
    fake_3commas.faults.add("latency", delay=0.03)
    t0 = time.perf_counter()
    async with client.delete(trade_url(fake_3commas, tid)) as resp:
        assert resp.status == 200
    assert time.perf_counter() - t0 >= 0.03
    assert fake_3commas.trade_status(tid) == "cancelled"
    assert fake_3commas.requests[0].fault == "latency"


async def test_reset_before_processing_leaves_state_unchanged(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    tid = fake_3commas.add_trade()
    # times=None: aiohttp silently resends an idempotent request once after a dropped connection,
    # so a single reset would go unnoticed by the client.
    fake_3commas.faults.add("reset_before", route="cancel", times=None)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with client.delete(trade_url(fake_3commas, tid)) as resp:
            await resp.read()
    assert fake_3commas.trade_status(tid) == "waiting_targets"
    assert {(r.status, r.fault) for r in fake_3commas.requests} == {(None, "reset_before")}
    assert fake_3commas.stats.dropped == len(fake_3commas.requests) >= 1


async def test_reset_after_processing_changed_the_trade(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    tid = fake_3commas.add_trade()
    rule = fake_3commas.faults.add("reset_after", method="DELETE", times=None)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with client.delete(trade_url(fake_3commas, tid)) as resp:
            await resp.read()
    # The client saw no answer, yet the cancel happened: retrying it must cope with "already cancelled".
    assert fake_3commas.trade_status(tid) == "cancelled"
    assert {r.status for r in fake_3commas.requests} == {None}
    fake_3commas.faults.clear()
    async with client.delete(trade_url(fake_3commas, tid)) as resp:
        assert resp.status == 403
    assert rule.hits >= 1


async def test_reset_after_a_create_still_created_the_trade(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    fake_3commas.faults.add("reset_after", route="create")
    body = {
        "account_id": 1,
        "pair": "USDT_BTC",
        "position": {"type": "buy", "order_type": "market", "units": {"value": "1"}},
    }
    with pytest.raises(aiohttp.ClientConnectionError):
        async with client.post(f"{fake_3commas.base_url}/v2/smart_trades", json=body) as resp:
            await resp.read()
    assert len(fake_3commas.trade_ids()) == 1


async def test_truncated_body(fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession) -> None:
    tid = fake_3commas.add_trade()
    fake_3commas.faults.add("truncated", route="cancel")
    async with client.delete(trade_url(fake_3commas, tid)) as resp:
        status = resp.status  # the status line and headers did arrive
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    assert status == 200
    assert fake_3commas.trade_status(tid) == "cancelled"
    assert fake_3commas.stats.dropped == 1


async def test_malformed_json_with_200(fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession) -> None:
    tid = fake_3commas.add_trade()
    fake_3commas.faults.add("malformed_json", route="cancel")
    async with client.delete(trade_url(fake_3commas, tid)) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        with pytest.raises(json.JSONDecodeError):
            await resp.json()
    assert fake_3commas.trade_status(tid) == "cancelled"


@pytest.mark.parametrize("retry_after", [None, 7.0])
async def test_429_fault_with_and_without_retry_after(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession, retry_after: float | None
) -> None:
    tid = fake_3commas.add_trade()
    fake_3commas.faults.add("rate_limit", retry_after=retry_after)
    async with client.delete(trade_url(fake_3commas, tid)) as resp:
        assert resp.status == 429
        assert resp.headers.get("Retry-After") == (None if retry_after is None else "7")
    assert fake_3commas.trade_status(tid) == "waiting_targets"
    assert fake_3commas.stats.status_429 == 1


async def test_rules_match_method_route_and_path_and_count_down(
    fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession
) -> None:
    a, b = fake_3commas.seed_trades(2)
    rule = fake_3commas.faults.add("http_503", path=f"/v2/smart_trades/{b}", method="GET", times=2)
    got = []
    for tid, method in [(a, "GET"), (b, "DELETE"), (b, "GET"), (b, "GET"), (b, "GET")]:
        async with client.request(method, trade_url(fake_3commas, tid)) as resp:
            got.append(resp.status)
    assert got == [200, 200, 503, 503, 200]
    assert (rule.hits, rule.remaining) == (2, 0)
    assert fake_3commas.faults.rules == []  # spent rules are dropped
    assert not fake_3commas.faults.active


async def test_forever_rule_and_clear(fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession) -> None:
    fake_3commas.faults.add("http_500", route="list", times=None)
    url = f"{fake_3commas.base_url}/v2/smart_trades"
    for _ in range(3):
        async with client.get(url) as resp:
            assert resp.status == 500
    fake_3commas.faults.clear()
    async with client.get(url) as resp:
        assert resp.status == 200


async def test_random_faults_are_seeded(fake_3commas: FakeThreeCommas, client: aiohttp.ClientSession) -> None:
    url = f"{fake_3commas.base_url}/v2/smart_trades"

    async def run() -> list[int]:
        fake_3commas.faults.random(0.5, kinds=["http_502", "http_503"], seed=42)
        out = []
        for _ in range(30):
            async with client.get(url) as resp:
                out.append(resp.status)
        return out

    first, second = await run(), await run()
    assert first == second
    assert set(first) == {200, 502, 503}
    fake_3commas.faults.random(0)
    assert not fake_3commas.faults.active


def test_fault_api_validation() -> None:
    server = FakeThreeCommas()
    with pytest.raises(ValueError, match="nope"):
        server.faults.add("nope")
    with pytest.raises(ValueError, match="times"):
        server.faults.add("http_500", times=0)
    with pytest.raises(ValueError, match="ratio"):
        server.faults.random(1.5)
