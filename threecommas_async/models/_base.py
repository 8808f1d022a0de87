"""What every response model shares: the base Struct and the timestamp type."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeAlias

import msgspec

__all__ = ["AwareDatetime", "ResponseStruct"]

AwareDatetime: TypeAlias = Annotated[datetime, msgspec.Meta(tz=True)]
"""An ISO 8601 timestamp that must carry a zone (3Commas sends ``...Z``); decodes to an aware datetime."""


class ResponseStruct(msgspec.Struct, frozen=True, gc=False):
    """Base of every decoded response object.

    ``frozen=True``: an answer from the server is a value; change a copy with ``msgspec.structs.replace``.
    ``gc=False``: decoded JSON is a tree and cannot form a reference cycle, so the garbage collector need not
    track (and rescan) every nested Struct of the tens of thousands of SmartTrades a bot may hold. Do not make
    a cycle by hand (for instance by appending a step to its own list), it would never be collected.
    Unknown JSON keys are ignored (msgspec's default), so new server fields never break decoding; every field
    of every subclass accepts ``null`` (nested objects and arrays too), so neither does a ``null`` value.
    Items of an array are not optional: ``"steps": [null]`` is still an error.

    ``gc`` is inherited; ``kw_only`` is not, and type checkers want ``frozen`` restated, so each subclass
    repeats ``kw_only=True, frozen=True``.
    """
