"""A pydantic v2 model of the SmartTrade, the same shape and types as the SDK's msgspec Structs.

Decimal for money, prices, amounts and percentages (from a JSON string or number); aware datetimes for
timestamps; every field optional, nested objects defaulting to empty ones; unknown keys ignored; frozen.
Only for the decode micro-benchmark: it is what a pydantic-based SDK would decode a cancel answer into.
Importing this module raises ImportError when pydantic is not installed.
"""

# mypy: allow-subclassing-any
# (When pydantic is not installed, the lint environment sees BaseModel as Any.)

from __future__ import annotations

from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field  # type: ignore[import-not-found, unused-ignore]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Account(_Model):
    id: int | None = None
    type: str | None = None
    name: str | None = None
    market: str | None = None
    link: str | None = None


class Status(_Model):
    type: str | None = None
    basic_type: str | None = None
    title: str | None = None
    error: str | None = None


class Leverage(_Model):
    enabled: bool | None = None
    type: str | None = None
    value: Decimal | None = None
    type_editable: bool | None = None


class Units(_Model):
    value: Decimal | None = None
    editable: bool | None = None


class Total(_Model):
    value: Decimal | None = None
    value_without_commission: Decimal | None = None


class Price(_Model):
    type: str | None = None
    value: Decimal | None = None
    value_without_commission: Decimal | None = None
    percent: Decimal | None = None
    editable: bool | None = None


class Trailing(_Model):
    enabled: bool | None = None
    editable: bool | None = None
    percent: Decimal | None = None


class Conditional(_Model):
    editable: bool | None = None
    order_type: str | None = None
    price: Price | None = Field(default_factory=Price)
    trailing: Trailing | None = Field(default_factory=Trailing)


class Position(_Model):
    type: str | None = None
    editable: bool | None = None
    units: Units | None = Field(default_factory=Units)
    price: Price | None = Field(default_factory=Price)
    total: Total | None = Field(default_factory=Total)
    order_type: str | None = None
    status: Status | None = Field(default_factory=Status)
    conditional: Conditional | None = Field(default_factory=Conditional)


class StepData(_Model):
    cancelable: bool | None = None
    panic_sell_available: bool | None = None


class TakeProfitStep(_Model):
    id: int | None = None
    order_type: str | None = None
    editable: bool | None = None
    units: Units | None = Field(default_factory=Units)
    price: Price | None = Field(default_factory=Price)
    volume: Decimal | None = None
    total: Decimal | None = None
    trailing: Trailing | None = Field(default_factory=Trailing)
    status: Status | None = Field(default_factory=Status)
    closed_at: AwareDatetime | None = None
    data: StepData | None = Field(default_factory=StepData)
    position: int | None = None


class TakeProfit(_Model):
    enabled: bool | None = None
    price_type: str | None = None
    steps: list[TakeProfitStep] | None = Field(default_factory=list)


class StopLossTimeout(_Model):
    enabled: bool | None = None
    value: int | None = None


class StopLoss(_Model):
    enabled: bool | None = None
    price_type: str | None = None
    breakeven: bool | None = None
    order_type: str | None = None
    editable: bool | None = None
    price: Price | None = Field(default_factory=Price)
    units: Units | None = Field(default_factory=Units)
    total: Total | None = Field(default_factory=Total)
    conditional: Conditional | None = Field(default_factory=Conditional)
    timeout: StopLossTimeout | None = Field(default_factory=StopLossTimeout)
    status: Status | None = Field(default_factory=Status)
    closed_at: AwareDatetime | None = None


class ReduceFundsStep(_Model):
    id: int | None = None
    type: str | None = None
    order_type: str | None = None
    status: Status | None = Field(default_factory=Status)
    units: Units | None = Field(default_factory=Units)
    price: Price | None = Field(default_factory=Price)
    total: Total | None = Field(default_factory=Total)
    closed_at: AwareDatetime | None = None
    data: StepData | None = Field(default_factory=StepData)


class ReduceFunds(_Model):
    steps: list[ReduceFundsStep] | None = Field(default_factory=list)


class MarketClose(_Model):
    id: int | None = None
    type: str | None = None
    status: Status | None = Field(default_factory=Status)
    units: Units | None = Field(default_factory=Units)
    price: Price | None = Field(default_factory=Price)
    total: Total | None = Field(default_factory=Total)


class CurrentPrice(_Model):
    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None
    quote_volume: Decimal | None = None
    day_change_percent: Decimal | None = None


class SmartTradeData(_Model):
    editable: bool | None = None
    current_price: CurrentPrice | None = Field(default_factory=CurrentPrice)
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


class Profit(_Model):
    volume: Decimal | None = None
    usd: Decimal | None = None
    percent: Decimal | None = None
    roe: Decimal | None = None


class Margin(_Model):
    amount: Decimal | None = None
    total: Decimal | None = None


class SmartTrade(_Model):
    id: int | None = None
    version: int | None = None
    account: Account | None = Field(default_factory=Account)
    pair: str | None = None
    instant: bool | None = None
    status: Status | None = Field(default_factory=Status)
    leverage: Leverage | None = Field(default_factory=Leverage)
    position: Position | None = Field(default_factory=Position)
    take_profit: TakeProfit | None = Field(default_factory=TakeProfit)
    stop_loss: StopLoss | None = Field(default_factory=StopLoss)
    reduce_funds: ReduceFunds | None = Field(default_factory=ReduceFunds)
    market_close: MarketClose | None = Field(default_factory=MarketClose)
    note: str | None = None
    note_raw: str | None = None
    skip_enter_step: bool | None = None
    data: SmartTradeData | None = Field(default_factory=SmartTradeData)
    profit: Profit | None = Field(default_factory=Profit)
    margin: Margin | None = Field(default_factory=Margin)
    is_position_not_filled: bool | None = None
