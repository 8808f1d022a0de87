"""A SmartTrade's identity and status alone, and the body it came in: what a bulk cancel and a wait for
final states decide on, decoded in microseconds instead of tens (no amounts, no timestamps), with the
full :class:`SmartTrade` decoded from the kept body only when a program reads it."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import msgspec

from ._base import AwareDatetime
from ._decoders import SMART_TRADE_DECODER
from ._smart_trade import SmartTrade

__all__ = ["LazyTrade", "Seen", "StateDecoder", "StateListDecoder", "TradeState"]


class _Status(msgspec.Struct, frozen=True, gc=False):
    type: str | None = None
    basic_type: str | None = None


class _Data(msgspec.Struct, frozen=True, gc=False):
    closed_at: AwareDatetime | None = None


class TradeState(msgspec.Struct, frozen=True, gc=False):
    id: int | None = None
    status: _Status | None = None
    data: _Data | None = None

    @property
    def closed_at(self) -> datetime | None:
        return self.data.closed_at if self.data is not None else None

    @property
    def kind(self) -> str | None:
        """The status to decide on: ``basic_type`` first (see ``_status``)."""
        status = self.status
        if status is None:
            return None
        return status.basic_type or status.type


class Seen(NamedTuple):
    """A SmartTrade as an answer showed it: its state, and the JSON it came in (bytes, or a ``Raw`` slice
    of a list's body) for a full decode later."""

    state: TradeState
    body: bytes | msgspec.Raw


_STATE = msgspec.json.Decoder(TradeState)
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])


class StateDecoder:
    """Decodes one SmartTrade body into a :class:`Seen`."""

    __slots__ = ()

    def decode(self, buf: bytes, /) -> Seen:
        return Seen(_STATE.decode(buf), buf)


class StateListDecoder:
    """Decodes a list of SmartTrades into :class:`Seen` items, each keeping its own slice of the body."""

    __slots__ = ()

    def decode(self, buf: bytes, /) -> list[Seen]:
        return [Seen(_STATE.decode(raw), raw) for raw in _RAW_LIST.decode(buf)]


class LazyTrade:
    """A SmartTrade kept as the body it came in, decoded on first access of :attr:`trade` (None when there
    is none, or when it does not decode: :attr:`trade_error` then says why). A bulk operation pays only for
    the trades a program reads."""

    __slots__ = ("_body", "_trade", "trade_error")

    def __init__(self, body: bytes | msgspec.Raw | None = None, trade: SmartTrade | None = None) -> None:
        self._body = body
        self._trade = trade
        self.trade_error: msgspec.DecodeError | None = None

    def _adopt(self, other: LazyTrade) -> None:
        """Show ``other``'s trade from now on (a later look at the same SmartTrade)."""
        self._body, self._trade, self.trade_error = other._body, other._trade, other.trade_error

    @property
    def trade(self) -> SmartTrade | None:
        body = self._body
        if body is not None:
            self._body = None
            try:
                self._trade = SMART_TRADE_DECODER.decode(body)
            except msgspec.DecodeError as exc:
                self.trade_error = exc
            except RecursionError:
                self.trade_error = msgspec.DecodeError("nested too deeply")
        return self._trade
