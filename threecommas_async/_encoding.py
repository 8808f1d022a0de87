"""Query strings and JSON bodies, encoded once: the same bytes are signed and sent."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from urllib.parse import quote

import msgspec

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
    """JSON body bytes, from a params Struct, a mapping or any msgspec-encodable value."""
    try:
        return PARAMS_ENCODER.encode(payload)
    except (TypeError, msgspec.EncodeError) as exc:
        raise TypeError(f"request body cannot be encoded as JSON: {exc}") from None
