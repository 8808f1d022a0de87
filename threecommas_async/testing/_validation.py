"""Request parsing and validation of the fake: bodies and list queries into typed parameters.

Errors come out the way 3Commas words them: a create or edit answers 422 ``record_invalid`` with every
bad attribute in ``error_attributes``; funds and notes answer 400 likewise; a bad list parameter answers
400 ``Wrong param(s)``, naming the first one found.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from ._errors import ApiError, wrong_params
from ._statuses import FINAL

__all__ = [
    "ORDER_BY",
    "Leverage",
    "ListQuery",
    "Params",
    "Step",
    "StopLoss",
    "parse_create",
    "parse_funds",
    "parse_list_query",
    "parse_note",
    "parse_update",
]

Json = dict[str, Any]
NextId = Callable[[], int]

ORDER_BY: Final = frozenset(
    {"created_at", "updated_at", "closed_at", "status", "profit", "profit_percentage"}
)
_PAIR_RE: Final = re.compile(r"^[A-Z0-9]{1,20}_[A-Z0-9]{1,20}$")
_HUNDRED: Final = Decimal(100)


# ------------------------------------------------------------------------------------ typed parameters


@dataclass(frozen=True, slots=True)
class Step:
    """One take-profit step."""

    id: int
    order_type: str
    volume: Decimal
    price_type: str
    price: Decimal | None
    percent: Decimal | None
    trailing: bool
    trailing_percent: Decimal | None


@dataclass(frozen=True, slots=True)
class StopLoss:
    order_type: str
    price_type: str
    price: Decimal | None
    percent: Decimal | None
    breakeven: bool
    trailing: bool
    timeout: int | None


@dataclass(frozen=True, slots=True)
class Leverage:
    enabled: bool = False
    type: str | None = None
    value: int | None = None


@dataclass(frozen=True, slots=True)
class Params:
    """A SmartTrade's parameters, as a create body gives them (and edits change them)."""

    account_id: int
    pair: str
    position_type: str
    order_type: str
    units: Decimal
    price: Decimal | None  # limit / conditional price; None: market
    instant: bool
    skip_enter_step: bool
    leverage: Leverage
    tp_enabled: bool
    steps: tuple[Step, ...]
    stop_loss: StopLoss | None

    @property
    def smart_type(self) -> str:
        if self.instant:
            return "simple_buy" if self.position_type == "buy" else "simple_sell"
        if self.skip_enter_step:
            return "smart_sell" if self.position_type == "buy" else "smart_cover"
        return "smart_trade"


# ----------------------------------------------------------------------------------------- primitives


class _Errors:
    """Every bad attribute of one body, so that one answer names them all."""

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


def _value_of(parent: Json, key: str, attr: str, errors: _Errors) -> Decimal | None:
    """``parent[key]["value"]`` as a positive number, e.g. ``position.units.value``."""
    return _num((_obj(parent.get(key), attr, errors) or {}).get("value"), f"{attr}.value", errors)


# ------------------------------------------------------------------------------------------- sections


def _parse_leverage(raw: Any, errors: _Errors) -> Leverage | None:
    lev = _obj(raw, "leverage", errors)
    if lev is None:
        return None
    value = _num(lev.get("value"), "leverage.value", errors)
    ltype = lev.get("type")
    return Leverage(
        _bool(lev.get("enabled")),
        ltype if isinstance(ltype, str) else None,
        int(value) if value else None,
    )


def _parse_step(step: Json, attr: str, enabled: bool, errors: _Errors, next_id: NextId) -> Step:
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
    return Step(
        id=sid if isinstance(sid, int) and not isinstance(sid, bool) else next_id(),
        order_type=order_type or "limit",
        volume=volume or _HUNDRED,
        price_type=_str(price.get("type"), "last"),
        price=value,
        percent=percent,
        trailing=_bool(trailing.get("enabled")),
        trailing_percent=tpercent,
    )


def _parse_take_profit(raw: Any, errors: _Errors, next_id: NextId) -> tuple[bool, tuple[Step, ...]] | None:
    tp = _obj(raw, "take_profit", errors)
    if tp is None:
        return None
    enabled = _bool(tp.get("enabled"))
    steps_raw = tp.get("steps") or []
    if not isinstance(steps_raw, list):
        errors.add("take_profit.steps", "is invalid")
        return None
    steps: list[Step] = []
    for i, s in enumerate(steps_raw):
        attr = f"take_profit.steps[{i}]"
        step = _obj(s, attr, errors)
        if step is not None:
            steps.append(_parse_step(step, attr, enabled, errors, next_id))
    if enabled and steps and sum(s.volume for s in steps) > _HUNDRED:
        errors.add("take_profit.steps", "volumes must not add up to more than 100")
    return enabled, tuple(steps)


