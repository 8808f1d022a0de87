"""FakeThreeCommas SmartTrade state: cancel semantics, list filters and paging, create and the actions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from threecommas_async._signing import SigningMiddleware
from threecommas_async.testing import FakeThreeCommas, ManualClock

FIXTURES = Path(__file__).parent / "fixtures"
SEED = json.loads((FIXTURES / "cancel_smart_trade_200.json").read_text())

pytestmark = [pytest.mark.integration, pytest.mark.fake_3commas(rate_limit=None, cancel_delay=0)]

LIMIT_BUY: dict[str, Any] = {
    "account_id": 7,
    "pair": "USDT_ETH",
    "position": {"type": "buy", "order_type": "limit", "units": {"value": "2"}, "price": {"value": "2900"}},
    "take_profit": {
        "enabled": True,
        "steps": [
            {"order_type": "limit", "volume": "50", "price": {"value": "3100", "type": "last"}},
            {"order_type": "limit", "volume": "50", "price": {"percent": "10", "type": "last"}},
        ],
    },
    "stop_loss": {
        "enabled": True,
        "order_type": "market",
        "conditional": {"price": {"value": "2500", "type": "bid"}},
    },
}


class Api:
    """A signed aiohttp session bound to one fake server."""

    def __init__(self, server: FakeThreeCommas, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.server.base_url + path, **kwargs) as resp:
            return resp.status, await resp.json()

    async def ok(self, method: str, path: str, expected: int = 200, **kwargs: Any) -> Any:
        status, body = await self.call(method, path, **kwargs)
        assert status == expected, body
        return body

    async def list_ids(self, **params: Any) -> list[int]:
        body = await self.ok("GET", "/v2/smart_trades", params=params)
        return [t["id"] for t in body]

    def advance(self, seconds: float) -> None:
        """Move the server's ManualClock (tests that wait for a delayed transition)."""
        clock = self.server.clock
        assert isinstance(clock, ManualClock)
        clock.advance(seconds)


@pytest.fixture
async def api(fake_3commas: FakeThreeCommas) -> AsyncIterator[Api]:
    mw = SigningMiddleware(
        fake_3commas.api_key, api_secret=fake_3commas.api_secret, base_url=fake_3commas.base_url
    )
    async with aiohttp.ClientSession(middlewares=(mw,)) as session:
        yield Api(fake_3commas, session)


