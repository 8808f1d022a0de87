"""JSON rendering of SmartTrades in the 3Commas shape, cached per parameters and status.

Memory and speed: a trade is a small slotted record pointing at a shared :class:`Shape` that holds its
parameters. A shape caches, per ``(status, entered)``, the immutable nested JSON objects of a SmartTrade
(a :class:`Variant`); rendering a trade is two shallow dict copies plus a few assignments, so 100 000
seeded trades cost a few tens of MB and a cancel renders in microseconds. Edits give the trade a new
shape (copy on write): rendered objects are never mutated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any, Final

from ._statuses import FINAL, TITLES, actions_of
from ._validation import Params, Step, StopLoss

if TYPE_CHECKING:
    from ._entities import TradeRecord

__all__ = ["Shape", "Variant", "fmt", "iso", "render"]

Json = dict[str, Any]

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
_ZERO: Final = Decimal(0)
HUNDRED: Final = Decimal(100)
_COMMISSION: Final = Decimal("0.999")


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


def _status_obj(type_: str, title: str) -> Json:
    return {"type": type_, "basic_type": type_, "title": title}


def step_price(step: Step, entry: Decimal, buy: bool) -> Decimal:
    """A take-profit step's price: its own, else ``percent`` (default 5 %) beyond the entry."""
    if step.price is not None:
        return step.price
    pct = (step.percent or Decimal(5)) / HUNDRED
    return entry * (1 + pct) if buy else entry * (1 - pct)


def _stop_price(sl: StopLoss, entry: Decimal, buy: bool) -> Decimal:
    """The stop-loss trigger: its own price, else ``percent`` (default 3 %) against the position."""
    if sl.price is not None:
        return sl.price
    pct = (sl.percent or Decimal(3)) / HUNDRED
    return entry * (1 - pct) if buy else entry * (1 + pct)


# ------------------------------------------------------------------------------------------ sections


def _position(p: Params, status: str, entered: bool, entry: Decimal) -> Json:
    if status == "created":
        pos_status = "to_process"
    elif entered:
        pos_status = "finished"
    elif status == "failed":
        pos_status = "failed"
    else:
        pos_status = "to_process" if p.order_type == "market" else "order_placed"
    buy = p.position_type == "buy"
    editable = status == "waiting_position"
    position: Json = {
        "type": p.position_type,
        "editable": editable,
        "units": {"value": fmt(p.units), "editable": editable},
        "price": {
            "value": fmt(entry),
            "value_without_commission": fmt(entry * _COMMISSION if buy else entry),
            "editable": editable,
        },
        "total": {"value": fmt(p.units * entry)},
        "order_type": p.order_type,
        "status": _status_obj(pos_status, TITLES.get(pos_status, "Pending")),
    }
    if p.order_type == "conditional":
        position["conditional"] = {
            "editable": editable,
            "price": {"value": fmt(entry), "type": "ask" if buy else "bid"},
            "order_type": "limit",
            "trailing": {"enabled": False, "percent": None},
        }
    return position


def _take_profit(p: Params, entered: bool, active: bool, final: bool, entry: Decimal) -> Json:
    buy = p.position_type == "buy"
    step_status = "order_placed" if entered and active else "idle"
    steps: list[Json] = []
    for i, s in enumerate(p.steps):
        sprice = step_price(s, entry, buy)
        sunits = p.units * s.volume / HUNDRED
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
                "status": _status_obj(step_status, "Placed" if step_status == "order_placed" else "Pending"),
                "data": {"cancelable": not final, "panic_sell_available": entered and active},
                "position": i + 1,
            }
        )
    return {"enabled": p.tp_enabled, "price_type": "value", "steps": steps}


def _stop_loss(p: Params, entered: bool, active: bool, entry: Decimal) -> Json:
    sl = p.stop_loss
    if sl is None:
        return {"enabled": False}
    sl_status = "to_process" if entered and active else "idle"
    return {
        "enabled": True,
        "price_type": "value",
        "breakeven": sl.breakeven,
        "order_type": sl.order_type,
        "editable": active,
        "price": {"value": None, "percent": None},
        "conditional": {
            "price": {
                "value": fmt(_stop_price(sl, entry, p.position_type == "buy")),
                "type": sl.price_type,
                "percent": fmt(sl.percent) if sl.percent is not None else None,
            },
            "trailing": {"enabled": sl.trailing, "percent": None},
        },
        "timeout": {"enabled": sl.timeout is not None, "value": sl.timeout},
        "status": _status_obj(sl_status, "Pending"),
    }