def _parse_stop_loss(raw: Any, errors: _Errors) -> tuple[StopLoss | None] | None:
    """``None``: not given; ``(None,)``: given and disabled."""
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
        StopLoss(
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


def _parse_account(raw: Any, errors: _Errors) -> int | None:
    if raw is None or raw == "":
        errors.add("account_id", "is missing")
        return None
    try:
        if isinstance(raw, bool):
            raise ValueError
        return int(raw)
    except (TypeError, ValueError):
        errors.add("account_id", "is invalid")
        return None


_Position = tuple[str | None, str | None, Decimal | None, Decimal | None]


def _parse_position(raw: Any, errors: _Errors) -> _Position:
    """``(type, order_type, units, price)`` of a create body's position."""
    position = _obj(raw, "position", errors)
    if position is None:
        if "position" not in errors.attrs:
            errors.add("position", "is missing")
        return None, None, None, None
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
    price = None
    if order_type == "conditional":
        cond = _obj(position.get("conditional"), "position.conditional", errors) or {}
        cprice = _obj(cond.get("price"), "position.conditional.price", errors) or {}
        price = _num(cprice.get("value"), "position.conditional.price.value", errors, required=True)
    elif order_type == "limit":
        p = _obj(position.get("price"), "position.price", errors) or {}
        price = _num(p.get("value"), "position.price.value", errors, required=True)
    return ptype, order_type, units, price


# --------------------------------------------------------------------------------------------- bodies


def parse_create(body: Json, next_id: NextId) -> tuple[Params, str | None]:
    """Validate a create body like 3Commas does: 422 ``record_invalid`` with ``error_attributes``.

    ``next_id`` numbers take-profit steps that come without an id.
    """
    errors = _Errors()
    account_id = _parse_account(body.get("account_id"), errors)
    pair = body.get("pair")
    if pair is None or pair == "":
        errors.add("pair", "is missing")
    elif not isinstance(pair, str) or not _PAIR_RE.match(pair):
        errors.add("pair", "is invalid")
    ptype, order_type, units, price = _parse_position(body.get("position"), errors)
    leverage = _parse_leverage(body.get("leverage"), errors)
    tp = _parse_take_profit(body.get("take_profit"), errors, next_id)
    sl = _parse_stop_loss(body.get("stop_loss"), errors)
    note = _check_note(body.get("note"), errors, required=False)
    errors.raise_if_any(422)
    assert account_id is not None and isinstance(pair, str) and ptype and order_type and units
    params = Params(
        account_id=account_id,
        pair=pair,
        position_type=ptype,
        order_type=order_type,
        units=units,
        price=price,
        instant=_bool(body.get("instant")),
        skip_enter_step=_bool(body.get("skip_enter_step")),
        leverage=leverage or Leverage(),
        tp_enabled=tp[0] if tp else False,
        steps=tp[1] if tp else (),
        stop_loss=sl[0] if sl else None,
    )
    return params, note


def parse_update(body: Json, params: Params, next_id: NextId) -> Params | None:
    """The parameters after a PATCH body (422 ``record_invalid`` if invalid); ``None``: no change."""
    errors = _Errors()
    changes: dict[str, Any] = {}
    leverage = _parse_leverage(body.get("leverage"), errors)
    if leverage is not None:
        changes["leverage"] = leverage
    position = _obj(body.get("position"), "position", errors)
    if position is not None:
        units = _value_of(position, "units", "position.units", errors)
        if units is not None:
            changes["units"] = units
        price = _value_of(position, "price", "position.price", errors)
        if price is not None and params.order_type != "market":
            changes["price"] = price
    tp = _parse_take_profit(body.get("take_profit"), errors, next_id)
    if tp is not None:
        changes["tp_enabled"], changes["steps"] = tp
    sl = _parse_stop_loss(body.get("stop_loss"), errors)
    if sl is not None:
        changes["stop_loss"] = sl[0]
    errors.raise_if_any(422)
    return replace(params, **changes) if changes else None


def parse_funds(body: Json) -> tuple[str, Decimal, Decimal | None]:
    """``(order_type, units, price)`` of an add_funds / reduce_funds body (400 if invalid)."""
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


def parse_note(body: Json) -> str:
    """The note of a set_note body: 1..300 characters (400 ``record_invalid`` otherwise)."""
    errors = _Errors()
    note = _check_note(body.get("note"), errors, required=True)
    errors.raise_if_any(400)
    assert note is not None
    return note


# ---------------------------------------------------------------------------------------- list query


@dataclass(frozen=True, slots=True)
class ListQuery:
    """The parameters of ``GET /v2/smart_trades``; ``None`` filters are not applied."""

    page: int
    per_page: int
    order_by: str
    descending: bool
    statuses: frozenset[str] | None  # with ``included``: keep trades whose status is (not) in the set
    included: bool
    account_id: int | None
    pair: str | None
    quote: str | None
    base: str | None
    type: str | None
    created_from: float | None
    created_to: float | None


def _status_filter(value: str) -> tuple[frozenset[str] | None, bool]:
    if value == "all":
        return None, True
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


def parse_list_query(query: Mapping[str, str]) -> ListQuery:
    """Validate the list parameters in the order 3Commas reports them (400 ``Wrong param(s)``)."""
    get = query.get
    page = _parse_int(get("page"), "page", 1, 1, None)
    per_page = _parse_int(get("per_page"), "per_page", 10, 1, 100)
    order_by = get("order_by") or "status"
    if order_by not in ORDER_BY:
        raise wrong_params("order_by", "does not have a valid value")
    direction = (get("order_direction") or "DESC").upper()
    if direction not in ("ASC", "DESC"):
        raise wrong_params("order_direction", "does not have a valid value")
    status = get("status")
    statuses, included = _status_filter(status) if status else (None, True)
    account = get("account_id")
    frm = get("from")
    to = get("to")
    return ListQuery(
        page=page,
        per_page=per_page,
        order_by=order_by,
        descending=direction == "DESC",
        statuses=statuses,
        included=included,
        account_id=_parse_int(account, "account_id", 0, 0, None) if account else None,
        pair=get("pair") or None,
        quote=get("quote") or None,
        base=get("base") or None,
        type=get("type") or None,
        created_from=_parse_time(frm, "from") if frm else None,
        created_to=_parse_time(to, "to") if to else None,
    )
