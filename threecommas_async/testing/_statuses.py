"""The SmartTrade status vocabulary of the fake, and what each status allows.

3Commas publishes no closed list of statuses; these are the ones its official examples show, with the
``data.*_available`` flags a SmartTrade in each of them carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "CANCELLABLE",
    "FINAL",
    "NOT_ENTERED",
    "TITLES",
    "WAITING",
    "Actions",
    "actions_of",
]

FINAL: Final = frozenset({"cancelled", "finished", "failed"})
CANCELLABLE: Final = frozenset({"created", "waiting_position", "waiting_targets", "pending_reduce_funds"})
WAITING: Final = frozenset({"waiting_position", "waiting_targets"})
NOT_ENTERED: Final = frozenset({"created", "waiting_position", "failed"})
"""Statuses in which a seeded (or forced) SmartTrade has not bought its position yet."""

TITLES: Final = {
    "created": "Pending",
    "waiting_position": "Pending Position Opened",
    "waiting_targets": "Waiting Targets",
    "pending_reduce_funds": "Reducing Funds",
    "cancellation_pending": "Cancelling",
    "cancelled": "Cancelled",
    "failed": "Failed",
    "finished": "Finished",
    "panic_sell_pending": "Closing at Market Price",
}


@dataclass(frozen=True, slots=True)
class Actions:
    """The ``data`` flags of a SmartTrade: which actions its status allows."""

    editable: bool = False
    panic_sell: bool = False
    add_funds: bool = False
    reduce_funds: bool = False
    force_start: bool = False
    force_process: bool = False
    cancel: bool = False


_NONE: Final = Actions()
_ACTIONS: Final[dict[str, Actions]] = {
    "created": Actions(force_start=True, force_process=True, cancel=True),
    "waiting_position": Actions(
        editable=True, add_funds=True, force_start=True, force_process=True, cancel=True
    ),
    "waiting_targets": Actions(
        editable=True, panic_sell=True, add_funds=True, reduce_funds=True, force_process=True, cancel=True
    ),
    "pending_reduce_funds": Actions(force_process=True, cancel=True),
    "cancellation_pending": Actions(force_process=True),
    "panic_sell_pending": Actions(force_process=True),
}


def actions_of(status: str) -> Actions:
    """What ``status`` allows; final and unknown statuses allow nothing."""
    return _ACTIONS.get(status, _NONE)
