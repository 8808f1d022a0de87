"""Performance goals: each one is judged PASS / MISS (or SKIPPED), printed and reported, never enforced."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["PASS", "MISS", "SKIPPED"]


@dataclass(frozen=True, slots=True)
class Goal:
    goal: str
    target: str
    value: str
    status: Status
    numbers: dict[str, float | int] = field(default_factory=dict)
    """The measurements the status was decided on, for the JSON report."""

    def line(self) -> str:
        return f"  {self.status:<7} {self.goal}: {self.value}  (target {self.target})"


def goal(name: str, target: str, value: str, passed: bool | None, **numbers: float | int) -> Goal:
    """``passed=None``: the goal could not be measured in this run (a missing optional package)."""
    status: Status = "SKIPPED" if passed is None else ("PASS" if passed else "MISS")
    return Goal(name, target, value, status, numbers)
