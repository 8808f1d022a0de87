"""Reusable, module-level codecs: building a msgspec Decoder compiles its type once, so build each once."""

from __future__ import annotations

from typing import Final

import msgspec

from ._smart_trade import ReduceFundsInfo, SmartTrade
from ._trade import Trade

__all__ = [
    "PARAMS_ENCODER",
    "REDUCE_FUNDS_INFO_DECODER",
    "SMART_TRADE_DECODER",
    "SMART_TRADE_LIST_DECODER",
    "TRADE_LIST_DECODER",
]

SMART_TRADE_DECODER: Final = msgspec.json.Decoder(SmartTrade)
SMART_TRADE_LIST_DECODER: Final = msgspec.json.Decoder(list[SmartTrade])
TRADE_LIST_DECODER: Final = msgspec.json.Decoder(list[Trade])
REDUCE_FUNDS_INFO_DECODER: Final = msgspec.json.Decoder(ReduceFundsInfo)

PARAMS_ENCODER: Final = msgspec.json.Encoder(decimal_format="string")
"""Encodes request bodies (Structs of ``_params`` or plain mappings); Decimals go out as JSON strings."""
