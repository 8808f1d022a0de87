"""Every SmartTrade endpoint through the typed client against the fake 3Commas on loopback: the shapes
the fake serves decode into our Structs, and the state changes are the ones 3Commas documents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from threecommas_async import (
    AddFundsParams,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    ReduceFundsParams,
    SmartTrade,
    SmartTradeCreate,
    SmartTradeUpdate,
    ThreeCommasClient,
    UnprocessableEntityError,
)
from threecommas_async.models import (
    PositionParams,
    PriceParams,
    TakeProfitParams,
    TakeProfitStepParams,
    UnitsParams,
)
from threecommas_async.testing import FakeThreeCommas

pytestmark = pytest.mark.integration

CREATE = SmartTradeCreate(
    account_id=7,
    pair="USDT_ETH",
    note="integration",
    position=PositionParams(type="buy", order_type="market", units=UnitsParams(value=Decimal("2"))),
    take_profit=TakeProfitParams(
        enabled=True,
        steps=[
            TakeProfitStepParams(
                order_type="limit",
                price=PriceParams(value=Decimal("4000"), type="bid"),
                volume=Decimal("100"),
            )
        ],
    ),
)


@pytest.fixture
async def client() -> AsyncIterator[tuple[FakeThreeCommas, ThreeCommasClient]]:
    async with (
        FakeThreeCommas(rate_limit=None, cancel_delay=0) as server,
        ThreeCommasClient(server.api_key, server.api_secret, base_url=server.base_url) as c,
    ):
        yield server, c


def status(trade: SmartTrade) -> str | None:
    return trade.status.type if trade.status is not None else None


async def test_lifecycle_of_a_smart_trade(client: tuple[FakeThreeCommas, ThreeCommasClient]) -> None:
    server, c = client
    st = c.smart_trades
    created = await st.create(CREATE)
    assert created.id is not None and created.pair == "USDT_ETH" and status(created) == "created"
    assert created.position is not None and created.position.units is not None
    assert created.position.units.value == Decimal("2")
    id = created.id

    got = await st.get(id)
    assert got.id == id and status(got) == "waiting_targets"
    assert got.data is not None and got.data.created_at is not None and got.data.created_at.tzinfo is not None

    listed = await st.list(account_id=7, status="active")
    assert [t.id for t in listed] == [id]
    assert await st.list(account_id=999) == []

    noted = await st.set_note(id, "hedged")
    assert noted.note == "hedged"

    info = await st.reduce_funds_info(id)
    assert info.max_reduce_funds_amount is not None and 0 < info.max_reduce_funds_amount < Decimal("2")

    more = await st.add_funds(id, AddFundsParams(order_type="market", units=UnitsParams(value=Decimal("1"))))
    assert more.position is not None and more.position.units is not None
    assert more.position.units.value == Decimal("3")
    less = await st.reduce_funds(
        id, ReduceFundsParams(order_type="market", units=UnitsParams(value=Decimal("1")))
    )
    assert less.position is not None and less.position.units is not None
    assert less.position.units.value == Decimal("2")

    orders = await st.trades(id)
    assert orders and all(o.id is not None for o in orders)
    purposes = {o.trade_purpose for o in orders}
    assert "position" in purposes and "take_profit" in purposes

    step = next(o for o in orders if o.trade_purpose == "take_profit")
    assert step.id is not None
    without_tp = await st.cancel_trade(id, step.id)
    assert without_tp.take_profit is None or not without_tp.take_profit.steps

    cancelled = await st.cancel(id)
    assert status(cancelled) == "cancellation_pending"
    assert status(await st.get(id)) == "cancelled"
    assert server.trade_status(id) == "cancelled"
    with pytest.raises((PermissionDeniedError, UnprocessableEntityError)):
        await st.cancel(id)


async def test_waiting_trade_update_force_start_and_panic_close(
    client: tuple[FakeThreeCommas, ThreeCommasClient],
) -> None:
    server, c = client
    st = c.smart_trades
    (id,) = server.seed_trades(1, status="waiting_position")
    updated = await st.update(
        id, SmartTradeUpdate(position=PositionParams(units=UnitsParams(value=Decimal("0.5"))))
    )
    assert updated.position is not None and updated.position.units is not None
    assert updated.position.units.value == Decimal("0.5")
    started = await st.force_start(id)
    assert status(started) == "waiting_targets"
    with pytest.raises((PermissionDeniedError, UnprocessableEntityError)):
        await st.force_start(id)  # already started
    closing = await st.close_by_market(id)
    assert status(closing) == "panic_sell_pending"
    assert server.trade_status(id) == "finished"
    with pytest.raises((PermissionDeniedError, UnprocessableEntityError)):
        await st.update(id, {"leverage": {"enabled": False}})  # only while waiting


async def test_iterate_walks_every_page(client: tuple[FakeThreeCommas, ThreeCommasClient]) -> None:
    server, c = client
    ids = set(server.seed_trades(23, {"pair": "USDT_SOL"}))
    seen = [t.id async for t in c.smart_trades.iterate(pair="USDT_SOL", per_page=5)]
    assert len(seen) == 23 and set(seen) == ids
    assert server.stats.by_route["list"] == 5  # 5 + 5 + 5 + 5 + 3: the short page ends it


async def test_errors_from_the_fake_are_typed(client: tuple[FakeThreeCommas, ThreeCommasClient]) -> None:
    server, c = client
    with pytest.raises(NotFoundError):
        await c.smart_trades.get(123)
    with pytest.raises(UnprocessableEntityError) as invalid:
        await c.smart_trades.create({"pair": "USDT_BTC"})
    assert "account_id" in invalid.value.error_attributes
    async with ThreeCommasClient(server.api_key, "wrong-secret", base_url=server.base_url) as bad:
        with pytest.raises(AuthenticationError) as info:
            await bad.smart_trades.get(1)
    assert info.value.error == "signature_invalid"
    assert "wrong-secret" not in str(info.value)


async def test_rsa_key_end_to_end(rsa_private_key: str) -> None:
    async with FakeThreeCommas(rate_limit=None) as server:
        server.add_key("rsa-key", public_key=rsa_private_key)
        (id,) = server.seed_trades(1)
        async with ThreeCommasClient("rsa-key", private_key=rsa_private_key, base_url=server.base_url) as c:
            assert (await c.smart_trades.cancel(id)).id == id