def _leverage(p: Params) -> Json:
    lev = p.leverage
    leverage: Json = {"enabled": lev.enabled}
    if lev.enabled:
        leverage["type"] = lev.type
        leverage["value"] = str(lev.value) if lev.value is not None else None
    return leverage


def _status(status: str) -> Json:
    out = _status_obj(status, TITLES.get(status, status.title()))
    if status == "failed":
        out["error"] = "Simulated failure"
    return out


def _profit(p: Params, entered: bool, entry: Decimal, last: Decimal) -> tuple[Json, Decimal, Decimal]:
    """The ``profit`` object, and the USD profit and percentage the list sorts by."""
    if not entered:
        return {"volume": None, "usd": None, "percent": "0.0", "roe": None}, _ZERO, _ZERO
    diff = (last - entry) if p.position_type == "buy" else (entry - last)
    usd = diff * p.units
    pct = diff / entry * HUNDRED if entry else _ZERO
    return {"volume": fmt(usd, 10), "usd": fmt(usd, 10), "percent": fmt(pct, 2), "roe": None}, usd, pct


def _data(shape: Shape, status: str, entered: bool) -> Json:
    """The ``data`` object; ``created_at`` / ``updated_at`` / ``closed_at`` are filled per render."""
    p = shape.params
    entry = shape.entry_price
    last = shape.last
    units = p.units
    final = status in FINAL
    closed = status == "finished" and entered
    actions = actions_of(status)
    data: Json = {
        "editable": actions.editable,
        "current_price": shape.current_price,
        "target_price_type": "price",
        "orderbook_price_currency": p.pair.partition("_")[0],
        "base_order_finished": entered,
        "missing_funds_to_close": "0.0",
        "liquidation_price": None,
        "average_enter_price": fmt(entry) if entered else None,
        "average_close_price": fmt(last) if closed else None,
        "average_enter_price_without_commission": fmt(entry * _COMMISSION) if entered else None,
        "average_close_price_without_commission": fmt(last) if closed else None,
        "panic_sell_available": actions.panic_sell,
        "add_funds_available": actions.add_funds and not p.instant,
        "reduce_funds_available": actions.reduce_funds and not p.instant,
        "force_start_available": actions.force_start,
        "force_process_available": actions.force_process,
        "cancel_available": actions.cancel,
        "finished": final,
        "base_position_step_finished": entered,
        "entered_amount": fmt(units) if entered else "0.0",
        "entered_total": fmt(units * entry) if entered else "0.0",
        "closed_amount": fmt(units) if closed else "0.0",
        "closed_total": fmt(units * last) if closed else "0.0",
        # 3Commas sends this as a string in some answers and as a number in others.
        "commission": "0.001" if status == "created" else 0.001,
        "created_at": None,
        "updated_at": None,
    }
    if final:
        data["closed_at"] = None
    data["type"] = p.smart_type
    return data


# -------------------------------------------------------------------------------------------- shapes


@dataclass(slots=True)
class Variant:
    doc: Json  # the whole SmartTrade but id / note / data, shared between renders
    data: Json  # the data object; created_at / updated_at / closed_at filled per render
    profit_usd: float
    profit_pct: float


class Shape:
    """A SmartTrade's parameters, and the JSON objects they render to, cached per status."""

    __slots__ = ("_variants", "account", "current_price", "entry_price", "last", "params")

    def __init__(self, params: Params) -> None:
        self.params = params
        self.last = market_price(params.pair)
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
        self._variants: dict[tuple[str, bool], Variant] = {}

    def variant(self, status: str, entered: bool) -> Variant:
        v = self._variants.get((status, entered))
        if v is None:
            v = self._variants[(status, entered)] = self._build(status, entered)
        return v

    def _build(self, status: str, entered: bool) -> Variant:
        p = self.params
        entry = self.entry_price
        final = status in FINAL
        active = not final and status not in ("cancellation_pending", "panic_sell_pending")
        profit, profit_usd, profit_pct = _profit(p, entered, entry, self.last)
        doc: Json = {
            "id": 0,
            "version": 2,
            "account": self.account,
            "pair": p.pair,
            "instant": p.instant,
            "status": _status(status),
            "leverage": _leverage(p),
            "position": _position(p, status, entered, entry),
            "take_profit": _take_profit(p, entered, active, final, entry),
            "stop_loss": _stop_loss(p, entered, active, entry),
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
        return Variant(doc, _data(self, status, entered), float(profit_usd), float(profit_pct))


def render(rec: TradeRecord) -> Json:
    """One SmartTrade as the API answers it (shares the cached nested objects: do not mutate)."""
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
