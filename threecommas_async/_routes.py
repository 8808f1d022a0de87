"""Every route the SDK knows, declared once: method, path template, what its answer decodes into.

An :class:`Endpoint` is plain data. Its ``key`` names it for the rate limiter (``"DELETE
/v2/smart_trades/{id}"``: every id segment written ``{id}``, the form ``RateLimit(endpoints=)`` uses) and
its ``priority`` comes from the one risk-first rule, :func:`priority_of`, which ``client.request()``
applies to paths that are not declared here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, Generic, Protocol, TypeVar

import msgspec

from .models import SmartTrade
from .models._decoders import (
    REDUCE_FUNDS_INFO_DECODER,
    SMART_TRADE_DECODER,
    SMART_TRADE_LIST_DECODER,
    TRADE_LIST_DECODER,
)
from .models._state import Seen, StateDecoder, StateListDecoder

__all__ = [
    "BACKGROUND",
    "NORMAL",
    "RISK_REDUCING",
    "ROUTES",
    "BodyDecoder",
    "Endpoint",
    "endpoint_template",
    "priority_of",
    "raw_endpoint",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

RISK_REDUCING: Final = 0
"""Cancels and market closes: served first when requests wait for the rate limit."""
NORMAL: Final = 1
BACKGROUND: Final = 2
"""Polling that may always wait (confirming final states): served after everything else."""

_PLACEHOLDER: Final = re.compile(r"\{\w+\}")
_ID_SEGMENT: Final = re.compile(r"/\d+(?=/|$)")
_RISK_SUFFIXES: Final = ("/close_by_market", "/panic_sell")


class BodyDecoder(Protocol[T_co]):
    """What turns an answer's body bytes into a value: a ``msgspec.json.Decoder`` or a slim variant."""

    def decode(self, buf: bytes, /) -> T_co: ...


def priority_of(method: str, template: str) -> int:
    """The risk-first rule: a DELETE (a cancel) or a close at market reduces risk, so it goes first."""
    if method == "DELETE" or template.endswith(_RISK_SUFFIXES):
        return RISK_REDUCING
    return NORMAL


@dataclass(frozen=True, slots=True)
class Endpoint(Generic[T]):
    """One route: ``method`` and ``template`` (ids as ``{id}``, ``{trade_id}``), the decoder of its 2xx
    body, and ``allow_empty`` when an empty 2xx body is a valid answer (``None``)."""

    method: str
    template: str
    decoder: BodyDecoder[T]
    what: str
    """What the body should be, for error messages: "SmartTrade"."""
    allow_empty: bool = False
    key: str = field(init=False)
    priority: int = field(init=False)
    id_names: tuple[str, ...] = field(init=False)
    _format: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "id_names", tuple(m[1:-1] for m in _PLACEHOLDER.findall(self.template)))
        set_(self, "key", f"{self.method} {_PLACEHOLDER.sub('{id}', self.template)}")
        set_(self, "priority", priority_of(self.method, self.template))
        set_(self, "_format", _PLACEHOLDER.sub("{}", self.template))

    def path(self, *ids: int) -> str:
        """The path for these ids, each checked: a positive integer (``True`` is not an id)."""
        if len(ids) == 1 and type(ids[0]) is int and ids[0] > 0 and len(self.id_names) == 1:
            return self._format.format(ids[0])  # the common case, checked in one line
        names = self.id_names
        if len(ids) != len(names):
            raise TypeError(f"{self.key} takes {len(names)} id(s), got {len(ids)}")
        for name, value in zip(names, ids, strict=True):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        return self._format.format(*ids)


_ST: Final = "/v2/smart_trades"

