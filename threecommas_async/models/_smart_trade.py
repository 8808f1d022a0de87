"""The SmartTrade v2 entity and every object nested in it, as the API returns them.

Conventions (see ``_base.ResponseStruct`` for frozen/gc):
- attribute names are the JSON keys, so ``trade.position.units.value`` reads like the JSON path;
- money, prices, amounts, volumes, percentages and commission are ``Decimal | None``; msgspec decodes a
  Decimal from a JSON string *or* a JSON number, exactly (no float round trip), because 3Commas sends both;
- timestamps are timezone-aware datetimes;
- enumerated values (statuses, order types, sides...) stay ``str`` so a value added by 3Commas still decodes;
- every field accepts JSON ``null`` and has a default for an absent key: scalars ``None``, nested objects an
  empty object, arrays ``[]``. So a key the server leaves out reads as an empty group, but a key it sends as
  ``null`` reads as ``None`` -- nested objects and arrays included (``X | None``). The examples send ``{}``
  for an empty group, yet the API promises nothing (almost every field may be ``null``), and decoding a
  real answer must never fail on that. Narrow before chaining: ``trade.position.units.value`` does not
  type-check; write ``if trade.position and trade.position.units: ...`` (an empty Struct is truthy).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from ._base import AwareDatetime, ResponseStruct

__all__ = [
    "Account",
    "Conditional",
    "CurrentPrice",
    "Leverage",
    "Margin",
    "MarketClose",
    "Position",
    "Price",
    "Profit",
    "ReduceFunds",
    "ReduceFundsInfo",
    "ReduceFundsStep",
    "SmartTrade",
    "SmartTradeData",
    "Status",
    "StepData",
    "StopLoss",
    "StopLossTimeout",
    "TakeProfit",
    "TakeProfitStep",
    "Total",
    "Trailing",
    "Units",
]


class Account(ResponseStruct, kw_only=True, frozen=True):
    """The exchange account a SmartTrade runs on."""

    id: int | None = None
    type: str | None = None
    name: str | None = None
    market: str | None = None
    link: str | None = None


class Status(ResponseStruct, kw_only=True, frozen=True):
    """A status as 3Commas reports it, for the SmartTrade or one of its parts.

    ``type``/``basic_type`` seen so far: created, waiting_position, waiting_targets, pending_reduce_funds,
    cancellation_pending, cancelled, failed, finished, panic_sell_pending (SmartTrade); to_process,
    order_placed, finished, failed, smart_sell, trailing_activated (position); idle, to_process, order_placed
    (steps). The list is open. ``error`` is only present when the part failed.
    """

    type: str | None = None
    basic_type: str | None = None
    title: str | None = None
    error: str | None = None


class Leverage(ResponseStruct, kw_only=True, frozen=True):
    enabled: bool | None = None
    type: str | None = None
    value: Decimal | None = None
    type_editable: bool | None = None


class Units(ResponseStruct, kw_only=True, frozen=True):
    """An amount of the base asset (``{"value": ..., "editable": ...}``)."""

    value: Decimal | None = None
    editable: bool | None = None


class Total(ResponseStruct, kw_only=True, frozen=True):
    """An amount of the quote asset."""

    value: Decimal | None = None
    value_without_commission: Decimal | None = None


class Price(ResponseStruct, kw_only=True, frozen=True):
    """A price object; which keys are present depends on where it appears.

    ``type`` is the price followed (bid, ask, last); ``percent`` a price given relative to the entry.
    """

    type: str | None = None
    value: Decimal | None = None
    value_without_commission: Decimal | None = None
    percent: Decimal | None = None
    editable: bool | None = None


class Trailing(ResponseStruct, kw_only=True, frozen=True):
    enabled: bool | None = None
    editable: bool | None = None
    percent: Decimal | None = None


class Conditional(ResponseStruct, kw_only=True, frozen=True):
    """The trigger of a conditional position entry or of a conditional stop loss."""

    editable: bool | None = None
    order_type: str | None = None
    price: Price | None = msgspec.field(default_factory=Price)
    trailing: Trailing | None = msgspec.field(default_factory=Trailing)


class Position(ResponseStruct, kw_only=True, frozen=True):
    """The entry of the SmartTrade. ``type`` is the side (buy, sell); ``order_type`` market, limit or
    conditional (then ``conditional`` holds the trigger)."""

    type: str | None = None
    editable: bool | None = None
    units: Units | None = msgspec.field(default_factory=Units)
    price: Price | None = msgspec.field(default_factory=Price)
    total: Total | None = msgspec.field(default_factory=Total)
    order_type: str | None = None
    status: Status | None = msgspec.field(default_factory=Status)
    conditional: Conditional | None = msgspec.field(default_factory=Conditional)


class StepData(ResponseStruct, kw_only=True, frozen=True):
    """The actions available on one step."""

    cancelable: bool | None = None
    panic_sell_available: bool | None = None


class TakeProfitStep(ResponseStruct, kw_only=True, frozen=True):
    """One take-profit target. ``volume`` is the share of the position it closes, in percent; ``total`` is
    in quote; ``position`` is the step's rank (1 for the first)."""

    id: int | None = None
    order_type: str | None = None
    editable: bool | None = None
    units: Units | None = msgspec.field(default_factory=Units)
    price: Price | None = msgspec.field(default_factory=Price)
    volume: Decimal | None = None
    total: Decimal | None = None
    trailing: Trailing | None = msgspec.field(default_factory=Trailing)
    status: Status | None = msgspec.field(default_factory=Status)
    closed_at: AwareDatetime | None = None
    data: StepData | None = msgspec.field(default_factory=StepData)
    position: int | None = None


