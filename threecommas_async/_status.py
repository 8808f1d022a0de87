"""What a SmartTrade's status means: the one place that reads it, and the named sets every decision uses.

Precedence: ``status.basic_type`` first, ``status.type`` only when ``basic_type`` is missing. 3Commas
sends both; in every official SmartTrade example they are equal, and where they differ elsewhere (a
position's ``type`` may be a refinement such as ``trailing_activated``) ``basic_type`` is the coarse
state a program should decide on. A refinement 3Commas adds later then cannot change a decision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .models import SmartTrade

__all__ = [
    "CANCELLING",
    "CLOSED_BY_MARKET",
    "CLOSED_OTHERWISE",
    "CLOSING",
    "FINAL",
    "LIST_FILTERS",
    "NOTHING_TO_CANCEL",
    "status_of",
]

CANCELLING: Final = frozenset({"cancellation_pending", "cancelled"})
"""A cancel is under way or done."""

CLOSED_OTHERWISE: Final = frozenset({"finished", "failed", "panic_sell_pending"})
"""Over, or being closed at market: nothing for a cancel to do, and no cancel can have led here."""

NOTHING_TO_CANCEL: Final = CANCELLING | CLOSED_OTHERWISE
"""A cancel of a SmartTrade in one of these has nothing left to do."""

FINAL: Final = frozenset({"cancelled", "finished", "failed"})
"""Nothing more will happen to the SmartTrade."""

CLOSING: Final = frozenset({"cancellation_pending", "panic_sell_pending"})
"""Active in the API's sense, but already on their way out: ``cancel-all`` leaves them alone."""

CLOSED_BY_MARKET: Final = frozenset({"panic_sell_pending", "finished"})
"""What a SmartTrade shows once a close by market went through."""

LIST_FILTERS: Final = (
    "all",
    "active",
    "finished",
    "successfully_finished",
    "successfully_finish",
    "cancelled",
    "failed",
)
"""The ``status`` filters of ``GET /v2/smart_trades`` (the newest docs spell one ``successfully_finish``)."""


def status_of(trade: SmartTrade | None) -> str | None:
    """The SmartTrade's state to decide on (see the module's precedence), None when it is not given."""
    if trade is None:
        return None
    status = trade.status
    if status is None:
        return None
    return status.basic_type or status.type