LIST: Final = Endpoint("GET", _ST, SMART_TRADE_LIST_DECODER, "list[SmartTrade]")
CREATE: Final = Endpoint("POST", _ST, SMART_TRADE_DECODER, "SmartTrade")
GET: Final = Endpoint("GET", _ST + "/{id}", SMART_TRADE_DECODER, "SmartTrade")
UPDATE: Final = Endpoint("PATCH", _ST + "/{id}", SMART_TRADE_DECODER, "SmartTrade")
# Older specs answered a cancel with 204 and no body: an empty answer is then followed by a GET.
CANCEL: Final[Endpoint[SmartTrade | None]] = Endpoint(
    "DELETE", _ST + "/{id}", SMART_TRADE_DECODER, "SmartTrade", allow_empty=True
)
ADD_FUNDS: Final = Endpoint("POST", _ST + "/{id}/add_funds", SMART_TRADE_DECODER, "SmartTrade")
REDUCE_FUNDS_INFO: Final = Endpoint(
    "GET", _ST + "/{id}/reduce_funds_info", REDUCE_FUNDS_INFO_DECODER, "ReduceFundsInfo"
)
REDUCE_FUNDS: Final = Endpoint("POST", _ST + "/{id}/reduce_funds", SMART_TRADE_DECODER, "SmartTrade")
CLOSE_BY_MARKET: Final = Endpoint("POST", _ST + "/{id}/close_by_market", SMART_TRADE_DECODER, "SmartTrade")
FORCE_START: Final = Endpoint("POST", _ST + "/{id}/force_start", SMART_TRADE_DECODER, "SmartTrade")
FORCE_PROCESS: Final = Endpoint("POST", _ST + "/{id}/force_process", SMART_TRADE_DECODER, "SmartTrade")
SET_NOTE: Final = Endpoint("POST", _ST + "/{id}/set_note", SMART_TRADE_DECODER, "SmartTrade")
TRADES: Final = Endpoint("GET", _ST + "/{id}/trades", TRADE_LIST_DECODER, "list[Trade]")
CLOSE_TRADE_BY_MARKET: Final = Endpoint(
    "POST", _ST + "/{id}/trades/{trade_id}/close_by_market", SMART_TRADE_DECODER, "SmartTrade"
)
CANCEL_TRADE: Final[Endpoint[SmartTrade | None]] = Endpoint(
    "DELETE", _ST + "/{id}/trades/{trade_id}", SMART_TRADE_DECODER, "SmartTrade", allow_empty=True
)

# The same routes for what a bulk cancel and a wait for final states decide on: id and status now, the
# full SmartTrade from the kept body only if it is read (models/_state.py).
CANCEL_SEEN: Final[Endpoint[Seen | None]] = Endpoint(
    "DELETE", _ST + "/{id}", StateDecoder(), "SmartTrade", allow_empty=True
)
GET_SEEN: Final[Endpoint[Seen]] = Endpoint("GET", _ST + "/{id}", StateDecoder(), "SmartTrade")
LIST_SEEN: Final[Endpoint[list[Seen]]] = Endpoint("GET", _ST, StateListDecoder(), "list[SmartTrade]")

ROUTES: Final = (
    LIST,
    CREATE,
    GET,
    UPDATE,
    CANCEL,
    ADD_FUNDS,
    REDUCE_FUNDS_INFO,
    REDUCE_FUNDS,
    CLOSE_BY_MARKET,
    FORCE_START,
    FORCE_PROCESS,
    SET_NOTE,
    TRADES,
    CLOSE_TRADE_BY_MARKET,
    CANCEL_TRADE,
)
"""SPEC.md's SmartTrade v2 table, in its order."""

_ANY: Final = msgspec.json.Decoder()


@lru_cache(maxsize=256)
def raw_endpoint(method: str, template: str) -> Endpoint[Any]:
    """The endpoint of a ``client.request()`` call (``template`` from :func:`endpoint_template`): any
    JSON, an empty body allowed, priority by the same rule as the declared routes."""
    return Endpoint(method, template, _ANY, "JSON", allow_empty=True)


def endpoint_template(path: str) -> str:
    """``/v2/smart_trades/42/trades`` -> ``/v2/smart_trades/{id}/trades``."""
    return _ID_SEGMENT.sub("/{id}", path)
