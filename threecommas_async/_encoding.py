"""Query strings and JSON bodies, encoded once: the same bytes are signed and sent."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from urllib.parse import quote

import msgspec

from .models._base import finite_amount
from .models._decoders import PARAMS_ENCODER

__all__ = ["encode_body", "encode_query"]


def _query_value(key: str, value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, Decimal):
        if not finite_amount(value):
            raise ValueError(f"query parameter {key!r} is {value}, not a finite amount")
        return format(value, "f")  # never "1E-7"
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"query parameter {key!r}: cannot encode {type(value).__name__} {value!r}")


def encode_query(params: Mapping[str, Any] | None) -> str:
    """Encode query parameters once; the result is both sent and signed, so it must be final here.

    ``None`` values are left out; booleans are ``true``/``false``; a list or tuple repeats the key in
    Rails' array form (``ids[]=1&ids[]=2``).
    """
    if not params:
        return ""
    parts: list[str] = []
    for key, value in params.items():
        if value is None:
            continue
        name = quote(str(key), safe="")
        if isinstance(value, list | tuple):
            parts.extend(f"{name}%5B%5D={quote(_query_value(key, v), safe='')}" for v in value)
        else:
            parts.append(f"{name}={quote(_query_value(key, value), safe='')}")
    return "&".join(parts)


def encode_body(payload: Any) -> bytes:
    """JSON body bytes, from a params Struct, a mapping or any msgspec-encodable value.

    Decimals go out as plain decimal strings (``"0.0000001"``, never ``"1E-7"``, which 3Commas may not
    read as the same amount); a NaN, an infinity or an absurd exponent is refused, naming the field.
    """
    try:
        tree = msgspec.to_builtins(payload, builtin_types=(Decimal,))
        return PARAMS_ENCODER.encode(_plain_decimals(tree, "$"))
    except (TypeError, msgspec.EncodeError) as exc:
        raise TypeError(f"request body cannot be encoded as JSON: {exc}") from None


def _plain_decimals(value: Any, where: str) -> Any:
    if isinstance(value, Decimal):
        if not finite_amount(value):
            raise ValueError(f"request body: {where} is {value}, not a finite amount")
        return format(value, "f")
    if isinstance(value, dict):
        return {k: _plain_decimals(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_decimals(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value
