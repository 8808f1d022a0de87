"""A SmartTrade's identity and status alone, and the body it came in: what a bulk cancel and a wait for
final states decide on, decoded in microseconds instead of tens (no amounts, no timestamps), with the
full :class:`SmartTrade` decoded from the kept body only when a program reads it."""

from __future__ import annotations

from typing import NamedTuple

import msgspec

__all__ = ["Seen", "StateDecoder", "StateListDecoder", "TradeState"]


class _Status(msgspec.Struct, frozen=True, gc=False):
    type: str | None = None
    basic_type: str | None = None


class TradeState(msgspec.Struct, frozen=True, gc=False):
    id: int | None = None
    status: _Status | None = None

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
