"""Query strings and JSON bodies, encoded once: the same bytes are signed and sent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final
from urllib.parse import quote

import msgspec

__all__ = ["encode_body", "encode_query"]

_ENCODER: Final = msgspec.json.Encoder()


def _query_value(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def encode_query(params: Mapping[str, Any] | None) -> str:
    """Encode query parameters once; the result is both sent and signed, so it must be final here."""
    if not params:
        return ""
    parts: list[str] = []
    for key, value in params.items():
        if value is None:
            continue
        name = quote(str(key), safe="[]")
        values = value if isinstance(value, Sequence) and not isinstance(value, str | bytes) else (value,)
        parts.extend(f"{name}={quote(_query_value(v), safe='')}" for v in values)
    return "&".join(parts)


def encode_body(payload: Any) -> bytes:
    """JSON body bytes, from a Struct, a mapping or any msgspec-encodable value."""
    try:
        return _ENCODER.encode(payload)
    except (TypeError, msgspec.EncodeError) as exc:
        raise TypeError(f"request body cannot be encoded as JSON: {exc}") from None
