"""The fake's in-memory SmartTrades: validation, state changes and rendering to the 3Commas JSON shape.

Memory and speed: a trade is a small slotted record (id, status, timestamps, note) pointing at a shared
:class:`_Shape` that holds its parameters (account, pair, position, take profit, stop loss). A shape
caches, per ``(status, entered)``, the immutable nested JSON objects of a SmartTrade; rendering a trade
is two shallow dict copies plus a few assignments, so 100 000 seeded trades cost a few tens of MB and a
cancel renders in microseconds. Edits (PATCH, add/reduce funds, cancelling a step) give the trade a new
shape (copy on write); rendered objects are therefore never mutated.

Delayed transitions (``cancellation_pending`` → ``cancelled``, ``panic_sell_pending`` → ``finished``,
``created`` → ``waiting_*``) are deadlines in one heap, applied lazily at the start of every request
(and of every inspection method): no timer per trade, and a delay of 0 means "the next request sees it".
"""

from __future__ import annotations

import heapq
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from operator import attrgetter
from typing import Any, Final, Literal

import msgspec

__all__ = ["ApiError", "TradeStore"]

Json = dict[str, Any]

FINAL: Final = frozenset({"cancelled", "finished", "failed"})
CANCELLABLE: Final = frozenset({"created", "waiting_position", "waiting_targets", "pending_reduce_funds"})
WAITING: Final = frozenset({"waiting_position", "waiting_targets"})
NOT_ENTERED: Final = frozenset({"created", "waiting_position", "failed"})

TITLES: Final = {
    "created": "Pending",
    "waiting_position": "Pending Position Opened",
    "waiting_targets": "Waiting Targets",
    "pending_reduce_funds": "Reducing Funds",
    "cancellation_pending": "Cancelling",
    "cancelled": "Cancelled",
    "failed": "Failed",
    "finished": "Finished",
    "panic_sell_pending": "Closing at Market Price",
}

# editable, panic_sell, add_funds, reduce_funds, force_start, force_process, cancel
_FLAGS: Final[dict[str, tuple[bool, bool, bool, bool, bool, bool, bool]]] = {
    "created": (False, False, False, False, True, True, True),
    "waiting_position": (True, False, True, False, True, True, True),
    "waiting_targets": (True, True, True, True, False, True, True),
    "pending_reduce_funds": (False, False, False, False, False, True, True),
    "cancellation_pending": (False, False, False, False, False, True, False),
    "panic_sell_pending": (False, False, False, False, False, True, False),
}
_NO_FLAGS: Final = (False,) * 7

ORDER_BY: Final = frozenset(
    {"created_at", "updated_at", "closed_at", "status", "profit", "profit_percentage"}
)

# USD prices of a few assets; pairs are QUOTE_BASE, the price of BASE in QUOTE is usd[base] / usd[quote].
_USD: Final = {
    "USDT": Decimal(1),
    "USD": Decimal(1),
    "USDC": Decimal(1),
    "BUSD": Decimal(1),
    "BTC": Decimal("60123.45"),
    "ETH": Decimal("3012.34"),
    "BNB": Decimal("553.2"),
    "SOL": Decimal("151.37"),
    "XRP": Decimal("0.5213"),
    "ADA": Decimal("0.3527"),
    "DOGE": Decimal("0.10622"),
    "1INCH": Decimal("0.2621"),
}
_PAIR_RE: Final = re.compile(r"^[A-Z0-9]{1,20}_[A-Z0-9]{1,20}$")
_ZERO: Final = Decimal(0)
_HUNDRED: Final = Decimal(100)
_COMMISSION: Final = Decimal("0.999")
_INF: Final = float("inf")


class ApiError(Exception):
    """An error answer in the 3Commas shape ``{"error", "error_description", "error_attributes"}``."""

    def __init__(
        self,
        status: int,
        error: str,
        description: str | None = None,
        attributes: Mapping[str, list[str]] | None = None,
    ) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.attributes = dict(attributes) if attributes else None

    def body(self) -> Json:
        out: Json = {"error": self.error}
        if self.description is not None:
            out["error_description"] = self.description
        if self.attributes:
            out["error_attributes"] = self.attributes
        return out


def not_found(what: str = "Smart Trade") -> ApiError:
    return ApiError(404, "Not found", f"{what} not found")


def wrong_params(attr: str, message: str) -> ApiError:
    return ApiError(400, "Wrong param(s)", f"{attr} {message}", {attr: [message]})


# ----------------------------------------------------------------------------------------------- helpers


def fmt(d: Decimal, places: int = 8) -> str:
    """A money string: at most ``places`` decimals, no exponent, at least one decimal (``"14.0"``)."""
    q = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    s = format(q.normalize(), "f")
    return s if "." in s else s + ".0"


_iso_cache: list[Any] = [-1, ""]


def iso(ts: float) -> str:
    """Epoch seconds → ``2024-08-12T14:35:21.632Z`` (the second's prefix is cached: cheap in hot paths)."""
    ms = int(ts * 1000)
    sec, frac = divmod(ms, 1000)
    if _iso_cache[0] != sec:
        _iso_cache[0] = sec
        _iso_cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{_iso_cache[1]}.{frac:03d}Z"


def market_price(pair: str) -> Decimal:
    quote, _, base = pair.partition("_")
    q = _USD.get(quote, Decimal(1))
    b = _USD.get(base, Decimal(1))
    return b / q


class _Errors:
    __slots__ = ("attrs",)

    def __init__(self) -> None:
        self.attrs: dict[str, list[str]] = {}

    def add(self, attr: str, message: str) -> None:
        self.attrs.setdefault(attr, []).append(message)

    def raise_if_any(self, status: int = 422) -> None:
        if self.attrs:
            raise ApiError(status, "record_invalid", "Invalid parameters", self.attrs)


