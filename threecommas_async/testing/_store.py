"""The TradeStore: every SmartTrade of one fake server, and every state change the endpoints make.

Delayed transitions (``cancellation_pending`` → ``cancelled``, ``panic_sell_pending`` → ``finished``,
``created`` → ``waiting_*``) are deadlines in one heap, applied lazily at the start of every request
(and of every inspection method): no timer per trade, and a delay of 0 means "the next request sees it".

Every status change is kept with its cause (:class:`Transition`), so that a test can tell what really
happened to a SmartTrade from what a client reports about it.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any, Final, Literal, NamedTuple

import msgspec

from ._entities import HistoryEntry, SubTrades, TradeRecord, find_sub_trade, sub_trades
from ._errors import ApiError, not_found
from ._render import Shape, fmt, iso, render
from ._statuses import CANCELLABLE, FINAL, NOT_ENTERED, WAITING
from ._validation import (
    ListQuery,
    parse_create,
    parse_funds,
    parse_list_query,
    parse_note,
    parse_update,
)

__all__ = ["Origin", "TradeStore", "Transition"]

Json = dict[str, Any]

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_INF: Final = float("inf")
_REDUCIBLE: Final = Decimal("0.99")

_DEFAULT_BODY: Final[Json] = {
    "account_id": 1,
    "pair": "USDT_BTC",
    "position": {"type": "buy", "order_type": "market", "units": {"value": "0.01"}},
    "take_profit": {
        "enabled": True,
        "steps": [{"order_type": "limit", "volume": "100", "price": {"type": "last", "percent": "5"}}],
    },
}


Origin = tuple[float, str, str | None]
"""Where a state change comes from: ``(time, cause, api_key)``, the time on the server's clock, the cause
(a route name such as ``"cancel"``, or ``"seed"``, ``"set_status"``, ``"timer"``) and the key that asked.
A plain tuple: one is made for every request, and a NamedTuple costs ten times as much to make."""


class Transition(NamedTuple):
    """One status change of a SmartTrade, as :meth:`FakeThreeCommas.history` lists them.

    ``time`` is on the server's clock (``RecordedRequest.time``'s); a delayed transition is stamped
    with its deadline, when it happened, not with the request that noticed it. ``from_`` is ``None``
    for the first entry, the trade's birth. ``cause``: the route name of the request that made the
    change (``"cancel"``, ``"cancel_trade"``, ``"close_by_market"``, ``"force_start"``,
    ``"force_process"``, ``"create"``), ``"seed"`` (``seed_trades`` / ``add_trade``),
    ``"set_status"`` (``set_trade_status``) or ``"timer"`` (a delayed transition, also when
    ``complete_pending`` forced it). ``api_key``: the ``Apikey`` of that request, else ``None``.
    """

    time: float
    from_: str | None
    to: str
    cause: str
    api_key: str | None


def _sort_key(order_by: str) -> Callable[[TradeRecord], Any]:
    if order_by in ("created_at", "updated_at", "status"):
        return attrgetter({"created_at": "created_ts", "updated_at": "updated_ts"}.get(order_by, "status"))
    if order_by == "closed_at":
        return lambda r: r.closed_ts or 0.0
    if order_by == "profit":
        return lambda r: r.shape.variant(r.status, r.entered).profit_usd
    return lambda r: r.shape.variant(r.status, r.entered).profit_pct


def _filter(rows: list[TradeRecord], q: ListQuery) -> list[TradeRecord]:
    """Each filter is one tight pass over the survivors."""
    if q.statuses is not None:
        wanted = q.statuses
        if q.included:
            rows = [r for r in rows if r.status in wanted]
        else:
            rows = [r for r in rows if r.status not in wanted]
    if q.account_id is not None:
        rows = [r for r in rows if r.shape.params.account_id == q.account_id]
    if q.pair is not None:
        rows = [r for r in rows if r.shape.params.pair == q.pair]
    if q.quote is not None:
        rows = [r for r in rows if r.shape.params.pair.partition("_")[0] == q.quote]
    if q.base is not None:
        rows = [r for r in rows if r.shape.params.pair.partition("_")[2] == q.base]
    if q.type is not None:
        rows = [r for r in rows if r.shape.params.smart_type == q.type]
    if q.created_from is not None:
        t0 = q.created_from
        rows = [r for r in rows if r.created_ts >= t0]
    if q.created_to is not None:
        t1 = q.created_to
        rows = [r for r in rows if r.created_ts <= t1]
    return rows


class TradeStore:
    """All SmartTrades of one fake server. ``clock`` schedules transitions; ``wall`` stamps
    ``created_at`` / ``updated_at`` / ``closed_at``."""

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
        self._trades: dict[int, TradeRecord] = {}
        self._heap: list[tuple[float, int, int, str, str]] = []
        self._seq = 0
        self._next_trade_id = 30_000_001
        self._next_step_id = 1_006_000_001
        self._default_shapes: dict[bytes, Shape] = {}

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

    def _schedule(self, rec: TradeRecord, delay: float | None, src: str, dst: str, now: float) -> None:
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
        clock_now = self._clock() if now == _INF else now
        trades = self._trades
        while heap and heap[0][0] <= now:
            deadline, _, tid, src, dst = heapq.heappop(heap)
            rec = trades.get(tid)
            if rec is None or rec.status != src:
                continue
            # Stamped at its deadline; when complete_pending forces one early, now.
            at = deadline if deadline < clock_now else clock_now
            self._set_status(rec, dst, wall_now - (clock_now - at), (at, "timer", None))

    def complete_pending(self) -> None:
        """Apply every scheduled transition now, whatever its deadline."""
        self.resolve(_INF)

    def _set_status(self, rec: TradeRecord, status: str, wall: float, origin: Origin) -> None:
        """Change ``rec``'s status at ``wall`` (its timestamps) and log it with its ``origin``."""
        history = rec.history
        if history is None:
            history = rec.history = [(rec.born, None, rec.status, "seed", None)]
        at, cause, api_key = origin
        history.append((at, rec.status, status, cause, api_key))
        if status == "waiting_targets" or (status == "finished" and rec.status == "created"):
            rec.entered = True
        rec.status = status
        rec.updated_ts = wall
        if status in FINAL:
            rec.closed_ts = wall

    def get_record(self, trade_id: int) -> TradeRecord:
        rec = self._trades.get(trade_id)
        if rec is None:
            raise not_found()
        return rec

    def _inspect(self, trade_id: int) -> TradeRecord:
        """The record for an inspection method: transitions applied, ``KeyError`` if unknown."""
        self.resolve()
        rec = self._trades.get(trade_id)
        if rec is None:
            raise KeyError(trade_id)
        return rec

    def snapshot(self, trade_id: int) -> Json:
        """A deep, independent copy of one SmartTrade as the API would render it now."""
        out: Json = _decode(_encode(render(self._inspect(trade_id))))
        return out

    def status_of(self, trade_id: int) -> str:
        return self._inspect(trade_id).status

    def history(self, trade_id: int) -> list[Transition]:
        rec = self._inspect(trade_id)
        entries: list[HistoryEntry] = rec.history or [(rec.born, None, rec.status, "seed", None)]
        return [Transition._make(e) for e in entries]

    def set_status(self, trade_id: int, status: str) -> None:
        rec = self._trades.get(trade_id)
        if rec is None:
            raise KeyError(trade_id)
        rec.entered = status not in NOT_ENTERED
        self._set_status(rec, status, self._wall(), (self._clock(), "set_status", None))

    def _conflict(self, rec: TradeRecord, action: str) -> ApiError:
        text = f"{action} is not allowed for a SmartTrade in status {rec.status}"
        if self.conflict_status == 422:
            return ApiError(422, "unprocessable_entity", text)
        return ApiError(403, "Forbidden", text)

    def _touch(self, rec: TradeRecord, shape: Shape | None = None) -> Json:
        """After an edit: the new shape if any, ``updated_at`` now, and the answer."""
        if shape is not None:
            rec.shape = shape
        rec.updated_ts = self._wall()
        return render(rec)

    # ------------------------------------------------------------------------------------------ seeding

    def _seed_shape(self, params: Mapping[str, Any] | None) -> tuple[Shape, Json]:
        body: Json = dict(_DEFAULT_BODY)
        if params:
            body.update(params)
        key = _encode(body)
        shape = self._default_shapes.get(key)
        if shape is None:
            try:
                parsed, _ = parse_create(body, self.next_step_id)
            except ApiError as exc:
                raise ValueError(f"invalid SmartTrade params: {exc.attributes}") from None
            shape = self._default_shapes[key] = Shape(parsed)
        return shape, body

    def seed(
        self,
        n: int,
        params: Mapping[str, Any] | None,
        status: str,
        created_at: datetime | float | None,
        note: str | None,
    ) -> list[int]:
        shape, body = self._seed_shape(params)
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
        born = self._clock()
        for _ in range(n):
            tid = self._new_id()
            trades[tid] = TradeRecord(tid, shape, status, ts, note, born)
            ids.append(tid)
        return ids

    # ---------------------------------------------------------------------------------------- endpoints

    def list_trades(self, query: Mapping[str, str]) -> list[Json]:
        q = parse_list_query(query)
        rows = _filter(list(self._trades.values()), q)  # dict order: ids ascending
        # Sorting is stable, also with reverse=True: listing ids descending first makes ties go by id DESC.
        if q.descending:
            rows.reverse()
        ordered = sorted(rows, key=_sort_key(q.order_by), reverse=q.descending)
        start = (q.page - 1) * q.per_page
        return [render(r) for r in ordered[start : start + q.per_page]]

    def create(self, body: Json, origin: Origin) -> Json:
        params, note = parse_create(body, self.next_step_id)
        tid = self._new_id()
        at, cause, api_key = origin
        birth: HistoryEntry = (at, None, "created", cause, api_key)
        rec = TradeRecord(tid, Shape(params), "created", self._wall(), note, at, [birth])
        self._trades[tid] = rec
        if params.instant and params.order_type == "market":
            target = "finished"
        elif params.order_type == "market" or params.skip_enter_step:
            target = "waiting_targets"
        else:
            target = "waiting_position"
        self._schedule(rec, 0.0, "created", target, at)
        return render(rec)

    def get(self, trade_id: int) -> Json:
        return render(self.get_record(trade_id))

    def _wind_down(self, trade_id: int, origin: Origin, action: str, pending: str, final: str) -> Json:
        """Cancel or close by market: ``pending`` now, ``final`` after ``cancel_delay``."""
        rec = self.get_record(trade_id)
        if rec.status not in CANCELLABLE:
            raise self._conflict(rec, action)
        self._set_status(rec, pending, self._wall(), origin)
        self._schedule(rec, self.cancel_delay, pending, final, origin[0])
        return render(rec)

    def cancel(self, trade_id: int, origin: Origin) -> Json:
        return self._wind_down(trade_id, origin, "Cancel", "cancellation_pending", "cancelled")

    def update(self, trade_id: int, body: Json) -> Json:
        rec = self.get_record(trade_id)
        if rec.status not in WAITING:
            raise self._conflict(rec, "Edit")
        params = parse_update(body, rec.shape.params, self.next_step_id)
        return self._touch(rec, Shape(params) if params is not None else None)

    def add_funds(self, trade_id: int, body: Json) -> Json:
        rec = self.get_record(trade_id)
        p = rec.shape.params
        if rec.status not in WAITING or p.instant:
            raise self._conflict(rec, "Add funds")
        _, value, price = parse_funds(body)
        shape = rec.shape
        add_price = price if price is not None else shape.last
        new_units = p.units + value
        new_price = (p.units * shape.entry_price + value * add_price) / new_units
        return self._touch(rec, Shape(replace(p, units=new_units, price=new_price)))

    def reduce_funds_info(self, trade_id: int) -> Json:
        rec = self.get_record(trade_id)
        if rec.status != "waiting_targets":
            raise ApiError(400, "Wrong param(s)", "Reduce funds is not allowed in the current status")
        return {"max_reduce_funds_amount": fmt(rec.shape.params.units * _REDUCIBLE, 12)}

    def reduce_funds(self, trade_id: int, body: Json) -> Json:
        rec = self.get_record(trade_id)
        if rec.status != "waiting_targets":
            raise self._conflict(rec, "Reduce funds")
        _, value, _ = parse_funds(body)
        p = rec.shape.params
        most = p.units * _REDUCIBLE
        if value > most:
            raise ApiError(
                422,
                "record_invalid",
                "Invalid parameters",
                {"units": [f"must be less than or equal to {fmt(most, 12)}"]},
            )
        return self._touch(rec, Shape(replace(p, units=p.units - value, price=rec.shape.entry_price)))

    def close_by_market(self, trade_id: int, origin: Origin) -> Json:
        return self._wind_down(trade_id, origin, "Close by market", "panic_sell_pending", "finished")

    def force_start(self, trade_id: int, origin: Origin) -> Json:
        rec = self.get_record(trade_id)
        if rec.status not in ("created", "waiting_position"):
            raise self._conflict(rec, "Force start")
        rec.entered = True
        self._set_status(rec, "waiting_targets", self._wall(), origin)
        return render(rec)

    def force_process(self, trade_id: int, origin: Origin) -> Json:
        rec = self.get_record(trade_id)
        if rec.status in FINAL:
            raise self._conflict(rec, "Force process")
        if rec.status == "cancellation_pending":
            self._set_status(rec, "cancelled", self._wall(), origin)
        elif rec.status == "panic_sell_pending":
            self._set_status(rec, "finished", self._wall(), origin)
        else:
            rec.updated_ts = self._wall()
        return render(rec)

    def set_note(self, trade_id: int, body: Json) -> Json:
        rec = self.get_record(trade_id)
        rec.note = parse_note(body)
        return self._touch(rec)

    # ------------------------------------------------------------------------------------ trade entities

    def _sub(self, rec: TradeRecord) -> SubTrades:
        if rec.sub is None:
            rec.sub = SubTrades(self.next_step_id(), self.next_step_id())
        return rec.sub

    def trades(self, trade_id: int) -> list[Json]:
        rec = self.get_record(trade_id)
        return sub_trades(rec, self._sub(rec))

    def close_trade_by_market(self, trade_id: int, sub_id: int) -> Json:
        rec = self.get_record(trade_id)
        sub = self._sub(rec)
        t = find_sub_trade(rec, sub, sub_id)
        if rec.status in FINAL or not t["force_processable"]:
            raise self._conflict(rec, "Close trade by market")
        sub.overrides[sub_id] = {
            "order_type": "market",
            "status": "to_process",
            "cancelable": False,
            "force_processable": False,
        }
        return self._touch(rec)

    def cancel_trade(self, trade_id: int, sub_id: int, origin: Origin) -> Json:
        rec = self.get_record(trade_id)
        sub = self._sub(rec)
        t = find_sub_trade(rec, sub, sub_id)
        if rec.status in FINAL or not t["cancelable"]:
            raise self._conflict(rec, "Cancel trade")
        if t["trade_purpose"] == "position":
            return self.cancel(trade_id, origin)
        t.update(status="cancelled", cancelable=False, force_processable=False, updated_at=iso(self._wall()))
        p = rec.shape.params
        if t["trade_purpose"] == "take_profit":
            shape = Shape(replace(p, steps=tuple(s for s in p.steps if s.id != sub_id)))
        else:
            shape = Shape(replace(p, stop_loss=None))
        sub.removed.append(t)
        return self._touch(rec, shape)
