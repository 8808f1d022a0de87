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
from typing import Any

from threecommas_async.models._decoders import SMART_TRADE_DECODER

from ._common import SEED_FIXTURE


@dataclass(frozen=True, slots=True)
class DecodeResult:
    key: str
    label: str
    available: bool
    us_per_decode: float = 0.0  # median of the repeats
    us_best: float = 0.0  # fastest repeat
    loops: int = 0
    repeats: int = 0


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


def run_decode(*, quick: bool) -> tuple[int, list[DecodeResult]]:
    """Returns the size of the seed body and one result per decoder (pydantic: unavailable if missing)."""
    data = SEED_FIXTURE.read_bytes()
    target_s, repeats = (0.03, 3) if quick else (0.25, 7)
    results: list[DecodeResult] = []

    decoders: list[tuple[str, str, Callable[[bytes], Any] | None]] = [
        ("msgspec_smart_trade", "msgspec SMART_TRADE_DECODER.decode", SMART_TRADE_DECODER.decode),
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

    for key, label, fn in decoders:
        if fn is None:
            results.append(DecodeResult(key, label, False))
            continue
        median, best, loops = _time(fn, data, target_s, repeats)
        results.append(DecodeResult(key, label, True, median, best, loops, repeats))
    return len(data), results
