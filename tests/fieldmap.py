"""The README's field map of the response models, rendered from the Structs themselves: the test compares
the README with this, so the map cannot drift from the code. ``python -m tests.fieldmap`` prints it."""

from __future__ import annotations

import typing
from decimal import Decimal
from typing import Any

import msgspec

from threecommas_async import ReduceFundsInfo, SmartTrade, Trade

ROOTS = (SmartTrade, Trade, ReduceFundsInfo)


def _name(tp: Any) -> str:
    if typing.get_origin(tp) is typing.Annotated:  # Annotated[datetime, Meta(tz=True)]
        return _name(typing.get_args(tp)[0])
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) is list:
        return f"list[{_name(args[0])}]"
    if args and typing.get_origin(tp) is not None and typing.get_origin(tp) is not list:
        return " | ".join(_name(a) for a in args)
    if tp is Decimal:
        return "Decimal"
    return getattr(tp, "__name__", str(tp))


def _structs(tp: Any) -> list[type[msgspec.Struct]]:
    found = []
    for arg in typing.get_args(tp) or (tp,):
        if isinstance(arg, type) and issubclass(arg, msgspec.Struct):
            found.append(arg)
        elif typing.get_args(arg):
            found.extend(_structs(arg))
    return found


def render() -> str:
    lines: list[str] = []
    seen: set[type] = set()
    queue: list[type[msgspec.Struct]] = list(ROOTS)
    while queue:
        cls = queue.pop(0)
        if cls in seen:
            continue
        seen.add(cls)
        fields = msgspec.structs.fields(cls)
        parts = [f"{f.name}: {_name(f.type)}" for f in fields]
        lines.append(f"{cls.__name__:<16}" + ", ".join(parts))
        for f in fields:
            queue.extend(s for s in _structs(f.type) if s not in seen)
    return "\n".join(lines)


if __name__ == "__main__":
    print(render())