def _obj(value: Any, attr: str, errors: _Errors) -> Json | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.add(attr, "is invalid")
        return None
    return value


def _num(
    value: Any, attr: str, errors: _Errors, *, required: bool = False, positive: bool = True
) -> Decimal | None:
    if value is None or value == "":
        if required:
            errors.add(attr, "is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        errors.add(attr, "is invalid")
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        errors.add(attr, "is invalid")
        return None
    if not d.is_finite() or (positive and d <= 0):
        errors.add(attr, "must be greater than 0")
        return None
    return d


def _choice(value: Any, attr: str, allowed: Iterable[str], errors: _Errors, *, required: bool) -> str | None:
    if value is None:
        if required:
            errors.add(attr, "is missing")
        return None
    if not isinstance(value, str) or value not in allowed:
        errors.add(attr, "does not have a valid value")
        return None
    return value


def _str(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default


def _bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


# ------------------------------------------------------------------------------------------ parameters


@dataclass(frozen=True, slots=True)
class _Step:
    id: int
    order_type: str
    volume: Decimal
    price_type: str
    price: Decimal | None
    percent: Decimal | None
    trailing: bool
    trailing_percent: Decimal | None


@dataclass(frozen=True, slots=True)
class _StopLoss:
    order_type: str
    price_type: str
    price: Decimal | None
    percent: Decimal | None
    breakeven: bool
    trailing: bool
    timeout: int | None


@dataclass(frozen=True, slots=True)
class _Params:
    account_id: int
    pair: str
    position_type: str
    order_type: str
    units: Decimal
    price: Decimal | None  # limit / conditional price; None: market
    instant: bool
    skip_enter_step: bool
    leverage: tuple[bool, str | None, int | None]
    tp_enabled: bool
    steps: tuple[_Step, ...]
    stop_loss: _StopLoss | None

    @property
    def smart_type(self) -> str:
        if self.instant:
            return "simple_buy" if self.position_type == "buy" else "simple_sell"
        if self.skip_enter_step:
            return "smart_sell" if self.position_type == "buy" else "smart_cover"
        return "smart_trade"


def _parse_leverage(raw: Any, errors: _Errors) -> tuple[bool, str | None, int | None] | None:
    lev = _obj(raw, "leverage", errors)
    if lev is None:
        return None
    value = _num(lev.get("value"), "leverage.value", errors)
    ltype = lev.get("type")
    return (
        _bool(lev.get("enabled")),
        ltype if isinstance(ltype, str) else None,
        int(value) if value else None,
    )


def _parse_steps(
    raw: Any, errors: _Errors, next_id: Callable[[], int]
) -> tuple[bool, tuple[_Step, ...]] | None:
    tp = _obj(raw, "take_profit", errors)
    if tp is None:
        return None
    enabled = _bool(tp.get("enabled"))
    steps_raw = tp.get("steps") or []
    if not isinstance(steps_raw, list):
        errors.add("take_profit.steps", "is invalid")
        return None
    steps: list[_Step] = []
    for i, s in enumerate(steps_raw):
        attr = f"take_profit.steps[{i}]"
        step = _obj(s, attr, errors)
        if step is None:
            continue
        order_type = _choice(
            step.get("order_type"), f"{attr}.order_type", ("market", "limit"), errors, required=enabled
        )
        volume = _num(step.get("volume"), f"{attr}.volume", errors, required=enabled)
        price = _obj(step.get("price"), f"{attr}.price", errors) or {}
        value = _num(price.get("value"), f"{attr}.price.value", errors)
        percent = _num(price.get("percent"), f"{attr}.price.percent", errors)
        if enabled and value is None and percent is None and order_type == "limit":
            errors.add(f"{attr}.price", "value or percent is required")
        trailing = _obj(step.get("trailing"), f"{attr}.trailing", errors) or {}
        tpercent = _num(trailing.get("percent"), f"{attr}.trailing.percent", errors)
        sid = step.get("id")
        steps.append(
            _Step(
                id=sid if isinstance(sid, int) and not isinstance(sid, bool) else next_id(),
                order_type=order_type or "limit",
                volume=volume or _HUNDRED,
                price_type=_str(price.get("type"), "last"),
                price=value,
                percent=percent,
                trailing=_bool(trailing.get("enabled")),
                trailing_percent=tpercent,
            )
        )
    if enabled and steps and sum(s.volume for s in steps) > _HUNDRED:
        errors.add("take_profit.steps", "volumes must not add up to more than 100")
    return enabled, tuple(steps)


def _parse_stop_loss(raw: Any, errors: _Errors) -> tuple[_StopLoss | None] | None:
    sl = _obj(raw, "stop_loss", errors)
    if sl is None:
        return None
    if not _bool(sl.get("enabled")):
        return (None,)
    order_type = _choice(
        sl.get("order_type"), "stop_loss.order_type", ("market", "limit"), errors, required=True
    )
    cond = _obj(sl.get("conditional"), "stop_loss.conditional", errors) or {}
    cprice = _obj(cond.get("price"), "stop_loss.conditional.price", errors) or {}
    value = _num(cprice.get("value"), "stop_loss.conditional.price.value", errors)
    percent = _num(cprice.get("percent"), "stop_loss.conditional.price.percent", errors)
    if value is None and percent is None:
        errors.add("stop_loss.conditional.price", "value or percent is required")
    trailing = _obj(cond.get("trailing"), "stop_loss.conditional.trailing", errors) or {}
    timeout = _obj(sl.get("timeout"), "stop_loss.timeout", errors) or {}
    tvalue = _num(timeout.get("value"), "stop_loss.timeout.value", errors)
    return (
        _StopLoss(
            order_type=order_type or "market",
            price_type=_str(cprice.get("type"), "last"),
            price=value,
            percent=percent,
            breakeven=_bool(sl.get("breakeven")),
            trailing=_bool(trailing.get("enabled")),
            timeout=int(tvalue) if tvalue is not None and _bool(timeout.get("enabled")) else None,
        ),
    )


def _check_note(note: Any, errors: _Errors, *, required: bool) -> str | None:
    if note is None or note == "":
        if required:
            errors.add("note", "is missing")
        return None
    if not isinstance(note, str):
        errors.add("note", "is invalid")
        return None
    if len(note) > 300:
        errors.add("note", "is too long (maximum is 300 characters)")
        return None
    return note


def parse_create(body: Json, next_id: Callable[[], int]) -> tuple[_Params, str | None]:
    """Validate a create body like 3Commas does: 422 ``record_invalid`` with ``error_attributes``."""
    errors = _Errors()
    account_id: int | None = None
    raw_account = body.get("account_id")
    if raw_account is None or raw_account == "":
        errors.add("account_id", "is missing")
    else:
        try:
            if isinstance(raw_account, bool):
                raise ValueError
            account_id = int(raw_account)
        except (TypeError, ValueError):
            errors.add("account_id", "is invalid")
    pair = body.get("pair")
    if pair is None or pair == "":
        errors.add("pair", "is missing")
    elif not isinstance(pair, str) or not _PAIR_RE.match(pair):
        errors.add("pair", "is invalid")
    position = _obj(body.get("position"), "position", errors)
    if position is None and "position" not in errors.attrs:
        errors.add("position", "is missing")
    ptype = order_type = None
    units = price = None
    if position is not None:
        ptype = _choice(position.get("type"), "position.type", ("buy", "sell"), errors, required=True)
        order_type = _choice(
            position.get("order_type"),
            "position.order_type",
            ("market", "limit", "conditional"),
            errors,
            required=True,
        )
        u = _obj(position.get("units"), "position.units", errors)
        if u is None and "position.units" not in errors.attrs:
            errors.add("position.units", "is missing")
        units = _num((u or {}).get("value"), "position.units.value", errors, required=u is not None)
        if order_type == "conditional":
            cond = _obj(position.get("conditional"), "position.conditional", errors) or {}
            cprice = _obj(cond.get("price"), "position.conditional.price", errors) or {}
            price = _num(cprice.get("value"), "position.conditional.price.value", errors, required=True)
        elif order_type == "limit":
            p = _obj(position.get("price"), "position.price", errors) or {}
            price = _num(p.get("value"), "position.price.value", errors, required=True)
    leverage = _parse_leverage(body.get("leverage"), errors)
    tp = _parse_steps(body.get("take_profit"), errors, next_id)
    sl = _parse_stop_loss(body.get("stop_loss"), errors)
    note = _check_note(body.get("note"), errors, required=False)
    errors.raise_if_any(422)
    assert account_id is not None and isinstance(pair, str) and ptype and order_type and units
    return (
        _Params(
            account_id=account_id,
            pair=pair,
            position_type=ptype,
            order_type=order_type,
            units=units,
            price=price,
            instant=_bool(body.get("instant")),
            skip_enter_step=_bool(body.get("skip_enter_step")),
            leverage=leverage or (False, None, None),
            tp_enabled=tp[0] if tp else False,
            steps=tp[1] if tp else (),
            stop_loss=sl[0] if sl else None,
        ),
        note,
    )


# --------------------------------------------------------------------------------------------- shapes


@dataclass(slots=True)
class _Variant:
    doc: Json  # the whole SmartTrade but id / note / data, shared between renders
    data: Json  # the data object; created_at / updated_at / closed_at filled per render
    profit_usd: float
    profit_pct: float


class _Shape:
    """A SmartTrade's parameters, and the JSON objects they render to, cached per status."""

    __slots__ = ("_variants", "account", "current_price", "entry_price", "last", "params")

    def __init__(self, params: _Params) -> None:
        self.params = params
        p = params.pair
        self.last = market_price(p)
        self.entry_price = params.price if params.price is not None else self.last
        self.account: Json = {
            "id": params.account_id,
            "type": "binance",
            "name": f"Binance {params.account_id}",
            "market": "Binance Spot",
            "link": f"/accounts/{params.account_id}",
        }
        spread = self.last * Decimal("0.0001")
        self.current_price: Json = {
            "bid": fmt(self.last - spread),
            "ask": fmt(self.last + spread),
            "last": fmt(self.last),
            "quote_volume": "181260.82083",
            "day_change_percent": "0.806",
        }
        self._variants: dict[tuple[str, bool], _Variant] = {}

    def variant(self, status: str, entered: bool) -> _Variant:
        v = self._variants.get((status, entered))
        if v is None:
            v = self._variants[(status, entered)] = self._build(status, entered)
        return v

    def _build(self, status: str, entered: bool) -> _Variant:
        p = self.params
        final = status in FINAL
        active = not final and status not in ("cancellation_pending", "panic_sell_pending")
        buy = p.position_type == "buy"
        entry = self.entry_price
        units = p.units
        total = units * entry
        if status == "created":
            pos_status = "to_process"
        elif entered:
            pos_status = "finished"
        elif status == "failed":
            pos_status = "failed"
        else:
            pos_status = "to_process" if p.order_type == "market" else "order_placed"
        position: Json = {
            "type": p.position_type,
            "editable": status == "waiting_position",
            "units": {"value": fmt(units), "editable": status == "waiting_position"},
            "price": {
                "value": fmt(entry),
                "value_without_commission": fmt(entry * _COMMISSION if buy else entry),
                "editable": status == "waiting_position",
            },
            "total": {"value": fmt(total)},
            "order_type": p.order_type,
            "status": {
                "type": pos_status,
                "basic_type": pos_status,
                "title": TITLES.get(pos_status, "Pending"),
            },
        }
        if pos_status == "finished":
            position["status"]["title"] = "Finished"
        if p.order_type == "conditional":
            position["conditional"] = {
                "editable": status == "waiting_position",
                "price": {"value": fmt(entry), "type": "ask" if buy else "bid"},
                "order_type": "limit",
                "trailing": {"enabled": False, "percent": None},
            }
        steps: list[Json] = []
        step_status = "order_placed" if entered and active else "idle"
        for i, s in enumerate(p.steps):
            if s.price is not None:
                sprice = s.price
            else:
                pct = (s.percent or Decimal(5)) / _HUNDRED
                sprice = entry * (1 + pct) if buy else entry * (1 - pct)
            sunits = units * s.volume / _HUNDRED
            steps.append(
                {
                    "id": s.id,
                    "order_type": s.order_type,
                    "editable": not final,
                    "units": {"value": fmt(sunits) if entered else None},
                    "price": {
                        "type": s.price_type,
                        "value": fmt(sprice),
                        "percent": fmt(s.percent) if s.percent is not None else None,
                    },
                    "volume": fmt(s.volume),
                    "total": fmt(sunits * sprice) if entered else None,
                    "trailing": {
                        "enabled": s.trailing,
                        "percent": fmt(s.trailing_percent) if s.trailing_percent is not None else None,
                    },
                    "status": {
                        "type": step_status,
                        "basic_type": step_status,
                        "title": "Placed" if step_status == "order_placed" else "Pending",
                    },
                    "data": {"cancelable": not final, "panic_sell_available": entered and active},
                    "position": i + 1,
                }
            )
        take_profit: Json = {"enabled": p.tp_enabled, "price_type": "value", "steps": steps}
        sl = p.stop_loss
        stop_loss: Json
        if sl is None:
            stop_loss = {"enabled": False}
        else:
            if sl.price is not None:
                sl_price = sl.price
            else:
                pct = (sl.percent or Decimal(3)) / _HUNDRED
                sl_price = entry * (1 - pct) if buy else entry * (1 + pct)
            sl_status = "to_process" if entered and active else "idle"
            stop_loss = {
                "enabled": True,
                "price_type": "value",
                "breakeven": sl.breakeven,
                "order_type": sl.order_type,
                "editable": active,
                "price": {"value": None, "percent": None},
                "conditional": {
                    "price": {
                        "value": fmt(sl_price),
                        "type": sl.price_type,
                        "percent": fmt(sl.percent) if sl.percent is not None else None,
                    },
                    "trailing": {"enabled": sl.trailing, "percent": None},
                },
                "timeout": {"enabled": sl.timeout is not None, "value": sl.timeout},
                "status": {
                    "type": sl_status,
                    "basic_type": sl_status,
                    "title": "Pending",
                },
            }
        lev_enabled, lev_type, lev_value = p.leverage
        leverage: Json = {"enabled": lev_enabled}
        if lev_enabled:
            leverage["type"] = lev_type
            leverage["value"] = str(lev_value) if lev_value is not None else None
        status_obj: Json = {"type": status, "basic_type": status, "title": TITLES.get(status, status.title())}
        if status == "failed":
            status_obj["error"] = "Simulated failure"
        if entered:
            diff = (self.last - entry) if buy else (entry - self.last)
            profit_usd = diff * units
            profit_pct = diff / entry * _HUNDRED if entry else _ZERO
            profit: Json = {
                "volume": fmt(profit_usd, 10),
                "usd": fmt(profit_usd, 10),
                "percent": fmt(profit_pct, 2),
                "roe": None,
            }
        else:
            profit_usd = profit_pct = _ZERO
            profit = {"volume": None, "usd": None, "percent": "0.0", "roe": None}
        editable, panic, add, reduce, fstart, fprocess, cancel = _FLAGS.get(status, _NO_FLAGS)
        if p.instant:
            add = reduce = False
        finished = status == "finished"
        closed_total = units * self.last
        data: Json = {
            "editable": editable,
            "current_price": self.current_price,
            "target_price_type": "price",
            "orderbook_price_currency": p.pair.partition("_")[0],
            "base_order_finished": entered,
            "missing_funds_to_close": "0.0",
            "liquidation_price": None,
            "average_enter_price": fmt(entry) if entered else None,
            "average_close_price": fmt(self.last) if finished and entered else None,
            "average_enter_price_without_commission": fmt(entry * _COMMISSION) if entered else None,
            "average_close_price_without_commission": fmt(self.last) if finished and entered else None,
            "panic_sell_available": panic,
            "add_funds_available": add,
            "reduce_funds_available": reduce,
            "force_start_available": fstart,
            "force_process_available": fprocess,
            "cancel_available": cancel,
            "finished": final,
            "base_position_step_finished": entered,
            "entered_amount": fmt(units) if entered else "0.0",
            "entered_total": fmt(total) if entered else "0.0",
            "closed_amount": fmt(units) if finished and entered else "0.0",
            "closed_total": fmt(closed_total) if finished and entered else "0.0",
            # 3Commas sends this as a string in some answers and as a number in others.
            "commission": "0.001" if status == "created" else 0.001,
            "created_at": None,
            "updated_at": None,
        }
        if final:
            data["closed_at"] = None
        data["type"] = p.smart_type
        doc: Json = {
            "id": 0,
            "version": 2,
            "account": self.account,
            "pair": p.pair,
            "instant": p.instant,
            "status": status_obj,
            "leverage": leverage,
            "position": position,
            "take_profit": take_profit,
            "stop_loss": stop_loss,
            "reduce_funds": {"steps": []},
            "market_close": {},
            "note": "",
            "note_raw": None,
            "skip_enter_step": p.skip_enter_step,
            "data": None,
            "profit": profit,
            "margin": {"amount": None, "total": None},
            "is_position_not_filled": not entered,
        }
        return _Variant(doc, data, float(profit_usd), float(profit_pct))


# --------------------------------------------------------------------------------------------- trades


class _Aux:
    """Per-SmartTrade Trade-entity bookkeeping, created on first use of a trades endpoint."""

    __slots__ = ("overrides", "position_trade_id", "removed", "sl_trade_id")

    def __init__(self, position_trade_id: int, sl_trade_id: int) -> None:
        self.position_trade_id = position_trade_id
        self.sl_trade_id = sl_trade_id
        self.overrides: dict[int, Json] = {}
        self.removed: list[Json] = []


class _Trade:
    __slots__ = (
        "aux",
        "closed_ts",
        "created_at",
        "created_ts",
        "entered",
        "id",
        "note",
        "shape",
        "status",
        "updated_ts",
    )

    def __init__(self, id: int, shape: _Shape, status: str, created_ts: float, note: str | None) -> None:
        self.id = id
        self.shape = shape
        self.status = status
        self.entered = status not in NOT_ENTERED
        self.created_ts = created_ts
        self.created_at = iso(created_ts)
        self.updated_ts = created_ts
        self.closed_ts: float | None = created_ts if status in FINAL else None
        self.note = note
        self.aux: _Aux | None = None


_encode = msgspec.json.encode
_decode = msgspec.json.decode


def _status_filter(value: str) -> tuple[frozenset[str], bool] | None:
    """``(statuses, included)``: keep trades whose status is (or, if not included, is not) in the set."""
    if value == "all":
        return None
    if value == "active":
        return FINAL, False
    if value == "finished":
        return FINAL, True
    if value in ("successfully_finished", "successfully_finish"):
        return frozenset({"finished"}), True
    if value in ("cancelled", "failed"):
        return frozenset({value}), True
    # Only the documented filters: 3Commas answers anything else (an exact status type such as
    # "waiting_targets" included) with 400, so a bot must not come to rely on it here.
    raise wrong_params("status", "does not have a valid value")


def _parse_time(value: str, attr: str) -> float:
    try:
        if value.isdigit():
            return float(value)
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise wrong_params(attr, "is not a valid date") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _parse_int(value: str | None, attr: str, default: int, lo: int, hi: int | None) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise wrong_params(attr, "is not an integer") from None
    if n < lo or (hi is not None and n > hi):
        raise wrong_params(attr, f"must be between {lo} and {hi}" if hi else f"must be >= {lo}")
    return n


class TradeStore:
    """All SmartTrades of one fake server, and every state change the endpoints make."""

    def __init__(
        self,
        *,
        cancel_delay: float | None,
        conflict_status: Literal[403, 422],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.cancel_delay = cancel_delay
        self.conflict_status = conflict_status
        self._clock = clock
        self._wall = wall
        self._trades: dict[int, _Trade] = {}
        self._heap: list[tuple[float, int, int, str, str]] = []
        self._seq = 0
        self._next_trade_id = 30_000_001
        self._next_step_id = 1_006_000_001
        self._default_shapes: dict[bytes, _Shape] = {}

    # ----------------------------------------------------------------------------------- bookkeeping

    def __len__(self) -> int:
        return len(self._trades)

    def ids(self) -> list[int]:
        return list(self._trades)

    def clear(self) -> None:
        self._trades.clear()
        self._heap.clear()
        self._default_shapes.clear()

    def next_step_id(self) -> int:
        n = self._next_step_id
        self._next_step_id = n + 1
        return n

    def _new_id(self) -> int:
        n = self._next_trade_id
        self._next_trade_id = n + 1
        return n

    def _schedule(self, rec: _Trade, delay: float | None, src: str, dst: str, now: float) -> None:
        """Move ``rec`` from ``src`` to ``dst`` after ``delay`` s (``None``: only on complete_pending)."""
        self._seq += 1
        heapq.heappush(self._heap, (now + delay if delay is not None else _INF, self._seq, rec.id, src, dst))

    def resolve(self, now: float | None = None) -> None:
        """Apply every delayed transition whose deadline has passed."""
        heap = self._heap
        if not heap:
            return
        if now is None:
            now = self._clock()
        if heap[0][0] > now:
            return
        wall_now = self._wall()
        trades = self._trades
        while heap and heap[0][0] <= now:
            deadline, _, tid, src, dst = heapq.heappop(heap)
            rec = trades.get(tid)
            if rec is None or rec.status != src:
                continue
            self._set_status(rec, dst, wall_now if now == _INF else wall_now - (now - deadline))

    def complete_pending(self) -> None:
        """Apply every scheduled transition now, whatever its deadline."""
        self.resolve(_INF)

    def _set_status(self, rec: _Trade, status: str, wall: float) -> None:
        if status == "waiting_targets" or (status == "finished" and rec.status == "created"):
            rec.entered = True
        rec.status = status
        rec.updated_ts = wall
        if status in FINAL:
            rec.closed_ts = wall

    def get_record(self, trade_id: int) -> _Trade:
        rec = self._trades.get(trade_id)
        if rec is None:
            raise not_found()
        return rec

    def render(self, rec: _Trade) -> Json:
        v = rec.shape.variant(rec.status, rec.entered)
        doc = v.doc.copy()
        doc["id"] = rec.id
        if rec.note:
            doc["note"] = rec.note
            doc["note_raw"] = rec.note
        data = v.data.copy()
        data["created_at"] = rec.created_at
        data["updated_at"] = iso(rec.updated_ts)
        if "closed_at" in data:
            data["closed_at"] = iso(rec.closed_ts if rec.closed_ts is not None else rec.updated_ts)
        doc["data"] = data
        return doc

    def snapshot(self, trade_id: int) -> Json:
        """A deep, independent copy of one SmartTrade as the API would render it now."""
        self.resolve()
        rec = self._trades.get(trade_id)
        if rec is None:
            raise KeyError(trade_id)
        out: Json = _decode(_encode(self.render(rec)))
        return out

    def status_of(self, trade_id: int) -> str:
        self.resolve()
        rec = self._trades.get(trade_id)
        if rec is None:
            raise KeyError(trade_id)
        return rec.status

    def set_status(self, trade_id: int, status: str) -> None:
        rec = self._trades.get(trade_id)
        if rec is None:
            raise KeyError(trade_id)
        rec.entered = status not in NOT_ENTERED
        self._set_status(rec, status, self._wall())

    def _conflict(self, rec: _Trade, action: str) -> ApiError:
        text = f"{action} is not allowed for a SmartTrade in status {rec.status}"
        if self.conflict_status == 422:
            return ApiError(422, "unprocessable_entity", text)
        return ApiError(403, "Forbidden", text)

    # ------------------------------------------------------------------------------------------ seeding

    def seed(
        self,
        n: int,
        params: Mapping[str, Any] | None,
        status: str,
        created_at: datetime | float | None,
        note: str | None,
    ) -> list[int]:
        body: Json = {
            "account_id": 1,
            "pair": "USDT_BTC",
            "position": {"type": "buy", "order_type": "market", "units": {"value": "0.01"}},
            "take_profit": {
                "enabled": True,
                "steps": [
                    {"order_type": "limit", "volume": "100", "price": {"type": "last", "percent": "5"}}
                ],
            },
        }
        if params:
            body.update(params)
        key = _encode(body)
        shape = self._default_shapes.get(key)
        if shape is None:
            try:
                parsed, _ = parse_create(body, self.next_step_id)
            except ApiError as exc:
                raise ValueError(f"invalid SmartTrade params: {exc.attributes}") from None
            shape = self._default_shapes[key] = _Shape(parsed)
        if note is None and isinstance(body.get("note"), str) and body["note"]:
            note = body["note"]
        if created_at is None:
            ts = self._wall()
        elif isinstance(created_at, datetime):
            ts = (created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)).timestamp()
        else:
            ts = float(created_at)
        ids = []
        trades = self._trades
        for _ in range(n):
            tid = self._new_id()
            trades[tid] = _Trade(tid, shape, status, ts, note)
            ids.append(tid)
        return ids

    # ---------------------------------------------------------------------------------------- endpoints

    def list_trades(self, query: Mapping[str, str]) -> list[Json]:
        get = query.get
        page = _parse_int(get("page"), "page", 1, 1, None)
        per_page = _parse_int(get("per_page"), "per_page", 10, 1, 100)
        order_by = get("order_by") or "status"
        if order_by not in ORDER_BY:
            raise wrong_params("order_by", "does not have a valid value")
        direction = (get("order_direction") or "DESC").upper()
        if direction not in ("ASC", "DESC"):
            raise wrong_params("order_direction", "does not have a valid value")
        # Each filter is one tight pass over the survivors (dict order: ids ascending).
        rows = list(self._trades.values())
        status = get("status")
        if status:
            sf = _status_filter(status)
            if sf is not None:
                wanted, included = sf
                if included:
                    rows = [r for r in rows if r.status in wanted]
                else:
                    rows = [r for r in rows if r.status not in wanted]
        account = get("account_id")
        if account:
            aid = _parse_int(account, "account_id", 0, 0, None)
            rows = [r for r in rows if r.shape.params.account_id == aid]
        pair = get("pair")
        if pair:
            rows = [r for r in rows if r.shape.params.pair == pair]
        quote = get("quote")
        if quote:
            rows = [r for r in rows if r.shape.params.pair.partition("_")[0] == quote]
        base = get("base")
        if base:
            rows = [r for r in rows if r.shape.params.pair.partition("_")[2] == base]
        stype = get("type")
        if stype:
            rows = [r for r in rows if r.shape.params.smart_type == stype]
        frm = get("from")
        if frm:
            t0 = _parse_time(frm, "from")
            rows = [r for r in rows if r.created_ts >= t0]
        to = get("to")
        if to:
            t1 = _parse_time(to, "to")
            rows = [r for r in rows if r.created_ts <= t1]
        key: Callable[[_Trade], Any]
        if order_by in ("created_at", "updated_at", "status"):
            key = attrgetter(
                "created_ts"
                if order_by == "created_at"
                else "updated_ts"
                if order_by == "updated_at"
                else "status"
            )
        elif order_by == "closed_at":
            key = lambda r: r.closed_ts or 0.0  # noqa: E731
        elif order_by == "profit":
            key = lambda r: r.shape.variant(r.status, r.entered).profit_usd  # noqa: E731
        else:
            key = lambda r: r.shape.variant(r.status, r.entered).profit_pct  # noqa: E731
        # Sorting is stable, also with reverse=True: listing ids descending first makes ties go by id DESC.
        desc = direction == "DESC"
        if desc:
            rows.reverse()
        ordered = sorted(rows, key=key, reverse=desc)
        start = (page - 1) * per_page
        return [self.render(r) for r in ordered[start : start + per_page]]

    def create(self, body: Json, now: float) -> Json:
        params, note = parse_create(body, self.next_step_id)
        tid = self._new_id()
        rec = _Trade(tid, _Shape(params), "created", self._wall(), note)
        self._trades[tid] = rec
        if params.instant and params.order_type == "market":
            target = "finished"
        elif params.order_type == "market" or params.skip_enter_step:
            target = "waiting_targets"
        else:
            target = "waiting_position"
        self._schedule(rec, 0.0, "created", target, now)
        return self.render(rec)

    def get(self, trade_id: int) -> Json:
        return self.render(self.get_record(trade_id))

    def cancel(self, trade_id: int, now: float) -> Json:
        rec = self._trades.get(trade_id)
        if rec is None:
            raise not_found()
        if rec.status not in CANCELLABLE:
            raise self._conflict(rec, "Cancel")
        rec.status = "cancellation_pending"
        rec.updated_ts = self._wall()
        self._schedule(rec, self.cancel_delay, "cancellation_pending", "cancelled", now)
        return self.render(rec)

    def update(self, trade_id: int, body: Json) -> Json:
        rec = self.get_record(trade_id)
        if rec.status not in WAITING:
            raise self._conflict(rec, "Edit")
        p = rec.shape.params
        errors = _Errors()
        changes: dict[str, Any] = {}
        leverage = _parse_leverage(body.get("leverage"), errors)
        if leverage is not None:
            changes["leverage"] = leverage
        position = _obj(body.get("position"), "position", errors)
        if position is not None:
            units = _num(
                (_obj(position.get("units"), "position.units", errors) or {}).get("value"),
                "position.units.value",
                errors,
            )
            if units is not None:
                changes["units"] = units
            price = _num(
                (_obj(position.get("price"), "position.price", errors) or {}).get("value"),
                "position.price.value",
                errors,
            )
            if price is not None and p.order_type != "market":
                changes["price"] = price
        tp = _parse_steps(body.get("take_profit"), errors, self.next_step_id)
        if tp is not None:
            changes["tp_enabled"], changes["steps"] = tp
        sl = _parse_stop_loss(body.get("stop_loss"), errors)
        if sl is not None:
            changes["stop_loss"] = sl[0]
        errors.raise_if_any(422)
        if changes:
            rec.shape = _Shape(replace(p, **changes))
        rec.updated_ts = self._wall()
        return self.render(rec)

    def _funds(self, body: Json) -> tuple[str, Decimal, Decimal | None]:
        errors = _Errors()
        order_type = _choice(body.get("order_type"), "order_type", ("market", "limit"), errors, required=True)
        units = _obj(body.get("units"), "units", errors)
        if units is None and "units" not in errors.attrs:
            errors.add("units", "is missing")
        value = _num((units or {}).get("value"), "units[value]", errors, required=True)
        price = _obj(body.get("price"), "price", errors) or {}
        pvalue = _num(price.get("value"), "price[value]", errors, required=order_type == "limit")
        errors.raise_if_any(400)
        assert order_type is not None and value is not None
        return order_type, value, pvalue

    def add_funds(self, trade_id: int, body: Json) -> Json:
        rec = self.get_record(trade_id)
        p = rec.shape.params
        if rec.status not in WAITING or p.instant:
            raise self._conflict(rec, "Add funds")
        _, value, price = self._funds(body)
        shape = rec.shape
        add_price = price if price is not None else shape.last
        new_units = p.units + value
        new_price = (p.units * shape.entry_price + value * add_price) / new_units
        rec.shape = _Shape(replace(p, units=new_units, price=new_price))
        rec.updated_ts = self._wall()
        return self.render(rec)

    def reduce_funds_info(self, trade_id: int) -> Json:
        rec = self.get_record(trade_id)
        if rec.status != "waiting_targets":
            raise ApiError(400, "Wrong param(s)", "Reduce funds is not allowed in the current status")
        return {"max_reduce_funds_amount": fmt(rec.shape.params.units * Decimal("0.99"), 12)}

    def reduce_funds(self, trade_id: int, body: Json) -> Json:
        rec = self.get_record(trade_id)
        if rec.status != "waiting_targets":
            raise self._conflict(rec, "Reduce funds")
        _, value, _ = self._funds(body)
        p = rec.shape.params
        if value > p.units * Decimal("0.99"):
            raise ApiError(
                422,
                "record_invalid",
                "Invalid parameters",
                {"units": [f"must be less than or equal to {fmt(p.units * Decimal('0.99'), 12)}"]},
            )
        rec.shape = _Shape(replace(p, units=p.units - value, price=rec.shape.entry_price))
        rec.updated_ts = self._wall()
        return self.render(rec)

    def close_by_market(self, trade_id: int, now: float) -> Json:
        rec = self.get_record(trade_id)
        if rec.status not in CANCELLABLE:
            raise self._conflict(rec, "Close by market")
        rec.status = "panic_sell_pending"
        rec.updated_ts = self._wall()
        self._schedule(rec, self.cancel_delay, "panic_sell_pending", "finished", now)
        return self.render(rec)

    def force_start(self, trade_id: int) -> Json:
        rec = self.get_record(trade_id)
        if rec.status not in ("created", "waiting_position"):
            raise self._conflict(rec, "Force start")
        rec.entered = True
        self._set_status(rec, "waiting_targets", self._wall())
        return self.render(rec)

    def force_process(self, trade_id: int) -> Json:
        rec = self.get_record(trade_id)
        if rec.status in FINAL:
            raise self._conflict(rec, "Force process")
        if rec.status == "cancellation_pending":
            self._set_status(rec, "cancelled", self._wall())
        elif rec.status == "panic_sell_pending":
            self._set_status(rec, "finished", self._wall())
        else:
            rec.updated_ts = self._wall()
        return self.render(rec)

    def set_note(self, trade_id: int, body: Json) -> Json:
        rec = self.get_record(trade_id)
        errors = _Errors()
        note = _check_note(body.get("note"), errors, required=True)
        errors.raise_if_any(400)
        rec.note = note
        rec.updated_ts = self._wall()
        return self.render(rec)

    # ------------------------------------------------------------------------------------ trade entities

    def _aux(self, rec: _Trade) -> _Aux:
        if rec.aux is None:
            rec.aux = _Aux(self.next_step_id(), self.next_step_id())
        return rec.aux

    def trades(self, trade_id: int) -> list[Json]:
        rec = self.get_record(trade_id)
        return self._trade_entities(rec)

    def _trade_entities(self, rec: _Trade) -> list[Json]:
        aux = self._aux(rec)
        p = rec.shape.params
        shape = rec.shape
        created = rec.created_at
        updated = iso(rec.updated_ts)
        final = rec.status in FINAL
        buy = p.position_type == "buy"
        entry = shape.entry_price
        out: list[Json] = []

        def trade(
            tid: int, purpose: str, side: str, order_type: str, amount: Decimal, price: Decimal
        ) -> Json:
            return {
                "id": tid,
                "average_price": None,
                "follow_price_type": "last",
                "initial_amount": fmt(amount),
                "initial_total": fmt(amount * price),
                "order_price": fmt(price) if order_type == "limit" else None,
                "order_side": side,
                "order_type": order_type,
                "pair": p.pair,
                "position_percentage": None,
                "realised_amount": "0.0",
                "realised_total": None,
                "status": "to_process",
                "take_profit_percentage": None,
                "trade_purpose": purpose,
                "trail_percentage": None,
                "trail_value": None,
                "trailing_enabled": False,
                "trailing_last_price": None,
                "trailing_last_price_updated_at": None,
                "trigger_condition": None,
                "trigger_price": None,
                "trigger_price_percentage": None,
                "trigger_type": "none",
                "created_at": created,
                "updated_at": updated,
                "realised_percentage": "0.0",
                "initial_price": fmt(price),
                "realised_price": None,
                "cancelable": not final,
                "force_processable": not final,
            }

        pos = trade(
            aux.position_trade_id,
            "position",
            p.position_type,
            "limit" if p.order_type != "market" else "market",
            p.units,
            entry,
        )
        if rec.entered:
            pos.update(
                status="finished",
                average_price=fmt(entry),
                realised_amount=fmt(p.units),
                realised_total=fmt(p.units * entry),
                realised_percentage="100.0",
                realised_price=fmt(entry),
                cancelable=False,
                force_processable=False,
            )
        else:
            pos["status"] = "order_placed" if p.order_type != "market" else "to_process"
        out.append(pos)
        exit_side = "sell" if buy else "buy"
        variant = shape.variant(rec.status, rec.entered)
        for step, sdoc in zip(p.steps, variant.doc["take_profit"]["steps"], strict=True):
            t = trade(
                step.id,
                "take_profit",
                exit_side,
                step.order_type,
                p.units * step.volume / _HUNDRED,
                Decimal(sdoc["price"]["value"]),
            )
            t["position_percentage"] = fmt(step.volume)
            t["take_profit_percentage"] = fmt(step.percent) if step.percent is not None else None
            t["status"] = sdoc["status"]["type"]
            out.append(t)
        if p.stop_loss is not None:
            sl_doc = variant.doc["stop_loss"]
            trigger = Decimal(sl_doc["conditional"]["price"]["value"])
            t = trade(aux.sl_trade_id, "stop_loss", exit_side, p.stop_loss.order_type, p.units, trigger)
            t.update(
                trigger_condition="less_or_equal" if buy else "greater_or_equal",
                trigger_price=fmt(trigger),
                trigger_type="conditional",
                status=sl_doc["status"]["type"],
            )
            out.append(t)
        for t in out:
            o = aux.overrides.get(t["id"])
            if o:
                t.update(o)
        out.extend(aux.removed)
        return out

    def _find_trade(self, rec: _Trade, sub_id: int) -> Json:
        for t in self._trade_entities(rec):
            if t["id"] == sub_id:
                return t
        raise not_found("Trade")

    def close_trade_by_market(self, trade_id: int, sub_id: int) -> Json:
        rec = self.get_record(trade_id)
        t = self._find_trade(rec, sub_id)
        if rec.status in FINAL or not t["force_processable"]:
            raise self._conflict(rec, "Close trade by market")
        assert rec.aux is not None
        rec.aux.overrides[sub_id] = {
            "order_type": "market",
            "status": "to_process",
            "cancelable": False,
            "force_processable": False,
        }
        rec.updated_ts = self._wall()
        return self.render(rec)

    def cancel_trade(self, trade_id: int, sub_id: int, now: float) -> Json:
        rec = self.get_record(trade_id)
        t = self._find_trade(rec, sub_id)
        if rec.status in FINAL or not t["cancelable"]:
            raise self._conflict(rec, "Cancel trade")
        aux = rec.aux
        assert aux is not None
        p = rec.shape.params
        if t["trade_purpose"] == "position":
            return self.cancel(trade_id, now)
        t.update(status="cancelled", cancelable=False, force_processable=False, updated_at=iso(self._wall()))
        if t["trade_purpose"] == "take_profit":
            steps = tuple(s for s in p.steps if s.id != sub_id)
            rec.shape = _Shape(replace(p, steps=steps))
        else:
            rec.shape = _Shape(replace(p, stop_loss=None))
        aux.removed.append(t)
        rec.updated_ts = self._wall()
        return self.render(rec)
