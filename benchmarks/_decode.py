"""Decode micro-benchmark: the seed SmartTrade bytes (the Cancel SmartTrade answer of the official docs)
decoded by the SDK's msgspec decoder, by ``json.loads`` (untyped dicts, strings stay strings) and by a
pydantic v2 model of the same shape (``model_validate_json``, pydantic's fastest path)."""

from __future__ import annotations

import importlib
import json
import statistics
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from threecommas_async.models._decoders import SMART_TRADE_DECODER

from ._common import SEED_FIXTURE
from ._goals import Goal
from ._section import Bench, Skipped
from ._table import table

MSGSPEC: Final = "msgspec_smart_trade"


@dataclass(frozen=True, slots=True)
class DecodeResult:
    label: str
    us_per_decode: float  # median of the repeats
    us_best: float  # fastest repeat
    ratio_vs_msgspec: float
    loops: int
    repeats: int


@dataclass(frozen=True, slots=True)
class DecodeReport:
    body_bytes: int
    variants: dict[str, DecodeResult]
    skipped: dict[str, Skipped]


def _time(fn: Callable[[bytes], Any], data: bytes, target_s: float, repeats: int) -> tuple[float, float, int]:
    timer = timeit.Timer("fn(data)", globals={"fn": fn, "data": data})
    probe = 20
    probe_s = timer.timeit(number=probe) / probe  # also warms the decoder up
    loops = max(1, int(target_s / probe_s))
    per_call = [t / loops * 1e6 for t in timer.repeat(repeat=repeats, number=loops)]
    return statistics.median(per_call), min(per_call), loops


def _check_same(msgspec_trade: Any, pydantic_trade: Any) -> None:
    """The pydantic model must decode to the same values as the Structs, or the comparison is unfair."""
    assert pydantic_trade.position.units.value == msgspec_trade.position.units.value == Decimal("14.91")
    assert pydantic_trade.data.commission == msgspec_trade.data.commission == Decimal("0.001")
    assert pydantic_trade.data.created_at == msgspec_trade.data.created_at
    assert pydantic_trade.data.created_at.tzinfo is not None
    assert pydantic_trade.take_profit.steps[0].price.value == msgspec_trade.take_profit.steps[0].price.value


def run_decode(*, quick: bool) -> DecodeReport:
    """One result per decoder; pydantic is skipped when it is not installed."""
    data = SEED_FIXTURE.read_bytes()
    target_s, repeats = (0.01, 3) if quick else (0.25, 7)
    decoders: list[tuple[str, str, Callable[[bytes], Any] | None]] = [
        (MSGSPEC, "msgspec SMART_TRADE_DECODER.decode", SMART_TRADE_DECODER.decode),
        ("json_loads", "json.loads (dicts, no Decimal/datetime)", json.loads),
    ]
    try:
        model: Any = importlib.import_module("._pydantic_model", __package__)
    except ImportError:
        decoders.append(("pydantic_v2", "pydantic v2 model_validate_json", None))
    else:
        _check_same(SMART_TRADE_DECODER.decode(data), model.SmartTrade.model_validate_json(data))
        decoders.append(
            ("pydantic_v2", "pydantic v2 model_validate_json", model.SmartTrade.model_validate_json)
        )

    timed: dict[str, tuple[str, float, float, int]] = {}
    skipped: dict[str, Skipped] = {}
    for key, label, fn in decoders:
        if fn is None:
            skipped[key] = Skipped(label)
        else:
            timed[key] = (label, *_time(fn, data, target_s, repeats))
    floor = timed[MSGSPEC][1]
    variants = {
        key: DecodeResult(label, median, best, median / floor, loops, repeats)
        for key, (label, median, best, loops) in timed.items()
    }
    return DecodeReport(len(data), variants, skipped)


@dataclass(frozen=True, slots=True)
class DecodeSection:
    quick: bool
    key: str = "decode"
    needs_server: bool = False

    def run(self, bench: Bench) -> DecodeReport:
        return run_decode(quick=self.quick)

    def render(self, result: DecodeReport) -> str:
        rows = [
            [d.label, f"{d.us_per_decode:.2f}", f"{d.ratio_vs_msgspec:.2f}"] for d in result.variants.values()
        ]
        rows += [[f"{s.label:<40}  {s.reason}"] for s in result.skipped.values()]
        return f"Decode of the seed SmartTrade ({result.body_bytes:,} bytes), median of repeats\n" + table(
            ["decoder", "µs/decode", "× msgspec"], rows
        )

    def goals(self, result: DecodeReport) -> list[Goal]:
        return []

    def correct(self, result: DecodeReport) -> bool:
        return True
