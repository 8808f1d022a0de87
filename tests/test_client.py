"""Client construction, lifecycle, and every SmartTrade endpoint's method, path, body and decoding."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from threecommas_async import (
    APIConnectionError,
    SmartTrade,
    SmartTradeCreate,
    ThreeCommasClient,
    Trade,
)

from .conftest import EchoServer, fixture_bytes

pytestmark = pytest.mark.integration

BASE = "https://api.3commas.io/public/api"
KEY = "k" * 64
SECRET = "S3CR3T-" + "x" * 57
SEED = fixture_bytes("cancel_smart_trade_200.json")


def make_client(**kw: Any) -> ThreeCommasClient:
    return ThreeCommasClient(KEY, SECRET, rate_limit=None, retry=None, **kw)


# -- construction -------------------------------------------------------------------------------------
def test_exactly_one_key_kind(rsa_private_key: str) -> None:
    with pytest.raises(ValueError, match="not both"):
        ThreeCommasClient(KEY, SECRET, rsa_private_key)
    with pytest.raises(ValueError, match="required"):
        ThreeCommasClient(KEY)
    with pytest.raises(ValueError, match="api_key"):
        ThreeCommasClient("", SECRET)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"base_url": "api.3commas.io"}, "base_url"),
        ({"base_url": "ftp://x/public/api"}, "base_url"),
        ({"forced_mode": "demo"}, "forced_mode"),
        ({"timeout": 0}, "timeout"),
        ({"base_url": "https://user:pw@api.3commas.io/public/api"}, "credentials"),
    ],
)
def test_bad_configuration_is_named(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ThreeCommasClient(KEY, SECRET, **kwargs)


def test_repr_hides_secrets(rsa_private_key: str) -> None:
    for client in (make_client(), ThreeCommasClient(KEY, private_key=rsa_private_key)):
        state = {name: getattr(client, name) for name in ThreeCommasClient.__slots__}
        text = repr(client) + str(client) + repr(state)
        assert SECRET not in text
        assert "MIIE" not in text


def test_default_timeout_is_finite() -> None:
    client = make_client()
    assert client._timeout.total is not None and 0 < client._timeout.total <= 60


# -- lifecycle ----------------------------------------------------------------------------------------
async def test_one_session_reused_and_closed() -> None:
    client = make_client()
    assert client._transport._session is None  # lazily created inside the loop
    with aioresponses() as mock:
        mock.get(f"{BASE}/v2/smart_trades/1", body=SEED, repeat=True)
        await client.smart_trades.get(1)
        session = client._transport._session
        assert session is not None
        await client.smart_trades.get(1)
        assert client._transport._session is session
    await client.close()
    assert session.closed
    await client.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await client.smart_trades.get(1)


async def test_session_passed_in_is_never_closed() -> None:
    async with aiohttp.ClientSession() as session:
        async with ThreeCommasClient(KEY, SECRET, session=session, retry=None) as client:
            with aioresponses() as mock:
                mock.get(f"{BASE}/v2/smart_trades/1", body=SEED)
                await client.smart_trades.get(1)
            assert client._transport._session is session
        assert not session.closed


async def test_forced_mode_and_headers_sent(echo_server: EchoServer, vectors: dict[str, Any]) -> None:
    async with ThreeCommasClient(
        vectors["api_key"], vectors["hmac_secret"], base_url=echo_server.base_url, forced_mode="paper"
    ) as client:
        await client.smart_trades.get(7)
    got = echo_server.received[-1]
    assert got.headers["Forced-Mode"] == "paper"
    assert got.headers["Apikey"] == vectors["api_key"]
    assert got.raw_path == "/public/api/v2/smart_trades/7"


async def test_connection_refused_is_typed_and_not_sent() -> None:
    async with ThreeCommasClient(KEY, SECRET, base_url="http://127.0.0.1:9/public/api", retry=None) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.smart_trades.get(1)
    assert info.value.maybe_sent is False
    assert "GET /v2/smart_trades/1" in str(info.value)


# -- every endpoint -----------------------------------------------------------------------------------
Call = Callable[[ThreeCommasClient], Awaitable[Any]]
TRADES = fixture_bytes("trades_200.json")
LIST = fixture_bytes("list_smart_trades_200.json")

ENDPOINTS: list[tuple[str, str, str, Call, bytes, Any]] = [
    # The fixture is SmartTrade 30404547 in cancellation_pending: a cancel checks that the answer is it.
    ("cancel", "DELETE", "/v2/smart_trades/30404547", lambda c: c.smart_trades.cancel(30404547), SEED, None),
    ("get", "GET", "/v2/smart_trades/5", lambda c: c.smart_trades.get(5), SEED, None),
    (
        "list",
        "GET",
        "/v2/smart_trades?account_id=3&status=active&page=2&per_page=50&from=2024-01-01",
        lambda c: c.smart_trades.list(account_id=3, status="active", page=2, per_page=50, from_="2024-01-01"),
        LIST,
        None,
    ),
    (
        "create",
        "POST",
        "/v2/smart_trades",
        lambda c: c.smart_trades.create({"account_id": 1, "pair": "USDT_BTC"}),
        SEED,
        {"account_id": 1, "pair": "USDT_BTC"},
    ),
    (
        "update",
        "PATCH",
        "/v2/smart_trades/5",
        lambda c: c.smart_trades.update(5, {"leverage": {"enabled": False}}),
        SEED,
        {"leverage": {"enabled": False}},
    ),
    (
        "add_funds",
        "POST",
        "/v2/smart_trades/5/add_funds",
        lambda c: c.smart_trades.add_funds(5, {"order_type": "market", "units": {"value": "1.5"}}),
        SEED,
        {"order_type": "market", "units": {"value": "1.5"}},
    ),
    (
        "reduce_funds",
        "POST",
        "/v2/smart_trades/5/reduce_funds",
        lambda c: c.smart_trades.reduce_funds(5, {"order_type": "market", "units": {"value": "1"}}),
        SEED,
        {"order_type": "market", "units": {"value": "1"}},
    ),
    (
        "close_by_market",
        "POST",
        "/v2/smart_trades/5/close_by_market",
        lambda c: c.smart_trades.close_by_market(5),
        SEED,
        None,
    ),
    (
        "force_start",
        "POST",
        "/v2/smart_trades/5/force_start",
        lambda c: c.smart_trades.force_start(5),
        SEED,
        None,
    ),
    (
        "force_process",
        "POST",
        "/v2/smart_trades/5/force_process",
        lambda c: c.smart_trades.force_process(5),
        SEED,
        None,
    ),
    (
        "set_note",
        "POST",
        "/v2/smart_trades/5/set_note",
        lambda c: c.smart_trades.set_note(5, "hi"),
        SEED,
        {"note": "hi"},
    ),
    ("trades", "GET", "/v2/smart_trades/5/trades", lambda c: c.smart_trades.trades(5), TRADES, None),
    (
        "close_trade_by_market",
        "POST",
        "/v2/smart_trades/5/trades/9/close_by_market",
        lambda c: c.smart_trades.close_trade_by_market(5, 9),
        SEED,
        None,
    ),
    (
        "cancel_trade",
        "DELETE",
        "/v2/smart_trades/5/trades/9",
        lambda c: c.smart_trades.cancel_trade(5, 9),
        SEED,
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "method", "path", "call", "answer", "sent_json"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS]
)
async def test_endpoint(name: str, method: str, path: str, call: Call, answer: bytes, sent_json: Any) -> None:
    async with make_client() as client:
        with aioresponses() as mock:
            mock.add(URL(BASE + path), method=method, body=answer, status=200)
            result = await call(client)
            ((key, calls),) = mock.requests.items()
    assert key[0] == method
    expected_url = URL(BASE + path)
    assert key[1].path == expected_url.path
    assert dict(key[1].query) == dict(expected_url.query)
    kwargs = calls[0].kwargs
    assert "Signature" in dict(kwargs["headers"])
    if sent_json is None:
        assert kwargs["data"] is None
    else:
        assert json.loads(kwargs["data"]) == sent_json
    expected = json.loads(answer)
    if isinstance(expected, list):
        assert isinstance(result, list) and len(result) == len(expected)
        assert all(isinstance(r, Trade if name == "trades" else SmartTrade) for r in result)
        assert [r.id for r in result] == [e["id"] for e in expected]
    else:
        assert isinstance(result, SmartTrade)
        assert result.id == expected["id"]


async def test_reduce_funds_info() -> None:
    async with make_client() as client:
        with aioresponses() as mock:
            mock.get(
                f"{BASE}/v2/smart_trades/5/reduce_funds_info", body=b'{"max_reduce_funds_amount": "28.8195"}'
            )
            info = await client.smart_trades.reduce_funds_info(5)
    assert info.max_reduce_funds_amount == Decimal("28.8195")


async def test_struct_params_send_the_same_bytes_as_a_mapping() -> None:
    params = SmartTradeCreate(account_id=1, pair="USDT_BTC")
    async with make_client() as client:
        with aioresponses() as mock:
            mock.post(f"{BASE}/v2/smart_trades", body=SEED, repeat=True)
            await client.smart_trades.create(params)
            await client.smart_trades.create({"account_id": 1, "pair": "USDT_BTC"})
            ((_, calls),) = mock.requests.items()
    assert calls[0].kwargs["data"] == calls[1].kwargs["data"]


async def test_iterate_pages_until_a_short_page() -> None:
    one = json.loads(SEED)
    page = json.dumps([{**one, "id": i} for i in range(3)]).encode()
    short = json.dumps([{**one, "id": 99}]).encode()
    async with make_client() as client:
        with aioresponses() as mock:
            mock.get(f"{BASE}/v2/smart_trades?pair=USDT_DOGE&page=1&per_page=3", body=page)
            mock.get(f"{BASE}/v2/smart_trades?pair=USDT_DOGE&page=2&per_page=3", body=page)
            mock.get(f"{BASE}/v2/smart_trades?pair=USDT_DOGE&page=3&per_page=3", body=short)
            ids = [t.id async for t in client.smart_trades.iterate(pair="USDT_DOGE", per_page=3)]
    assert ids == [0, 1, 2, 0, 1, 2, 99]


async def test_empty_delete_answer_is_followed_by_a_get() -> None:
    async with make_client() as client:
        with aioresponses() as mock:
            mock.delete(f"{BASE}/v2/smart_trades/5", status=204, body=b"")
            mock.get(f"{BASE}/v2/smart_trades/5", body=SEED)
            trade = await client.smart_trades.cancel(5)
    assert trade.status is not None and trade.status.type == "cancellation_pending"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda c: c.smart_trades.get(0), "id must be a positive integer"),
        (lambda c: c.smart_trades.get("5"), "id must be a positive integer"),
        (lambda c: c.smart_trades.get(True), "id must be a positive integer"),
        (lambda c: c.smart_trades.cancel_trade(5, -1), "trade_id must be a positive integer"),
        (lambda c: c.smart_trades.list(per_page=101), "per_page"),
        (lambda c: c.smart_trades.list(page=0), "page"),
        (lambda c: c.smart_trades.list(order_direction="up"), "order_direction"),
        (lambda c: c.smart_trades.set_note(5, ""), "note"),
        (lambda c: c.smart_trades.set_note(5, "x" * 301), "note"),
        (lambda c: c.smart_trades.create(None), "params"),
        (lambda c: c.smart_trades.create({"x": object()}), "cannot be encoded"),
        (lambda c: c.request("GET", "v2/smart_trades"), "path must start"),
    ],
)
async def test_bad_input_raises_before_sending(call: Call, match: str) -> None:
    async with make_client() as client:
        with aioresponses() as mock:
            with pytest.raises((ValueError, TypeError), match=match):
                await call(client)
            assert not mock.requests


async def test_no_secret_in_logs(
    caplog: pytest.LogCaptureFixture, echo_server: EchoServer, vectors: dict[str, Any]
) -> None:
    caplog.set_level(logging.DEBUG)
    async with ThreeCommasClient(
        vectors["api_key"], vectors["hmac_secret"], base_url=echo_server.base_url
    ) as c:
        await c.smart_trades.get(1)
    signature = echo_server.received[-1].headers["Signature"]
    assert vectors["hmac_secret"] not in caplog.text
    assert signature not in caplog.text


def test_limits_and_policies_are_validated_and_immutable() -> None:
    from threecommas_async import EndpointLimit, RateLimit, RetryPolicy

    with pytest.raises(ValueError, match="max_rate"):
        EndpointLimit(max_rate=0.5, time_period=1, cooldown=1)
    with pytest.raises(ValueError, match="max_rate"):
        RateLimit(max_rate=0)
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(TypeError, match="EndpointLimit"):
        RateLimit(endpoints={"GET /x": (1, 2, 3)})  # type: ignore[dict-item]
    limit = RateLimit()
    with pytest.raises(AttributeError):
        limit.max_rate = 1000  # type: ignore[misc]
    with pytest.raises(TypeError):
        limit.endpoints["GET /x"] = EndpointLimit(1, 1, 1)  # type: ignore[index]


def test_query_values_are_encoded_for_the_wire() -> None:
    import enum
    from datetime import UTC, datetime

    from threecommas_async._encoding import encode_query

    class Side(enum.Enum):
        BUY = "buy"

    query = encode_query(
        {
            "a": Decimal("0.0000001"),
            "b": Side.BUY,
            "c": True,
            "d": [1, 2],
            "e": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            "f": None,
        }
    )
    assert query == "a=0.0000001&b=buy&c=true&d%5B%5D=1&d%5B%5D=2&e=2024-01-02T03%3A04%3A05%2B00%3A00"
    with pytest.raises(TypeError, match="'g'"):
        encode_query({"g": b"raw"})


async def test_delete_through_request_is_risk_reducing(monkeypatch: pytest.MonkeyPatch) -> None:
    from threecommas_async._gate import Gate
    from threecommas_async._routes import RISK_REDUCING

    seen: list[tuple[str, int]] = []
    real = Gate.acquire

    async def spy(self: Gate, endpoint: str, priority: int, method: str, url: str) -> int:
        seen.append((endpoint, priority))
        return await real(self, endpoint, priority, method, url)

    monkeypatch.setattr(Gate, "acquire", spy)
    async with make_client() as client:
        with aioresponses() as mock:
            mock.delete(f"{BASE}/ver1/deals/12/cancel", body=b"{}")
            await client.request("DELETE", "/ver1/deals/12/cancel")
    assert seen == [("DELETE /ver1/deals/{id}/cancel", RISK_REDUCING)]
