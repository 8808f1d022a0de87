"""Request bodies: typed Structs for create / update / add_funds / reduce_funds.

Encoding decisions:
- ``omit_defaults=True``: a field left unset is not sent at all (not sent as ``null``), so a partial update
  touches only what it names. Fields the API requires wherever the object appears have no default and must
  be given.
- Amounts, prices, volumes and percentages are ``Decimal`` and go on the wire as JSON *strings*
  (``"0.01"``), msgspec's default for Decimal: every example request in the official docs sends them as
  strings, and a string keeps the exact digits the caller chose (no float rounding). Integers that are ids or
  counts (``account_id``, step ``id``, timeout seconds) stay JSON numbers.
- Constraints given as ``msgspec.Meta`` (the note's length) are checked when a body is *decoded* into these
  types (the fake server does that), never when encoding: msgspec does not validate on encode, and the
  server stays the judge. Limits on Decimal values (trailing percent 0.01..100) cannot be expressed with
  ``Meta`` and are left to the server.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, TypeAlias

import msgspec

__all__ = [
    "AddFundsParams",
    "ConditionalParams",
    "LeverageParams",
    "ParamsStruct",
    "PositionParams",
    "PriceParams",
    "ReduceFundsParams",
    "SmartTradeCreate",
    "SmartTradeUpdate",
    "StopLossParams",
    "TakeProfitParams",
    "TakeProfitStepParams",
    "TimeoutParams",
    "TrailingParams",
    "UnitsParams",
]

Note: TypeAlias = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]


class ParamsStruct(msgspec.Struct, omit_defaults=True):
    """Base of the request bodies (``omit_defaults`` is inherited; each subclass sets ``kw_only=True``)."""


class UnitsParams(ParamsStruct, kw_only=True):
    """An amount of the base asset."""

    value: Decimal


class PriceParams(ParamsStruct, kw_only=True):
    """A price: a fixed ``value``, or a ``percent`` (take profit, stop loss), and for triggers the ``type`` of
    price followed (bid, ask, last). ``value`` and ``percent`` are mutually exclusive."""

    type: str | None = None
    value: Decimal | None = None
    percent: Decimal | None = None


class TrailingParams(ParamsStruct, kw_only=True):
    enabled: bool
    percent: Decimal | None = None


class ConditionalParams(ParamsStruct, kw_only=True):
    """A trigger: for a conditional position (``order_type`` market or limit) or a conditional stop loss."""

    order_type: str | None = None
    price: PriceParams | None = None
    trailing: TrailingParams | None = None


class LeverageParams(ParamsStruct, kw_only=True):
    """``type``: the futures margin mode; ``value``: the leverage (a string on the wire, as in the docs)."""

    enabled: bool
    type: str | None = None
    value: Decimal | None = None


class PositionParams(ParamsStruct, kw_only=True):
    """The entry. ``type`` (buy, sell) and ``order_type`` (market, limit, conditional) are required to create;
    an update may leave them out."""

    type: str | None = None
    order_type: str | None = None
    units: UnitsParams | None = None
    price: PriceParams | None = None
    conditional: ConditionalParams | None = None


class TakeProfitStepParams(ParamsStruct, kw_only=True):
    """One target. ``volume`` is the percentage of the position it closes; ``id`` names an existing step in an
    update."""

    id: int | None = None
    order_type: str | None = None
    units: UnitsParams | None = None
    price: PriceParams | None = None
    volume: Decimal | None = None
    total: Decimal | None = None
    trailing: TrailingParams | None = None


class TakeProfitParams(ParamsStruct, kw_only=True):
    enabled: bool
    steps: list[TakeProfitStepParams] = msgspec.field(default_factory=list)


class TimeoutParams(ParamsStruct, kw_only=True):
    """``value`` in seconds."""

    enabled: bool
    value: int | None = None


class StopLossParams(ParamsStruct, kw_only=True):
    """``order_type`` (market, limit) is required when ``enabled`` is true; ``breakeven`` needs at least two
    take-profit steps."""

    enabled: bool
    breakeven: bool | None = None
    order_type: str | None = None
    price: PriceParams | None = None
    conditional: ConditionalParams | None = None
    timeout: TimeoutParams | None = None


class SmartTradeCreate(ParamsStruct, kw_only=True):
    """Body of ``POST /v2/smart_trades``. Not idempotent: the server creates a SmartTrade per request."""

    account_id: int
    pair: str
    instant: bool | None = None
    skip_enter_step: bool | None = None
    note: Note | None = None
    leverage: LeverageParams | None = None
    position: PositionParams | None = None
    take_profit: TakeProfitParams | None = None
    stop_loss: StopLossParams | None = None


class SmartTradeUpdate(ParamsStruct, kw_only=True):
    """Body of ``PATCH /v2/smart_trades/:id`` (only while waiting_position or waiting_targets)."""

    leverage: LeverageParams | None = None
    position: PositionParams | None = None
    take_profit: TakeProfitParams | None = None
    stop_loss: StopLossParams | None = None


class _FundsParams(ParamsStruct, kw_only=True):
    order_type: str
    units: UnitsParams
    price: PriceParams | None = None


class AddFundsParams(_FundsParams, kw_only=True):
    """Body of ``POST /v2/smart_trades/:id/add_funds``: ``order_type`` market or limit; ``price`` is required
    for limit. (The docs' example request shows ``units`` as an array; the parameter reference and the
    reduce-funds example describe an object, which this type follows.)"""


class ReduceFundsParams(_FundsParams, kw_only=True):
    """Body of ``POST /v2/smart_trades/:id/reduce_funds``: like ``AddFundsParams``, taking units out."""