def key_paths(obj: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON document (list items merged), e.g. ``take_profit.steps[].price.value``."""
    out: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(prefix + k)
            out |= key_paths(v, prefix + k + ".")
    elif isinstance(obj, list):
        for item in obj:
            out |= key_paths(item, prefix.rstrip(".") + "[].")
    return out


# ------------------------------------------------------------------------------------------------ cancel


@pytest.mark.fake_3commas(rate_limit=None, cancel_delay=0.05, clock=ManualClock())
async def test_cancel_is_pending_then_cancelled_after_the_delay(api: Api) -> None:
    tid = api.server.add_trade()
    body = await api.ok("DELETE", f"/v2/smart_trades/{tid}")
    assert body["status"] == {
        "type": "cancellation_pending",
        "basic_type": "cancellation_pending",
        "title": "Cancelling",
    }
    assert body["data"]["cancel_available"] is False
    assert (await api.ok("GET", f"/v2/smart_trades/{tid}"))["status"]["type"] == "cancellation_pending"
    api.advance(0.0499)
    assert (await api.ok("GET", f"/v2/smart_trades/{tid}"))["status"]["type"] == "cancellation_pending"
    api.advance(0.0001)
    later = await api.ok("GET", f"/v2/smart_trades/{tid}")
    assert later["status"]["type"] == "cancelled"
    assert later["data"]["finished"] is True
    assert later["data"]["closed_at"].endswith("Z")


async def test_cancel_delay_zero_means_the_next_request_sees_cancelled(api: Api) -> None:
    tid = api.server.add_trade()
    assert (await api.ok("DELETE", f"/v2/smart_trades/{tid}"))["status"]["type"] == "cancellation_pending"
    assert (await api.ok("GET", f"/v2/smart_trades/{tid}"))["status"]["type"] == "cancelled"


@pytest.mark.fake_3commas(rate_limit=None, cancel_delay=None)
async def test_cancel_delay_none_waits_for_complete_pending(api: Api) -> None:
    tid = api.server.add_trade()
    await api.ok("DELETE", f"/v2/smart_trades/{tid}")
    assert api.server.trade_status(tid) == "cancellation_pending"
    api.server.complete_pending()
    assert api.server.trade_status(tid) == "cancelled"


@pytest.mark.fake_3commas(rate_limit=None, cancel_delay=0.03, clock=ManualClock())
async def test_pending_cancels_resolve_before_a_list_filters(api: Api) -> None:
    ids = api.server.seed_trades(3)
    for tid in ids:
        await api.ok("DELETE", f"/v2/smart_trades/{tid}")
    assert await api.list_ids(status="cancelled") == []
    api.advance(0.03)
    assert sorted(await api.list_ids(status="cancelled")) == ids


@pytest.mark.parametrize(
    "status", ["cancellation_pending", "cancelled", "finished", "failed", "panic_sell_pending"]
)
async def test_cancel_in_a_final_or_pending_state_is_403(api: Api, status: str) -> None:
    tid = api.server.add_trade(status=status)
    code, body = await api.call("DELETE", f"/v2/smart_trades/{tid}")
    assert code == 403
    assert body["error"] == "Forbidden"
    assert status in body["error_description"]
    assert api.server.trade_status(tid) == status


@pytest.mark.fake_3commas(rate_limit=None, cancel_delay=0, conflict_status=422)
async def test_conflict_status_422_option(api: Api) -> None:
    tid = api.server.add_trade(status="cancelled")
    code, body = await api.call("DELETE", f"/v2/smart_trades/{tid}")
    assert (code, body["error"]) == (422, "unprocessable_entity")


async def test_double_cancel_over_http(api: Api) -> None:
    tid = api.server.add_trade()
    await api.ok("DELETE", f"/v2/smart_trades/{tid}")
    code, _ = await api.call("DELETE", f"/v2/smart_trades/{tid}")
    assert code == 403


@pytest.mark.parametrize(
    "path", ["/v2/smart_trades/999", "/v2/smart_trades/999/trades", "/v2/smart_trades/abc"]
)
async def test_unknown_id_is_404_not_found(api: Api, path: str) -> None:
    code, body = await api.call("DELETE" if path.endswith("999") else "GET", path)
    assert code == 404
    assert body["error"] == "Not found"


# -------------------------------------------------------------------------------------------------- list


async def seed_mixed(server: FakeThreeCommas) -> dict[str, list[int]]:
    jan = datetime(2024, 1, 10, tzinfo=UTC)
    jun = datetime(2024, 6, 10, tzinfo=UTC)
    return {
        "btc_active": server.seed_trades(3, {"account_id": 1}, created_at=jan),
        "eth_active": server.seed_trades(2, {"account_id": 2, "pair": "USDT_ETH"}, created_at=jun),
        "finished": server.seed_trades(2, {"account_id": 1}, status="finished", created_at=jun),
        "cancelled": server.seed_trades(1, {"account_id": 2}, status="cancelled", created_at=jun),
        "failed": server.seed_trades(
            1, {"account_id": 1, "pair": "BTC_ETH"}, status="failed", created_at=jun
        ),
        "waiting": server.seed_trades(1, {"account_id": 3, "instant": True}, status="waiting_position"),
    }


async def test_list_filters(api: Api) -> None:
    g = await seed_mixed(api.server)
    everything = sorted(i for ids in g.values() for i in ids)
    s = sorted

    assert s(await api.list_ids(per_page=100)) == everything
    assert s(await api.list_ids(per_page=100, status="all")) == everything
    assert s(await api.list_ids(account_id=2, per_page=100)) == s(g["eth_active"] + g["cancelled"])
    assert s(await api.list_ids(pair="USDT_ETH")) == g["eth_active"]
    assert s(await api.list_ids(status="active")) == s(g["btc_active"] + g["eth_active"] + g["waiting"])
    assert s(await api.list_ids(status="finished")) == s(g["finished"] + g["cancelled"] + g["failed"])
    assert s(await api.list_ids(status="successfully_finished")) == g["finished"]
    assert s(await api.list_ids(status="successfully_finish")) == g["finished"]
    assert await api.list_ids(status="cancelled") == g["cancelled"]
    assert await api.list_ids(status="failed") == g["failed"]
    assert await api.list_ids(type="simple_buy") == g["waiting"]
    assert await api.list_ids(quote="BTC") == g["failed"]
    assert s(await api.list_ids(base="ETH")) == s(g["eth_active"] + g["failed"])
    assert s(await api.list_ids(to="2024-02-01T00:00:00Z")) == g["btc_active"]
    june_only = await api.list_ids(**{"from": "2024-06-01T00:00:00.000Z", "to": "2024-07-01"})
    assert s(june_only) == s(g["eth_active"] + g["finished"] + g["cancelled"] + g["failed"])


async def test_list_order(api: Api) -> None:
    old = api.server.add_trade(created_at=datetime(2023, 1, 1, tzinfo=UTC))
    new = api.server.add_trade(status="finished", created_at=datetime(2024, 1, 1, tzinfo=UTC))
    assert await api.list_ids(order_by="created_at", order_direction="ASC") == [old, new]
    assert await api.list_ids(order_by="created_at") == [new, old]  # DESC by default
    # Default order_by is status (DESC): "waiting_targets" > "finished".
    assert await api.list_ids() == [old, new]


async def test_list_pagination_bare_array_with_a_short_last_page(api: Api) -> None:
    ids = api.server.seed_trades(25)
    pages = []
    page = 1
    while True:
        got = await api.list_ids(page=page, per_page=10, order_by="created_at", order_direction="ASC")
        pages.append(got)
        if len(got) < 10:
            break
        page += 1
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for p in pages for i in p] == ids
    assert await api.list_ids() == ids[::-1][:10]  # per_page 10, ties (same status) by id DESC
    assert await api.list_ids(order_direction="ASC") == ids[:10]
    assert await api.list_ids(page=4) == []


@pytest.mark.parametrize(
    ("params", "attr"),
    [
        ({"per_page": 0}, "per_page"),
        ({"per_page": 101}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"page": 0}, "page"),
        ({"status": "sleeping"}, "status"),
        # Only the documented filters: exact status types are not list filters.
        ({"status": "waiting_targets"}, "status"),
        ({"status": "cancellation_pending"}, "status"),
        ({"status": "created"}, "status"),
        ({"status": "Cancelled"}, "status"),
        ({"order_by": "pair"}, "order_by"),
        ({"order_direction": "UP"}, "order_direction"),
        ({"from": "yesterday"}, "from"),
    ],
)
async def test_bad_list_parameters_are_400(api: Api, params: dict[str, Any], attr: str) -> None:
    code, body = await api.call("GET", "/v2/smart_trades", params=params)
    assert code == 400
    assert body["error"] == "Wrong param(s)"
    assert attr in body["error_attributes"]


# ------------------------------------------------------------------------------------------------ create


async def test_create_returns_a_full_smart_trade(api: Api) -> None:
    body = await api.ok("POST", "/v2/smart_trades", 201, json={**LIMIT_BUY, "note": "hello"})
    assert isinstance(body["id"], int)
    assert body["status"]["type"] == "created"
    assert body["account"]["id"] == 7
    assert body["pair"] == "USDT_ETH"
    assert body["note"] == "hello"
    assert body["position"]["units"]["value"] == "2.0"
    assert body["position"]["price"]["value"] == "2900.0"
    assert body["position"]["total"]["value"] == "5800.0"
    steps = body["take_profit"]["steps"]
    assert [s["price"]["value"] for s in steps] == ["3100.0", "3190.0"]
    assert [s["position"] for s in steps] == [1, 2]
    assert body["stop_loss"]["conditional"]["price"]["value"] == "2500.0"
    # Every key path of the official cancel example exists in what the fake renders.
    assert key_paths(SEED) - key_paths(body) == set()
    # A limit order waits for its position from the next request on.
    assert api.server.trade_status(body["id"]) == "waiting_position"
    assert api.server.get_trade(body["id"])["data"]["created_at"] == body["data"]["created_at"]


async def test_create_market_order_enters_and_instant_market_finishes(api: Api) -> None:
    market = {
        "account_id": 1,
        "pair": "USDT_BTC",
        "position": {"type": "buy", "order_type": "market", "units": {"value": "0.01"}},
    }
    a = await api.ok("POST", "/v2/smart_trades", 201, json=market)
    b = await api.ok("POST", "/v2/smart_trades", 201, json={**market, "instant": True})
    assert b["id"] > a["id"]
    assert b["data"]["type"] == "simple_buy"
    assert api.server.trade_status(a["id"]) == "waiting_targets"
    assert api.server.trade_status(b["id"]) == "finished"
    entered = await api.ok("GET", f"/v2/smart_trades/{a['id']}")
    assert entered["data"]["entered_amount"] == "0.01"
    assert entered["profit"]["usd"] is not None


@pytest.mark.parametrize(
    ("body", "attrs"),
    [
        ({}, {"account_id", "pair", "position"}),
        (
            {"account_id": "x", "pair": "btc", "position": {}},
            {"account_id", "pair", "position.type", "position.order_type", "position.units"},
        ),
        (
            {**LIMIT_BUY, "position": {"type": "hold", "order_type": "limit", "units": {"value": "-1"}}},
            {"position.type", "position.units.value", "position.price.value"},
        ),
        ({**LIMIT_BUY, "note": "x" * 301}, {"note"}),
        (
            {**LIMIT_BUY, "stop_loss": {"enabled": True}},
            {"stop_loss.order_type", "stop_loss.conditional.price"},
        ),
    ],
)
async def test_create_validation_is_422_record_invalid(
    api: Api, body: dict[str, Any], attrs: set[str]
) -> None:
    code, err = await api.call("POST", "/v2/smart_trades", json=body)
    assert code == 422
    assert err["error"] == "record_invalid"
    assert set(err["error_attributes"]) == attrs
    assert api.server.trade_ids() == []


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]"])
async def test_create_with_a_body_that_is_not_an_object_is_400(api: Api, raw: bytes) -> None:
    code, err = await api.call(
        "POST", "/v2/smart_trades", data=raw, headers={"Content-Type": "application/json"}
    )
    assert (code, err["error"]) == (400, "invalid_request")


MARKET_BUY = {
    "account_id": 1,
    "pair": "USDT_BTC",
    "position": {"type": "buy", "order_type": "market", "units": {"value": "0.01"}},
}


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx"]
)
async def test_a_json_body_without_the_json_content_type_is_400(api: Api, content_type: str | None) -> None:
    raw = json.dumps(MARKET_BUY).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    # aiohttp adds application/octet-stream to bytes bodies: skip_auto_headers keeps "none" as none.
    code, err = await api.call(
        "POST", "/v2/smart_trades", data=raw, headers=headers, skip_auto_headers=["Content-Type"]
    )
    assert (code, err["error"]) == (400, "invalid_request")
    assert "Content-Type" in err["error_description"]
    assert api.server.trade_ids() == []  # nothing created


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
async def test_json_content_type_with_parameters_is_accepted(api: Api, content_type: str) -> None:
    raw = json.dumps(MARKET_BUY).encode()
    await api.ok("POST", "/v2/smart_trades", 201, data=raw, headers={"Content-Type": content_type})


async def test_bodiless_actions_need_no_content_type(api: Api) -> None:
    tid = api.server.add_trade()
    await api.ok("POST", f"/v2/smart_trades/{tid}/close_by_market", 201, skip_auto_headers=["Content-Type"])


@pytest.mark.fake_3commas(rate_limit=None, strict_content_type=False)
async def test_strict_content_type_false_accepts_any(api: Api) -> None:
    raw = json.dumps(MARKET_BUY).encode()
    await api.ok("POST", "/v2/smart_trades", 201, data=raw, headers={"Content-Type": "text/plain"})
    assert len(api.server.trade_ids()) == 1


# ----------------------------------------------------------------------------------------------- actions


async def test_patch_only_in_waiting_states(api: Api) -> None:
    tid = api.server.add_trade(LIMIT_BUY, status="waiting_position")
    body = await api.ok(
        "PATCH",
        f"/v2/smart_trades/{tid}",
        json={
            "position": {"units": {"value": "3"}, "price": {"value": "2800"}},
            "take_profit": {"enabled": False},
        },
    )
    assert body["position"]["units"]["value"] == "3.0"
    assert body["position"]["price"]["value"] == "2800.0"
    assert body["take_profit"]["enabled"] is False
    assert api.server.get_trade(tid)["position"]["units"]["value"] == "3.0"

    done = api.server.add_trade(status="finished")
    code, err = await api.call(
        "PATCH", f"/v2/smart_trades/{done}", json={"position": {"units": {"value": "3"}}}
    )
    assert (code, err["error"]) == (403, "Forbidden")

    code, err = await api.call(
        "PATCH", f"/v2/smart_trades/{tid}", json={"position": {"units": {"value": "zero"}}}
    )
    assert (code, err["error"]) == (422, "record_invalid")


async def test_add_funds(api: Api) -> None:
    tid = api.server.add_trade({"position": {"type": "buy", "order_type": "market", "units": {"value": "1"}}})
    body = await api.ok(
        "POST",
        f"/v2/smart_trades/{tid}/add_funds",
        201,
        json={"order_type": "market", "units": {"value": "0.5"}},
    )
    assert body["position"]["units"]["value"] == "1.5"
    code, err = await api.call("POST", f"/v2/smart_trades/{tid}/add_funds", json={"units": {}})
    assert code == 400
    assert set(err["error_attributes"]) == {"order_type", "units[value]"}
    simple = api.server.add_trade({"instant": True})
    code, _ = await api.call(
        "POST", f"/v2/smart_trades/{simple}/add_funds", json={"order_type": "market", "units": {"value": "1"}}
    )
    assert code == 403


async def test_reduce_funds_info_and_reduce_funds(api: Api) -> None:
    tid = api.server.add_trade(
        {"position": {"type": "buy", "order_type": "market", "units": {"value": "10"}}}
    )
    info = await api.ok("GET", f"/v2/smart_trades/{tid}/reduce_funds_info")
    assert info == {"max_reduce_funds_amount": "9.9"}
    body = await api.ok(
        "POST",
        f"/v2/smart_trades/{tid}/reduce_funds",
        201,
        json={"order_type": "market", "units": {"value": "4"}},
    )
    assert body["position"]["units"]["value"] == "6.0"
    code, err = await api.call(
        "POST",
        f"/v2/smart_trades/{tid}/reduce_funds",
        json={"order_type": "market", "units": {"value": "100"}},
    )
    assert (code, err["error"]) == (422, "record_invalid")

    waiting = api.server.add_trade(status="waiting_position")
    code, err = await api.call("GET", f"/v2/smart_trades/{waiting}/reduce_funds_info")
    assert (code, err["error"]) == (400, "Wrong param(s)")


@pytest.mark.fake_3commas(rate_limit=None, cancel_delay=0.03, clock=ManualClock())
async def test_close_by_market_then_finished(api: Api) -> None:
    tid = api.server.add_trade()
    body = await api.ok("POST", f"/v2/smart_trades/{tid}/close_by_market", 201)
    assert body["status"]["type"] == "panic_sell_pending"
    assert api.server.trade_status(tid) == "panic_sell_pending"
    api.advance(0.03)
    done = await api.ok("GET", f"/v2/smart_trades/{tid}")
    assert done["status"]["type"] == "finished"
    assert done["data"]["closed_amount"] != "0.0"


async def test_force_start_and_force_process(api: Api) -> None:
    tid = api.server.add_trade(LIMIT_BUY, status="waiting_position")
    body = await api.ok("POST", f"/v2/smart_trades/{tid}/force_start", 201)
    assert body["status"]["type"] == "waiting_targets"
    assert body["is_position_not_filled"] is False
    code, _ = await api.call("POST", f"/v2/smart_trades/{tid}/force_start")
    assert code == 403

    api.server.cancel_delay = None
    await api.ok("DELETE", f"/v2/smart_trades/{tid}")
    body = await api.ok("POST", f"/v2/smart_trades/{tid}/force_process", 201)
    assert body["status"]["type"] == "cancelled"


async def test_set_note(api: Api) -> None:
    tid = api.server.add_trade()
    body = await api.ok("POST", f"/v2/smart_trades/{tid}/set_note", 201, json={"note": "buy the dip"})
    assert (body["note"], body["note_raw"]) == ("buy the dip", "buy the dip")
    for bad in ("", "x" * 301):
        code, err = await api.call("POST", f"/v2/smart_trades/{tid}/set_note", json={"note": bad})
        assert (code, err["error"]) == (400, "record_invalid")
    assert api.server.get_trade(tid)["note"] == "buy the dip"


async def test_trades_are_trade_entities(api: Api) -> None:
    tid = api.server.add_trade(LIMIT_BUY)
    trades = await api.ok("GET", f"/v2/smart_trades/{tid}/trades")
    assert [t["trade_purpose"] for t in trades] == ["position", "take_profit", "take_profit", "stop_loss"]
    expected_keys = {
        "id", "average_price", "follow_price_type", "initial_amount", "initial_total", "order_price",
        "order_side", "order_type", "pair", "position_percentage", "realised_amount", "realised_total",
        "status", "take_profit_percentage", "trade_purpose", "trail_percentage", "trail_value",
        "trailing_enabled", "trailing_last_price", "trailing_last_price_updated_at", "trigger_condition",
        "trigger_price", "trigger_price_percentage", "trigger_type", "created_at", "updated_at",
        "realised_percentage", "initial_price", "realised_price", "cancelable", "force_processable",
    }  # fmt: skip
    assert all(set(t) == expected_keys for t in trades)
    position, tp1, _, sl = trades
    assert position["status"] == "finished" and position["order_side"] == "buy"
    assert tp1["order_side"] == "sell" and tp1["position_percentage"] == "50.0"
    assert sl["trigger_condition"] == "less_or_equal" and sl["trigger_price"] == "2500.0"
    assert (await api.ok("GET", f"/v2/smart_trades/{tid}/trades")) == trades  # ids are stable


async def test_cancel_trade_and_close_trade_by_market(api: Api) -> None:
    tid = api.server.add_trade(LIMIT_BUY)
    _, tp1, tp2, sl = await api.ok("GET", f"/v2/smart_trades/{tid}/trades")

    body = await api.ok("DELETE", f"/v2/smart_trades/{tid}/trades/{tp1['id']}")
    assert [s["id"] for s in body["take_profit"]["steps"]] == [tp2["id"]]
    code, _ = await api.call("DELETE", f"/v2/smart_trades/{tid}/trades/{tp1['id']}")
    assert code == 403
    code, err = await api.call("DELETE", f"/v2/smart_trades/{tid}/trades/12345")
    assert (code, err["error"]) == (404, "Not found")

    await api.ok("POST", f"/v2/smart_trades/{tid}/trades/{sl['id']}/close_by_market", 201)
    after = {t["id"]: t for t in await api.ok("GET", f"/v2/smart_trades/{tid}/trades")}
    assert after[tp1["id"]]["status"] == "cancelled"
    assert after[sl["id"]]["order_type"] == "market"
    assert after[sl["id"]]["force_processable"] is False
    code, _ = await api.call("POST", f"/v2/smart_trades/{tid}/trades/{sl['id']}/close_by_market")
    assert code == 403
    assert api.server.trade_status(tid) == "waiting_targets"


async def test_cancelling_the_position_trade_cancels_the_smart_trade(api: Api) -> None:
    tid = api.server.add_trade(LIMIT_BUY, status="waiting_position")
    position = (await api.ok("GET", f"/v2/smart_trades/{tid}/trades"))[0]
    assert position["cancelable"] is True
    body = await api.ok("DELETE", f"/v2/smart_trades/{tid}/trades/{position['id']}")
    assert body["status"]["type"] == "cancellation_pending"


# ----------------------------------------------------------------------------------------------- seeding


def test_seeding_and_inspection_without_http() -> None:
    server = FakeThreeCommas()
    ids = server.seed_trades(1000, {"pair": "USDT_SOL"}, status="waiting_position", note="seeded")
    assert ids == list(range(ids[0], ids[0] + 1000))
    assert server.trade_ids() == ids
    doc = server.get_trade(ids[-1])
    assert (doc["pair"], doc["note"], doc["status"]["type"]) == ("USDT_SOL", "seeded", "waiting_position")
    doc["pair"] = "changed"  # an independent copy
    assert server.get_trade(ids[-1])["pair"] == "USDT_SOL"
    server.set_trade_status(ids[0], "failed")
    assert server.trade_status(ids[0]) == "failed"
    assert server.get_trade(ids[0])["status"]["error"]
    assert server.seed_trades(0) == []
    with pytest.raises(KeyError):
        server.trade_status(1)
    with pytest.raises(ValueError, match="invalid SmartTrade params"):
        server.add_trade({"pair": "nonsense"})
    server.reset()
    assert server.trade_ids() == []
