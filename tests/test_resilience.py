"""Rate limiting, 429 cool-downs, 418 bans and retries, measured at a real loopback server.

On a virtual clock (``tests/_virtual.py``): the server stamps each request with the loop's time, every
wait of the client is on that clock, so intervals are exact and nothing sleeps for real.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from threecommas_async import (
    APIConnectionError,
    APIError,
    ClientEvent,
    EndpointLimit,
    IPBannedError,
    PermissionDeniedError,
    RateLimit,
    RateLimitError,
    RetryPolicy,
    ServerError,
    ThreeCommasClient,
)

from ._loopback import serve
from .conftest import fixture_bytes

SEED = fixture_bytes("cancel_smart_trade_200.json")
pytestmark = [pytest.mark.integration, pytest.mark.virtual_clock]

FAST_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.005)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Hit:
    method: str
    path: str
    at: float


@dataclass
class Scripted:
    base_url: str = ""
    hits: list[Hit] = field(default_factory=list)
    handler: Handler | None = None

    def count(self, method: str | None = None) -> int:
        return sum(1 for h in self.hits if method is None or h.method == method)


def trade_body(id: int) -> bytes:
    """The seed SmartTrade (cancellation_pending) as SmartTrade ``id``: a cancel checks the answer is it."""
    return SEED.replace(b'"id": 30404547,', b'"id": %d,' % id, 1)


async def ok(request: web.Request) -> web.StreamResponse:
    segment = request.path.rstrip("/").rsplit("/", 1)[-1]
    body = trade_body(int(segment)) if segment.isdigit() else SEED
    return web.Response(body=body, content_type="application/json")


@pytest.fixture
async def server() -> AsyncIterator[Scripted]:
    state = Scripted()

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        state.hits.append(Hit(request.method, request.path, now()))
        return await (state.handler or ok)(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner, state.base_url = await serve(app)
    yield state
    await runner.cleanup()


def now() -> float:
    return asyncio.get_running_loop().time()


def client_for(server: Scripted, **kw: object) -> ThreeCommasClient:
    return ThreeCommasClient("key", "secret", base_url=server.base_url, **kw)  # type: ignore[arg-type]


def max_in_any_window(times: list[float], period: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= period:
            start += 1
        best = max(best, end - start + 1)
    return best


# -- the limiter ----------------------------------------------------------------------------------------
async def test_500_requests_never_exceed_the_limit_in_any_window(server: Scripted) -> None:
    limit = RateLimit(max_rate=50, time_period=0.2, endpoints={}, reserve=0)
    async with client_for(server, rate_limit=limit) as client:
        started = now()
        await asyncio.gather(*(client.smart_trades.get(i + 1) for i in range(500)))
    times = [h.at for h in server.hits]
    assert len(times) == 500
    assert max_in_any_window(times, 0.2) <= 50
    # The allowance is used: each burst of 50 goes out at once (a paced limiter would spread it over the
    # window), the next one as soon as the window allows: 0.2 s after the answers, 9 windows in all.
    assert times[49] - times[0] < 0.01
    assert times[50] - times[0] == pytest.approx(0.2, abs=0.01)
    assert times[-1] - started == pytest.approx(9 * 0.2, abs=0.05)


async def test_endpoint_limit_applies_on_top_of_the_global_one(server: Scripted) -> None:
    limit = RateLimit(
        max_rate=1000,
        time_period=1.0,
        endpoints={"GET /v2/smart_trades": EndpointLimit(max_rate=5, time_period=0.2, cooldown=0.1)},
    )
    server.handler = lambda r: asyncio.sleep(0, web.Response(body=b"[]", content_type="application/json"))
    async with client_for(server, rate_limit=limit) as client:
        await asyncio.gather(
            *(client.smart_trades.list() for _ in range(15)),
            *(client.request("GET", "/v2/other") for _ in range(15)),
        )
    lists = [h.at for h in server.hits if h.path == "/public/api/v2/smart_trades"]
    others = [h.at for h in server.hits if h.path != "/public/api/v2/smart_trades"]
    assert max_in_any_window(lists, 0.2) <= 5
    assert max(others) - min(others) < 0.15  # not held back by the list endpoint's limit


async def test_waiting_cancels_overtake_waiting_reads(server: Scripted) -> None:
    limit = RateLimit(max_rate=1, time_period=0.02, margin=0, endpoints={})
    async with client_for(server, rate_limit=limit) as client:
        reads = [asyncio.create_task(client.smart_trades.get(i + 1)) for i in range(6)]
        await asyncio.sleep(0)  # the reads queue first
        cancels = [asyncio.create_task(client.smart_trades.cancel(i + 100)) for i in range(3)]
        await asyncio.gather(*reads, *cancels)
    order = [h.method for h in server.hits]
    assert order[0] == "GET"  # it took the free slot before any cancel existed
    assert order[1:4] == ["DELETE", "DELETE", "DELETE"]
    assert order[4:] == ["GET"] * 5


async def test_a_stall_for_the_rate_limit_is_announced_once(server: Scripted) -> None:
    events: list[ClientEvent] = []
    limit = RateLimit(max_rate=2, time_period=0.05, endpoints={})
    async with client_for(server, rate_limit=limit, event_hook=events.append) as client:
        await asyncio.gather(*(client.smart_trades.get(i + 1) for i in range(8)))
        throttles = [e for e in events if e.kind == "throttle"]
        assert len(throttles) == 1
        assert 0 < throttles[0].wait <= 0.05
        await asyncio.gather(*(client.smart_trades.get(i + 1) for i in range(4)))  # a new stall
    assert [e.kind for e in events].count("throttle") == 2


async def test_cancelling_a_waiting_task_leaks_nothing(server: Scripted) -> None:
    limit = RateLimit(max_rate=1, time_period=0.3, margin=0, endpoints={})
    async with client_for(server, rate_limit=limit) as client:
        await client.smart_trades.get(1)
        waiting = [asyncio.create_task(client.smart_trades.get(2)) for _ in range(3)]
        await asyncio.sleep(0.01)
        for task in waiting:
            task.cancel()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        gate = client._gate
        assert not any(gate._queues.values()) and gate._waiting == 0
        window = gate._storage._keys[gate._key].windows["*"]  # type: ignore[attr-defined]
        assert window.flying == {}  # no slot was taken by the cancelled waiters
        assert len(window.done) == 1
        await asyncio.sleep(0.35)
        await client.smart_trades.get(3)  # the window is free again: nothing leaked
        session = client._transport._session
        connector = session.connector if session else None
        assert connector is not None and not connector._acquired
    assert server.count() == 2
    ours = [t for t in asyncio.all_tasks() if "threecommas_async" in t.get_coro().cr_code.co_filename]  # type: ignore[union-attr]
    assert ours == []


# -- 429 ------------------------------------------------------------------------------------------------
async def test_one_429_pauses_every_request_of_the_bucket(server: Scripted) -> None:
    first = True

    async def once_429(request: web.Request) -> web.StreamResponse:
        nonlocal first
        if first:
            first = False
            return web.json_response({"error": "rate_limit"}, status=429, headers={"Retry-After": "0.3"})
        return await ok(request)

    server.handler = once_429
    events: list[ClientEvent] = []
    limit = RateLimit(max_rate=1, time_period=0.01, margin=0, endpoints={})
    async with client_for(server, rate_limit=limit, retry=FAST_RETRY, event_hook=events.append) as client:
        await asyncio.gather(*(client.smart_trades.cancel(i + 1) for i in range(8)))
    t429 = server.hits[0].at
    later = [h.at - t429 for h in server.hits[1:]]
    assert len(later) == 8  # 7 others + the retry of the refused one
    assert min(later) >= 0.29
    assert [e.kind for e in events].count("cooldown") == 1
    assert any(e.kind == "retry" and e.status == 429 for e in events)


async def test_429_longer_than_max_wait_raises_and_later_calls_send_nothing(server: Scripted) -> None:
    server.handler = lambda r: asyncio.sleep(
        0, web.json_response({"error": "rate_limit"}, status=429, headers={"Retry-After": "30"})
    )
    limit = RateLimit(max_wait=1.0)
    async with client_for(server, rate_limit=limit, retry=FAST_RETRY) as client:
        with pytest.raises(RateLimitError) as info:
            await client.smart_trades.get(1)
        assert info.value.retry_after == pytest.approx(30, abs=0.5)
        with pytest.raises(RateLimitError) as later:
            await client.smart_trades.cancel(2)
        assert later.value.sent is False
    assert server.count() == 1


async def test_429_without_retry_after_uses_the_configured_cooldown(server: Scripted) -> None:
    server.handler = lambda r: asyncio.sleep(0, web.json_response({"error": "rate_limit"}, status=429))
    async with client_for(server, rate_limit=RateLimit(cooldown=300, max_wait=5), retry=FAST_RETRY) as client:
        with pytest.raises(RateLimitError) as info:
            await client.smart_trades.cancel(1)
    assert info.value.retry_after == pytest.approx(300, abs=1)
    assert server.count() == 1


async def test_plan_429_is_permission_denied_and_not_retried(server: Scripted) -> None:
    server.handler = lambda r: asyncio.sleep(
        0,
        web.json_response(
            {"error": "access_denied", "error_description": "Not available for your subscription plan"},
            status=429,
        ),
    )
    async with client_for(server, retry=FAST_RETRY) as client:
        with pytest.raises(PermissionDeniedError):
            await client.smart_trades.get(1)
        await asyncio.sleep(0)
    assert server.count() == 1


# -- 418 ------------------------------------------------------------------------------------------------
async def test_418_fails_fast_and_later_calls_send_nothing(
    server: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    server.handler = lambda r: asyncio.sleep(0, web.Response(status=418, headers={"Retry-After": "600"}))
    async with client_for(server, retry=FAST_RETRY, rate_limit=None) as client:
        with pytest.raises(IPBannedError) as info:
            await client.smart_trades.cancel(1)
        assert info.value.retry_after == pytest.approx(600)
        for call in (client.smart_trades.get(2), client.smart_trades.cancel(3), client.request("GET", "/x")):
            with pytest.raises(IPBannedError) as later:
                await call
            assert 590 < (later.value.retry_after or 0) <= 600
    assert server.count() == 1
    assert "418" in caplog.text


async def test_ban_ends_when_it_should(server: Scripted) -> None:
    banned = True

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=418, headers={"Retry-After": "0.2"}) if banned else await ok(request)

    server.handler = handler
    async with client_for(server, retry=None) as client:
        with pytest.raises(IPBannedError):
            await client.smart_trades.get(1)
        banned = False
        with pytest.raises(IPBannedError):
            await client.smart_trades.get(1)
        await asyncio.sleep(0.25)
        assert (await client.smart_trades.get(1)).id == 1
    assert server.count() == 2


# -- retries --------------------------------------------------------------------------------------------
def reset_after_processing(times: int) -> Handler:
    seen = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal seen
        seen += 1
        if seen <= times:
            assert request.transport is not None
            request.transport.close()  # the server did the work; the client never hears about it
            raise asyncio.CancelledError
        return await ok(request)

    return handler


async def test_post_that_may_have_been_processed_is_not_retried(server: Scripted) -> None:
    server.handler = reset_after_processing(1)
    async with client_for(server, retry=FAST_RETRY) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.smart_trades.close_by_market(1)
    assert info.value.maybe_sent is True
    assert server.count("POST") == 1


async def test_delete_is_retried_after_a_broken_connection(server: Scripted) -> None:
    server.handler = reset_after_processing(1)
    async with client_for(server, retry=FAST_RETRY) as client:
        trade = await client.smart_trades.cancel(1)
    assert trade.id == 1
    assert server.count("DELETE") == 2


async def test_post_is_retried_when_it_never_left() -> None:
    events: list[ClientEvent] = []
    async with ThreeCommasClient(
        "key", "secret", base_url="http://127.0.0.1:9/public/api", retry=FAST_RETRY, event_hook=events.append
    ) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.smart_trades.create({"account_id": 1, "pair": "USDT_BTC"})
    assert info.value.maybe_sent is False
    assert [e.attempt for e in events if e.kind == "retry"] == [1, 2]


async def test_5xx_retried_for_get_not_for_post(server: Scripted, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="threecommas_async")
    server.handler = lambda r: asyncio.sleep(0, web.json_response({"error": "unknown_error"}, status=503))
    async with client_for(server, retry=FAST_RETRY) as client:
        with pytest.raises(ServerError):
            await client.smart_trades.get(1)
        assert server.count("GET") == 3
        with pytest.raises(ServerError):
            await client.smart_trades.force_start(1)
        assert server.count("POST") == 1
    assert "retrying GET /v2/smart_trades/1: attempt 1 failed (ServerError, status 503)" in caplog.text
    assert "secret" not in caplog.text


async def test_the_budget_stops_a_storm(server: Scripted) -> None:
    server.handler = lambda r: asyncio.sleep(0, web.json_response({"error": "unknown_error"}, status=500))
    policy = RetryPolicy(max_attempts=5, backoff_base=0.001, backoff_max=0.002, budget=10, retry_cost=5)
    async with client_for(server, retry=policy, rate_limit=None) as client:
        results = await asyncio.gather(
            *(client.smart_trades.get(i + 1) for i in range(20)), return_exceptions=True
        )
    assert all(isinstance(r, ServerError) for r in results)
    assert server.count() == 20 + 2  # 10 tokens pay for exactly two retries in all


async def test_deadline_bounds_retries(server: Scripted) -> None:
    server.handler = lambda r: asyncio.sleep(0, web.json_response({"error": "unknown_error"}, status=502))
    policy = RetryPolicy(max_attempts=50, backoff_base=0.05, backoff_max=0.05, deadline=0.2)
    async with client_for(server, retry=policy) as client:
        started = now()
        with pytest.raises(ServerError):
            await client.smart_trades.get(1)
    assert now() - started < 0.4
    assert 2 <= server.count() < 50


async def test_timeout_is_typed_and_retried_for_get(server: Scripted) -> None:
    from threecommas_async import APITimeoutError

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1)
        return await ok(request)

    server.handler = slow
    async with client_for(server, retry=FAST_RETRY, timeout=0.1) as client:
        with pytest.raises(APITimeoutError) as info:
            await client.smart_trades.get(1)
    assert "timed out" in str(info.value)
    assert server.count() == 3


async def test_a_failing_event_hook_does_not_break_requests(
    server: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    async def flaky(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            return web.json_response({"error": "unknown_error"}, status=503)
        return await ok(request)

    def broken_hook(event: ClientEvent) -> None:
        raise RuntimeError("bug in the user's metrics code")

    server.handler = flaky
    async with client_for(server, retry=FAST_RETRY, event_hook=broken_hook) as client:
        trade = await client.smart_trades.get(1)
    assert trade.id == 1
    assert "event_hook raised on retry event" in caplog.text


async def test_waiters_fail_fast_when_a_ban_arrives(server: Scripted) -> None:
    async def banned(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.05)
        return web.Response(status=418, headers={"Retry-After": "60"})

    server.handler = banned
    limit = RateLimit(max_rate=1, time_period=5.0, endpoints={})
    async with client_for(server, rate_limit=limit, retry=None) as client:
        started = now()
        results = await asyncio.gather(
            *(client.smart_trades.get(i + 1) for i in range(5)), return_exceptions=True
        )
    assert all(isinstance(r, IPBannedError) for r in results)
    assert now() - started < 1.0  # the four waiters did not sit out the 5 s window
    assert server.count() == 1


async def test_redirects_are_errors_and_never_followed(server: Scripted) -> None:
    async def redirect(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/elsewhere"):
            return await ok(request)
        raise web.HTTPFound("/elsewhere")

    server.handler = redirect
    async with client_for(server, retry=FAST_RETRY) as client:
        with pytest.raises(APIError) as info:
            await client.smart_trades.create({"account_id": 1, "pair": "USDT_BTC"})
    assert info.value.status == 302
    assert [h.path for h in server.hits] == ["/public/api/v2/smart_trades"]  # the target never saw it


async def test_a_session_that_raises_for_status_still_maps_errors(server: Scripted) -> None:
    server.handler = lambda r: asyncio.sleep(0, web.Response(status=418, headers={"Retry-After": "60"}))
    async with (
        aiohttp.ClientSession(raise_for_status=True) as session,
        client_for(server, session=session, retry=FAST_RETRY) as client,
    ):
        with pytest.raises(IPBannedError):
            await client.smart_trades.get(1)
        with pytest.raises(IPBannedError):
            await client.smart_trades.get(2)
    assert server.count() == 1


async def test_plan_429_also_pauses_the_bucket(server: Scripted) -> None:
    server.handler = lambda r: asyncio.sleep(
        0,
        web.json_response(
            {"error": "access_denied", "error_description": "Upgrade your subscription plan"},
            status=429,
            headers={"Retry-After": "0.3"},
        ),
    )
    async with client_for(server, retry=FAST_RETRY) as client:
        with pytest.raises(PermissionDeniedError):
            await client.smart_trades.get(1)
        with pytest.raises(PermissionDeniedError):
            await client.smart_trades.get(1)
    first, second = server.hits
    assert second.at - first.at >= 0.29


@pytest.mark.parametrize("header", ["inf", "1e400", "nan", "soon"])
async def test_absurd_retry_after_cannot_block_forever(server: Scripted, header: str) -> None:
    server.handler = lambda r: asyncio.sleep(0, web.Response(status=418, headers={"Retry-After": header}))
    async with client_for(server, retry=None) as client:
        with pytest.raises(IPBannedError) as info:
            await client.smart_trades.get(1)
        assert info.value.retry_after == 120  # unusable header: the configured ban duration applies
        with pytest.raises(IPBannedError) as later:
            await client.smart_trades.get(1)
        assert later.value.retry_after is not None and later.value.retry_after <= 120


async def test_bans_without_retry_after_grow(server: Scripted) -> None:
    server.handler = lambda r: asyncio.sleep(0, web.Response(status=418))
    limit = RateLimit(ban_duration=0.05)
    async with client_for(server, retry=None, rate_limit=limit) as client:
        waits = []
        for _ in range(3):
            with pytest.raises(IPBannedError):
                await client.smart_trades.get(1)
            with pytest.raises(IPBannedError) as refused:
                await client.smart_trades.get(1)
            waits.append(refused.value.retry_after or 0)
            await asyncio.sleep(waits[-1] + 0.01)
    assert waits[0] < waits[1] < waits[2]
    assert server.count() == 3


async def test_ban_arriving_during_a_cooldown_sleep_is_honoured_without_a_limiter(server: Scripted) -> None:
    server.handler = lambda r: asyncio.sleep(
        0, web.json_response({"error": "rate_limit"}, status=429, headers={"Retry-After": "0.3"})
    )
    async with client_for(server, retry=None, rate_limit=None) as client:
        with pytest.raises(RateLimitError):
            await client.smart_trades.get(1)
        sleeper = asyncio.create_task(client.smart_trades.get(2))  # sleeps out the cool-down
        await asyncio.sleep(0.1)
        # Another caller's request meets a ban while the sleeper sleeps (as if from a concurrent call).
        await client._gate.on_banned(600, "GET", "/x")
        with pytest.raises(IPBannedError):
            await sleeper
    assert server.count() == 1  # the sleeper saw the ban when it woke and sent nothing
