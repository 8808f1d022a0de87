"""The fake's trade records: one slotted :class:`TradeRecord` per SmartTrade, and its Trade entities.

A SmartTrade's Trade entities (``GET /v2/smart_trades/:id/trades``: its position, take-profit steps and
stop loss as orders) are derived from its parameters on demand; :class:`SubTrades`, created on first use,
keeps only what cannot be derived: their ids, the overrides of closed-by-market ones, and the cancelled
ones (dropped from the parameters but still listed).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ._errors import not_found
from ._render import HUNDRED, Shape, fmt, iso
from ._statuses import FINAL, NOT_ENTERED

__all__ = ["SubTrades", "TradeRecord", "find_sub_trade", "sub_trades"]

Json = dict[str, Any]
HistoryEntry = tuple[float, str | None, str, str, str | None]


class SubTrades:
    """Per-SmartTrade Trade-entity bookkeeping."""

    __slots__ = ("overrides", "position_trade_id", "removed", "sl_trade_id")

    def __init__(self, position_trade_id: int, sl_trade_id: int) -> None:
        self.position_trade_id = position_trade_id
        self.sl_trade_id = sl_trade_id
        self.overrides: dict[int, Json] = {}
        self.removed: list[Json] = []


class TradeRecord:
    """One SmartTrade: its id, status and timestamps (wall-clock epoch seconds), pointing at a shared
    :class:`~._render.Shape` for its parameters; ``born`` and ``history`` are on the server's clock."""

    __slots__ = (
        "born",
        "closed_ts",
        "created_at",
        "created_ts",
        "entered",
        "history",
        "id",
        "note",
        "shape",
        "status",
        "sub",
        "updated_ts",
    )

    def __init__(
        self,
        id: int,
        shape: Shape,
        status: str,
        created_ts: float,
        note: str | None,
        born: float,
        history: list[HistoryEntry] | None = None,
    ) -> None:
        self.id = id
        self.shape = shape
        self.status = status
        self.entered = status not in NOT_ENTERED
        self.created_ts = created_ts
        self.created_at = iso(created_ts)
        self.updated_ts = created_ts
        self.closed_ts: float | None = created_ts if status in FINAL else None
        self.note = note
        self.sub: SubTrades | None = None
        self.born = born
        #: ``(time, from, to, cause, api_key)`` per status change, oldest first, starting with the
        #: trade's birth (from ``None``). ``None`` until a seeded trade first changes: its one entry,
        #: ``(born, None, status, "seed", None)``, is implied, which keeps 100 000 seeded trades cheap.
        self.history = history


def _entity(
    rec: TradeRecord, tid: int, purpose: str, side: str, order_type: str, amount: Decimal, price: Decimal
) -> Json:
    final = rec.status in FINAL
    return {
        "id": tid,
        "average_price": None,
        "follow_price_type": "last",
        "initial_amount": fmt(amount),
        "initial_total": fmt(amount * price),
        "order_price": fmt(price) if order_type == "limit" else None,
        "order_side": side,
        "order_type": order_type,
        "pair": rec.shape.params.pair,
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
        "created_at": rec.created_at,
        "updated_at": iso(rec.updated_ts),
        "realised_percentage": "0.0",
        "initial_price": fmt(price),
        "realised_price": None,
        "cancelable": not final,
        "force_processable": not final,
    }


def _position_entity(rec: TradeRecord, sub: SubTrades) -> Json:
    p = rec.shape.params
    entry = rec.shape.entry_price
    limit = p.order_type != "market"
    order_type = "limit" if limit else "market"
    pos = _entity(rec, sub.position_trade_id, "position", p.position_type, order_type, p.units, entry)
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
        pos["status"] = "order_placed" if limit else "to_process"
    return pos


def _exit_entities(rec: TradeRecord, sub: SubTrades) -> list[Json]:
    """The take-profit steps and the stop loss, priced and with the status the SmartTrade renders."""
    p = rec.shape.params
    buy = p.position_type == "buy"
    exit_side = "sell" if buy else "buy"
    doc = rec.shape.variant(rec.status, rec.entered).doc
    out: list[Json] = []
    for step, sdoc in zip(p.steps, doc["take_profit"]["steps"], strict=True):
        amount = p.units * step.volume / HUNDRED
        t = _entity(
            rec, step.id, "take_profit", exit_side, step.order_type, amount, Decimal(sdoc["price"]["value"])
        )
        t["position_percentage"] = fmt(step.volume)
        t["take_profit_percentage"] = fmt(step.percent) if step.percent is not None else None
        t["status"] = sdoc["status"]["type"]
        out.append(t)
    if p.stop_loss is not None:
        sl_doc = doc["stop_loss"]
        trigger = Decimal(sl_doc["conditional"]["price"]["value"])
        t = _entity(rec, sub.sl_trade_id, "stop_loss", exit_side, p.stop_loss.order_type, p.units, trigger)
        t.update(
            trigger_condition="less_or_equal" if buy else "greater_or_equal",
            trigger_price=fmt(trigger),
            trigger_type="conditional",
            status=sl_doc["status"]["type"],
        )
        out.append(t)
    return out


def sub_trades(rec: TradeRecord, sub: SubTrades) -> list[Json]:
    """The Trade entities of ``rec``, fresh dicts: position, take-profit steps, stop loss, cancelled ones."""
    out = [_position_entity(rec, sub), *_exit_entities(rec, sub)]
    for t in out:
        o = sub.overrides.get(t["id"])
        if o:
            t.update(o)
    out.extend(sub.removed)
    return out


def find_sub_trade(rec: TradeRecord, sub: SubTrades, sub_id: int) -> Json:
    for t in sub_trades(rec, sub):
        if t["id"] == sub_id:
            return t
    raise not_found("Trade")
