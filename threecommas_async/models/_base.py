"""What every response model shares: the base Struct, the timestamp type, and the check on amounts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Final, TypeAlias

import msgspec

__all__ = ["AwareDatetime", "ResponseStruct", "finite_amount"]

AwareDatetime: TypeAlias = Annotated[datetime, msgspec.Meta(tz=True)]
"""An ISO 8601 timestamp that must carry a zone (3Commas sends ``...Z``); decodes to an aware datetime."""

_HIGH: Final = Decimal("1E+999999")
_LOW: Final = -_HIGH


def finite_amount(value: Decimal) -> bool:
    """A number money can be: finite, within the exponents that decimal arithmetic handles by default. A
    ``Decimal("NaN")`` raises on comparison, ``1E+999999999`` overflows the first sum it enters."""
    return value.is_finite() and _LOW < value < _HIGH


def _not_an_amount(name: str, value: Decimal) -> None:
    raise ValueError(f"{name} is {value}, not a finite amount")


def _amount_check(names: list[str]) -> Callable[[Any], None]:
    """A ``__post_init__`` for the Decimal fields ``names``, as straight-line code: msgspec calls it for
    every decoded instance, and a loop over field names would cost as much as the decode itself."""
    lines = ["def __post_init__(self):"]
    for name in names:
        lines.append(f"    v = self.{name}")
        lines.append(f"    if v is not None and not (v.is_finite() and _LOW < v < _HIGH): _bad({name!r}, v)")
    scope: dict[str, Any] = {"_LOW": _LOW, "_HIGH": _HIGH, "_bad": _not_an_amount}
    exec("\n".join(lines), scope)  # code made of the class's own field names, nothing from outside
    check: Callable[[Any], None] = scope["__post_init__"]
    return check


class ResponseStruct(msgspec.Struct, frozen=True, gc=False):
    """Base of every decoded response object.

    ``frozen=True``: an answer from the server is a value; change a copy with ``msgspec.structs.replace``.
    ``gc=False``: decoded JSON is a tree and cannot form a reference cycle, so the garbage collector need not
    track (and rescan) every nested Struct of the tens of thousands of SmartTrades a bot may hold. Do not make
    a cycle by hand (for instance by appending a step to its own list), it would never be collected.
    Unknown JSON keys are ignored (msgspec's default), so new server fields never break decoding; every field
    of every subclass accepts ``null`` (nested objects and arrays too), so neither does a ``null`` value.
    Items of an array are not optional: ``"steps": [null]`` is still an error.

    Every amount is checked as it is decoded: ``"NaN"``, ``"Infinity"`` or ``1E+999999999`` fail the
    decode (a :class:`~threecommas_async.ResponseDecodeError` naming the field), so a program never holds
    an amount that raises when compared. Only classes with ``Decimal`` fields get the check.

    ``gc`` is inherited; ``kw_only`` is not, and type checkers want ``frozen`` restated, so each subclass
    repeats ``kw_only=True, frozen=True``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Annotations are still strings here (``from __future__ import annotations``): "Decimal | None".
        own = vars(cls).get("__annotations__", {})
        names = [name for name, annotation in own.items() if "Decimal" in str(annotation)]
        if names:
            cls.__post_init__ = _amount_check(names)  # type: ignore[attr-defined]
