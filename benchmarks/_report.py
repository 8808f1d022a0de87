"""The JSON report: one dataclass holding the run's every number, encoded as it is (msgspec)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from ._config import Config
from ._goals import Goal
from ._machine import Machine


@dataclass(frozen=True, slots=True)
class ServerStats:
    """The fake's own counters over the whole run: every seeded id must have been cancelled once."""

    requests: int
    by_status: dict[int, int]
    by_route: dict[str, int]
    expected_200s: int  # ids seeded by the sections
    other_answers: dict[int, int]  # answers to the sections' other requests (the shared run's GETs)
    only_200s: bool  # beyond other_answers, exactly one 200 per seeded id


@dataclass(frozen=True, slots=True)
class Report:
    timestamp: str
    elapsed_s: float
    machine: Machine
    config: Config
    phases_s: dict[str, float]
    server: ServerStats
    results: dict[str, Any]
    """Section key -> its result dataclass (see ``_section``)."""
    goals: list[Goal]
    correct: bool


def _encode_other(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    raise NotImplementedError(f"cannot encode {type(obj).__name__} in the report")


def encode(report: Report) -> bytes:
    return msgspec.json.format(msgspec.json.encode(report, enc_hook=_encode_other), indent=2) + b"\n"


def write(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(report))
