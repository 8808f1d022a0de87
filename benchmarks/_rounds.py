"""Interleaved rounds: every item (a client variant, a size, …) runs once per round, starting one item
later each round so that machine noise falls on all alike; a run that another process disturbed is
repeated with fresh ids (see :func:`contended`), and the least disturbed attempt stands for its round.

Why not simply the last one: on a shared VM a disturbed run does not only take longer, it costs more
CPU per cancel too (up to twice as much was seen: caches and cores shared with the intruder), so a
disturbed attempt kept for its round biases the medians upward."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ._run import Run

T = TypeVar("T")


@dataclass(slots=True)
class Attempt:
    """One run of one item in one round (both counted from 1)."""

    round: int
    attempt: int
    contended: bool
    kept: bool  # the run that stands for its round: the least disturbed attempt
    run: Run


def contended(run: Run, below: float) -> bool:
    """Did another process take CPU from this run? With C requests in flight on loopback, one side is
    always the bottleneck and saturates its core; if neither is busy ``below`` of the wall time, someone
    else was using the cores. Unknown (no ``/proc``): never flagged."""
    server = run.server_busy
    return server is not None and run.client_busy < below and server < below


def rotated(items: Sequence[T], k: int) -> list[T]:
    k %= len(items)
    return [*items[k:], *items[:k]]


def _undisturbed(run: Run) -> float:
    """The busier side's share of the wall time: at least ``contended_below`` for an undisturbed run."""
    return max(run.client_busy, run.server_busy or 0.0)


def kept(attempts: Sequence[Attempt]) -> list[Run]:
    """One run per round: the statistics are medians over these."""
    return [a.run for a in attempts if a.kept]


def progress(rnd: int, rounds: int, label: str, run: Run, note: str = "") -> None:
    server_busy = "n/a" if (sb := run.server_busy) is None else f"{sb:.0%}"
    print(
        f"  round {rnd}/{rounds}  {label} "
        f"{run.cancelled:>6}/{run.ids} cancelled  {run.cpu_us_per_cancel:8.1f} µs CPU/cancel  "
        f"{run.cancels_per_s:9,.0f} cancels/s  busy {run.client_busy:.0%}/{server_busy}" + note,
        flush=True,
    )


def run_rounds(
    items: Sequence[T],
    *,
    rounds: int,
    retries: int,
    contended_below: float,
    measure: Callable[[T], Run],
    label: Callable[[T], str],
) -> list[list[Attempt]]:
    """Every attempt of every item, in the order of ``items``; prints one progress line per run."""
    attempts: list[list[Attempt]] = [[] for _ in items]
    width = max((len(label(item)) for item in items), default=0)
    order = list(range(len(items)))
    for rnd in range(1, rounds + 1):
        for i in rotated(order, rnd - 1):
            tries: list[Attempt] = []
            for attempt in range(1, retries + 2):
                run = measure(items[i])
                noisy = contended(run, contended_below)
                again = noisy and attempt <= retries
                tries.append(Attempt(rnd, attempt, noisy, False, run))
                note = "  contended: repeated" if again else "  contended" if noisy else ""
                progress(rnd, rounds, f"{label(items[i]):<{width}}", run, note)
                if not again:
                    break
            max(tries, key=lambda a: _undisturbed(a.run)).kept = True
            attempts[i].extend(tries)
    return attempts
