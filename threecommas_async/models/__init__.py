"""Typed models of the 3Commas SmartTrade v2 API (msgspec Structs).

Responses: ``SmartTrade``, ``Trade``, ``ReduceFundsInfo`` and their nested objects. Requests:
``SmartTradeCreate``, ``SmartTradeUpdate``, ``AddFundsParams``, ``ReduceFundsParams`` and their parts.
The shared codecs (``SMART_TRADE_DECODER``, ``PARAMS_ENCODER``, ...) live in ``models._decoders``.
"""

from ._base import AwareDatetime

# The codecs are importable from here too ("X as X" re-exports them), but are not public API: not in __all__.
from ._decoders import (
    PARAMS_ENCODER as PARAMS_ENCODER,
)
from ._decoders import (
    REDUCE_FUNDS_INFO_DECODER as REDUCE_FUNDS_INFO_DECODER,
)
from ._decoders import (
    SMART_TRADE_DECODER as SMART_TRADE_DECODER,
)
from ._decoders import (
    SMART_TRADE_LIST_DECODER as SMART_TRADE_LIST_DECODER,
)
from ._decoders import (
    TRADE_LIST_DECODER as TRADE_LIST_DECODER,
)
from ._params import (
    AddFundsParams,
    ConditionalParams,
    LeverageParams,
    PositionParams,
    PriceParams,
    ReduceFundsParams,
    SmartTradeCreate,
    SmartTradeUpdate,
    StopLossParams,
    TakeProfitParams,
    TakeProfitStepParams,
    TimeoutParams,
    TrailingParams,
    UnitsParams,
)
from ._smart_trade import (
    Account,
    Conditional,
    CurrentPrice,
    Leverage,
    Margin,
    MarketClose,
    Position,
    Price,
    Profit,
    ReduceFunds,
    ReduceFundsInfo,
    ReduceFundsStep,
    SmartTrade,
    SmartTradeData,
    Status,
    StepData,
    StopLoss,
    StopLossTimeout,
    TakeProfit,
    TakeProfitStep,
    Total,
    Trailing,
    Units,
)
from ._trade import Trade

__all__ = [
    "Account",
    "AddFundsParams",
    "AwareDatetime",
    "Conditional",
    "ConditionalParams",
    "CurrentPrice",
    "Leverage",
    "LeverageParams",
    "Margin",
    "MarketClose",
    "Position",
    "PositionParams",
    "Price",
    "PriceParams",
    "Profit",
    "ReduceFunds",
    "ReduceFundsInfo",
    "ReduceFundsParams",
    "ReduceFundsStep",
    "SmartTrade",
    "SmartTradeCreate",
    "SmartTradeData",
    "SmartTradeUpdate",
    "Status",
    "StepData",
    "StopLoss",
    "StopLossParams",
    "StopLossTimeout",
    "TakeProfit",
    "TakeProfitParams",
    "TakeProfitStep",
    "TakeProfitStepParams",
    "TimeoutParams",
    "Total",
    "Trade",
    "Trailing",
    "TrailingParams",
    "Units",
    "UnitsParams",
]
