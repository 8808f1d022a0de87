"""Many tenants on one pool: sibling clients for other API keys, the admission queue in front of the pool,
and a pool warmed before the panic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from threecommas_async import ClientClosedError, ClientEvent, RateLimit, ThreeCommasClient
from threecommas_async.testing import FakeThreeCommas

from ._loopback import serve
from .conftest import fixture_bytes

pytestmark = pytest.mark.integration

SEED = fixture_bytes("cancel_smart_trade_200.json")


async def test_siblings_share_the_pool_but_not_the_allowance_or_the_secrets() -> None:
    async with FakeThreeCommas(rate_limit=None) as server:
        keys = [server.new_key() for _ in range(3)] if hasattr(server, "new_key") else None
        if keys is None:  # before the fake could make key pairs
            keys = []
            for i in range(3):
                key, secret = f"tenant-{i}", f"secret-of-tenant-{i}-" + "x" * 30
                server.add_key(key, secret=secret)
                keys.append((key, secret))
        ids = server.seed_trades(3)
        limit = RateLimit(max_rate=2, time_period=60.0, endpoints={}, reserve=0)
        async with ThreeCommasClient(
            server.api_key, server.api_secret, base_url=server.base_url, rate_limit=limit
        ) as parent:
            tenants = [parent.with_credentials(key, api_secret=secret) for key, secret in keys]
            # Two requests each go at once: every tenant has its own window of two.
            trades = await asyncio.wait_for(
                asyncio.gather(*(t.smart_trades.get(id) for t, id in zip(tenants * 2, ids * 2, strict=True))),
                5,
            )
            assert [t.id for t in trades] == ids * 2
            assert all(t._transport is parent._transport for t in tenants)
            session = parent._transport._session
            assert session is not None and session.connector is not None
            # No tenant shows another's secret, or its own.
            for tenant, (_, secret) in zip(tenants, keys, strict=True):
                assert all(s not in repr(tenant) for _, s in keys)
                assert secret not in repr(tenant._gate) + repr(tenant._signer)
            await tenants[0].close()  # a sibling's close stops that sibling only
            assert tenants[0].closed and not session.closed
            with pytest.raises(ClientClosedError):
                await tenants[0].smart_trades.get(ids[0])
            third = asyncio.create_task(tenants[1].smart_trades.get(ids[1]))
            await asyncio.sleep(0.2)
            assert not third.done()  # its own window of two is full: the siblings' are not its own
            third.cancel()
        assert session.closed  # the parent's close closed the pool for all
        with pytest.raises(ClientClosedError):
            await tenants[2].smart_trades.get(ids[2])
    assert {r.api_key for r in server.requests} == {key for key, _ in keys}


@dataclass
class Slow:
    base_url: str = ""
    connections: set[tuple[str, int]] = field(default_factory=set)
    requests: int = 0


@pytest.fixture
async def slow() -> AsyncIterator[Slow]:
    """Answers after 200 ms (a far-away server); remembers every connection it saw."""
    state = Slow()

    async def handle(request: web.Request) -> web.StreamResponse:
        state.requests += 1
        await asyncio.sleep(0.2)
        return web.Response(
            body=SEED.replace(b'"id": 30404547,', b'"id": 1,', 1), content_type="application/json"
        )

    async def on_connect(request: web.Request, response: web.StreamResponse) -> None:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer is not None:
            state.connections.add(peer[:2])

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    app.on_response_prepare.append(on_connect)
    runner, state.base_url = await serve(app)
    yield state
    await runner.cleanup()


@pytest.mark.virtual_clock
async def test_a_wait_for_a_pooled_connection_is_ours_and_costs_no_timeout_or_retry(slow: Slow) -> None:
    events: list[ClientEvent] = []
    connector = aiohttp.TCPConnector(limit=2)
    # 150 requests through 2 connections at 200 ms each: 15 s, longer than the 10 s connect timeout
    # aiohttp would count the wait for a free connection against.
    limits = aiohttp.ClientTimeout(total=30, connect=10)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        ThreeCommasClient(
            "k",
            "s",
            base_url=slow.base_url,
            session=session,
            rate_limit=None,
            event_hook=events.append,
            timeout=limits,
        ) as client,
    ):
        trades = await asyncio.gather(*(client.smart_trades.get(1) for _ in range(150)))
        budget = client._budget
    assert len(trades) == 150 and slow.requests == 150
    assert [e for e in events if e.kind == "retry"] == []
    assert budget is not None and budget.tokens == budget.capacity


async def test_warm_up_opens_connections_without_sending_a_request(slow: Slow) -> None:
    async with ThreeCommasClient("k", "s", base_url=slow.base_url, rate_limit=None) as client:
        assert await client.warm_up(4) == 4
        assert slow.requests == 0  # 3Commas counts nothing
        await asyncio.gather(*(client.smart_trades.get(1) for _ in range(4)))
    assert slow.requests == 4
    assert len(slow.connections) == 4  # the four requests found the four warm connections