class TakeProfit(ResponseStruct, kw_only=True, frozen=True):
    """``price_type`` is value or percentage."""

    enabled: bool | None = None
    price_type: str | None = None
    steps: list[TakeProfitStep] | None = msgspec.field(default_factory=list)


class StopLossTimeout(ResponseStruct, kw_only=True, frozen=True):
    """``value`` is in seconds."""

    enabled: bool | None = None
    value: int | None = None


class StopLoss(ResponseStruct, kw_only=True, frozen=True):
    enabled: bool | None = None
    price_type: str | None = None
    breakeven: bool | None = None
    order_type: str | None = None
    editable: bool | None = None
    price: Price | None = msgspec.field(default_factory=Price)
    units: Units | None = msgspec.field(default_factory=Units)
    total: Total | None = msgspec.field(default_factory=Total)
    conditional: Conditional | None = msgspec.field(default_factory=Conditional)
    timeout: StopLossTimeout | None = msgspec.field(default_factory=StopLossTimeout)
    status: Status | None = msgspec.field(default_factory=Status)
    closed_at: AwareDatetime | None = None


class ReduceFundsStep(ResponseStruct, kw_only=True, frozen=True):
    """One reduce-funds order. The examples name the order type ``type``, the reference ``order_type``:
    both are kept."""

    id: int | None = None
    type: str | None = None
    order_type: str | None = None
    status: Status | None = msgspec.field(default_factory=Status)
    units: Units | None = msgspec.field(default_factory=Units)
    price: Price | None = msgspec.field(default_factory=Price)
    total: Total | None = msgspec.field(default_factory=Total)
    closed_at: AwareDatetime | None = None
    data: StepData | None = msgspec.field(default_factory=StepData)


class ReduceFunds(ResponseStruct, kw_only=True, frozen=True):
    steps: list[ReduceFundsStep] | None = msgspec.field(default_factory=list)


class MarketClose(ResponseStruct, kw_only=True, frozen=True):
    """The market order of a close-by-market; ``{}`` (all fields ``None``) until one is placed."""

    id: int | None = None
    type: str | None = None
    status: Status | None = msgspec.field(default_factory=Status)
    units: Units | None = msgspec.field(default_factory=Units)
    price: Price | None = msgspec.field(default_factory=Price)
    total: Total | None = msgspec.field(default_factory=Total)


class CurrentPrice(ResponseStruct, kw_only=True, frozen=True):
    """The market of the pair when the answer was built."""

    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None
    quote_volume: Decimal | None = None
    day_change_percent: Decimal | None = None


class SmartTradeData(ResponseStruct, kw_only=True, frozen=True):
    """Figures, timestamps and the actions available on the whole SmartTrade.

    ``type``: simple_buy, simple_sell, smart_buy, smart_sell, smart_trade, smart_cover (open list).
    ``*_available`` say whether the matching endpoint is allowed in the current state.
    """

    editable: bool | None = None
    current_price: CurrentPrice | None = msgspec.field(default_factory=CurrentPrice)
    target_price_type: str | None = None
    orderbook_price_currency: str | None = None
    base_order_finished: bool | None = None
    missing_funds_to_close: Decimal | None = None
    liquidation_price: Decimal | None = None
    average_enter_price: Decimal | None = None
    average_close_price: Decimal | None = None
    average_enter_price_without_commission: Decimal | None = None
    average_close_price_without_commission: Decimal | None = None
    panic_sell_available: bool | None = None
    add_funds_available: bool | None = None
    reduce_funds_available: bool | None = None
    force_start_available: bool | None = None
    force_process_available: bool | None = None
    cancel_available: bool | None = None
    finished: bool | None = None
    base_position_step_finished: bool | None = None
    entered_amount: Decimal | None = None
    entered_total: Decimal | None = None
    closed_amount: Decimal | None = None
    closed_total: Decimal | None = None
    commission: Decimal | None = None
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    type: str | None = None


class Profit(ResponseStruct, kw_only=True, frozen=True):
    """``volume`` in quote, ``usd`` in USD, ``percent`` in percent; ``roe`` for futures only."""

    volume: Decimal | None = None
    usd: Decimal | None = None
    percent: Decimal | None = None
    roe: Decimal | None = None


class Margin(ResponseStruct, kw_only=True, frozen=True):
    """``amount`` in base, ``total`` in quote."""

    amount: Decimal | None = None
    total: Decimal | None = None


class SmartTrade(ResponseStruct, kw_only=True, frozen=True):
    """A SmartTrade v2, as every ``/v2/smart_trades`` endpoint returns it."""

    id: int | None = None
    version: int | None = None
    account: Account | None = msgspec.field(default_factory=Account)
    pair: str | None = None
    instant: bool | None = None
    status: Status | None = msgspec.field(default_factory=Status)
    leverage: Leverage | None = msgspec.field(default_factory=Leverage)
    position: Position | None = msgspec.field(default_factory=Position)
    take_profit: TakeProfit | None = msgspec.field(default_factory=TakeProfit)
    stop_loss: StopLoss | None = msgspec.field(default_factory=StopLoss)
    reduce_funds: ReduceFunds | None = msgspec.field(default_factory=ReduceFunds)
    market_close: MarketClose | None = msgspec.field(default_factory=MarketClose)
    note: str | None = None
    note_raw: str | None = None
    skip_enter_step: bool | None = None
    data: SmartTradeData | None = msgspec.field(default_factory=SmartTradeData)
    profit: Profit | None = msgspec.field(default_factory=Profit)
    margin: Margin | None = msgspec.field(default_factory=Margin)
    is_position_not_filled: bool | None = None


class ReduceFundsInfo(ResponseStruct, kw_only=True, frozen=True):
    """How much of the position (base asset) reduce-funds may take out now."""

    max_reduce_funds_amount: Decimal | None = None
