"""One exchange-side trade of a SmartTrade (``GET /v2/smart_trades/:id/trades``).

Same conventions as ``_smart_trade``: JSON key names, ``Decimal`` money, aware datetimes, open ``str`` enums.
"""

from __future__ import annotations

from decimal import Decimal

from ._base import AwareDatetime, ResponseStruct

__all__ = ["Trade"]


class Trade(ResponseStruct, kw_only=True, frozen=True):
    """A trade. Enumerations seen so far (all open):

    - ``trade_purpose``: position, take_profit, stop_loss, reduce_funds;
    - ``order_side``: buy, sell; ``order_type``: market, limit, conditional;
    - ``follow_price_type``: bid, ask, last;
    - ``trigger_condition``: greater, less, greater_or_equal, less_or_equal; ``trigger_type``: none,
      conditional.

    ``trailing_last_price_updated_at`` is documented as "number or null" but named like a timestamp and never
    shown filled: an ISO string decodes to an aware datetime, a number is kept as it came (a ``float``).
    """

    id: int | None = None
    average_price: Decimal | None = None
    follow_price_type: str | None = None
    initial_amount: Decimal | None = None
    initial_total: Decimal | None = None
    initial_price: Decimal | None = None
    order_price: Decimal | None = None
    order_side: str | None = None
    order_type: str | None = None
    pair: str | None = None
    position_percentage: Decimal | None = None
    realised_amount: Decimal | None = None
    realised_total: Decimal | None = None
    realised_percentage: Decimal | None = None
    realised_price: Decimal | None = None
    status: str | None = None
    take_profit_percentage: Decimal | None = None
    trade_purpose: str | None = None
    trail_percentage: Decimal | None = None
    trail_value: Decimal | None = None
    trailing_enabled: bool | None = None
    trailing_last_price: Decimal | None = None
    trailing_last_price_updated_at: AwareDatetime | float | None = None
    trigger_condition: str | None = None
    trigger_price: Decimal | None = None
    trigger_price_percentage: Decimal | None = None
    trigger_type: str | None = None
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    cancelable: bool | None = None
    force_processable: bool | None = None
