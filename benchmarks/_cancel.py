"""The cancel table: every client variant cancels fresh ids in interleaved rounds, in this process.

In each round every available variant (rotated start) cancels ``warmup`` fresh ids, then ``cancels``
fresh ids under the clocks (ids seeded just before each run); a disturbed run is repeated (see
``_rounds``). Afterwards the server is asked for the status of every id given to each variant: all must
be ``cancellation_pending``. Ratios are to the baseline (b) and to the raw-protocol floor (f), measured
in the same rounds on the same event loop. With ``--uvloop`` every variant that runs on an event loop
runs once more per round on uvloop, in the same rounds, and gets a second table.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Final

from ._common import PENDING
from ._config import Config
from ._goals import Goal, goal
from ._rounds import Attempt, kept, run_rounds
from ._run import Loop, Run, loops_to_run
from ._section import SKIPPED, Bench, Skipped
from ._table import table
from ._variants import BASELINE, BY_KEY, FLOOR, VARIANTS, Variant

LABEL_WIDTH: Final = max(len(v.label) for v in VARIANTS)
HAND_SIGNED: Final = "c_aiohttp_msgspec"
MIDDLEWARE_SIGNED: Final = "e_aiohttp_middleware_msgspec"
"""(e) is (c) with signing moved into ``SigningMiddleware``: (e) - (c) is the middleware's cost."""
GOAL_CPU_RATIO: Final = 1.05
GOAL_RATE_RATIO: Final = 5.0


def row_key(variant: str, loop: Loop) -> str:
    """``a_sdk_cancel`` on the default loop, ``a_sdk_cancel@uvloop`` on uvloop."""
    return variant if loop == "asyncio" else f"{variant}@{loop}"


def row_label(variant: Variant, loop: Loop) -> str:
    return variant.label if loop == "asyncio" else f"{variant.label} [{loop}]"


@dataclass(slots=True)
class VariantResult:
    """One variant on one loop over every round; the statistics are medians over the kept runs."""

    variant: str
    loop: Loop
    label: str
    description: str
    cpu_us_per_cancel: float
    cancels_per_s: float
    client_busy: float
    server_busy: float | None
    ids_given: int
    ids_cancelled: int
    server_statuses: dict[str, int]
    server_verified: bool
    correct: bool
    repeated_runs: int
    rounds: list[Attempt]
    """Every attempt, contended ones included (all of them cancelled ids)."""
    cpu_ratio_vs_b: float = 0.0  # the ratios are set once every variant has run
    rate_ratio_vs_b: float = 0.0
    cpu_ratio_vs_f: float = 0.0
    cpu_ratio_vs_asyncio: float | None = None  # uvloop rows: against the same variant on the default loop

    @property
    def kept(self) -> list[Run]:
        return kept(self.rounds)


@dataclass(frozen=True, slots=True)
class MiddlewareCost:
    """What signing in aiohttp's middleware chain costs over signing by hand: (e) - (c), CPU per cancel.

    Both the difference of the medians and the median of same-round differences (the two runs of a
    round share the machine's state, so pairing removes part of the noise between rounds)."""

    of: str
    cpu_us_per_cancel: float
    cpu_ratio: float
    paired_round_diffs_us: list[float]
    paired_round_diff_median_us: float
    rate_ratio: float


@dataclass(slots=True)
class CancelReport:
    baseline: str
    floor: str
    statistic: str
    loops: list[Loop]
    variants: dict[str, VariantResult]
    """By :func:`row_key`: the default loop's rows, then uvloop's (with ``--uvloop``)."""
    skipped: dict[str, Skipped]
    middleware_cost: MiddlewareCost | None  # on the default loop
    uvloop_skipped: str | None  # why there are no uvloop rows although --uvloop asked for them


def _summary(
    variant: Variant, loop: Loop, attempts: list[Attempt], ids: list[int], statuses: dict[str, int]
) -> VariantResult:
    runs = [a.run for a in attempts]
    good = kept(attempts)
    busy = [b for r in good if (b := r.server_busy) is not None]
    verified = statuses == {PENDING: len(ids)}
    return VariantResult(
        variant=variant.key,
        loop=loop,
        label=variant.label,
        description=variant.description,
        cpu_us_per_cancel=statistics.median(r.cpu_us_per_cancel for r in good),
        cancels_per_s=statistics.median(r.cancels_per_s for r in good),
        client_busy=statistics.median(r.client_busy for r in good),
        server_busy=statistics.median(busy) if busy else None,
        ids_given=sum(r.ids + r.warmup_ids for r in runs),
        ids_cancelled=sum(max(r.cancelled, 0) + max(r.warmup_cancelled, 0) for r in runs),
        server_statuses=statuses,
        server_verified=verified,
        correct=verified and all(r.all_cancelled for r in runs),
        repeated_runs=len(attempts) - len(good),
        rounds=attempts,
    )


def _set_ratios(rows: dict[str, VariantResult]) -> None:
    for r in rows.values():
        base = rows[row_key(BASELINE, r.loop)]
        floor = rows[row_key(FLOOR, r.loop)]
        r.cpu_ratio_vs_b = r.cpu_us_per_cancel / base.cpu_us_per_cancel
        r.rate_ratio_vs_b = r.cancels_per_s / base.cancels_per_s
        r.cpu_ratio_vs_f = r.cpu_us_per_cancel / floor.cpu_us_per_cancel
        if r.loop != "asyncio":
            r.cpu_ratio_vs_asyncio = r.cpu_us_per_cancel / rows[r.variant].cpu_us_per_cancel


def _middleware_cost(rows: dict[str, VariantResult]) -> MiddlewareCost | None:
    c, e = rows.get(HAND_SIGNED), rows.get(MIDDLEWARE_SIGNED)
    if c is None or e is None:
        return None
    pairs = [y.cpu_us_per_cancel - x.cpu_us_per_cancel for x, y in zip(c.kept, e.kept, strict=True)]
    return MiddlewareCost(
        of=f"{MIDDLEWARE_SIGNED} - {HAND_SIGNED}",
        cpu_us_per_cancel=e.cpu_us_per_cancel - c.cpu_us_per_cancel,
        cpu_ratio=e.cpu_us_per_cancel / c.cpu_us_per_cancel,
        paired_round_diffs_us=pairs,
        paired_round_diff_median_us=statistics.median(pairs),
        rate_ratio=e.cancels_per_s / c.cancels_per_s,
    )


def _table(result: CancelReport, loop: Loop) -> str:
    rows: list[list[str]] = []
    for variant in VARIANTS:
        r = result.variants.get(row_key(variant.key, loop))
        if r is None:
            if loop == "asyncio":
                rows.append([f"{variant.label:<{LABEL_WIDTH}}  {result.skipped[variant.key].reason}"])
            continue
        cells = [
            r.label,
            f"{r.cpu_us_per_cancel:.1f}",
            f"{r.cancels_per_s:,.0f}",
            f"{r.cpu_ratio_vs_b:.3f}",
            f"{r.cpu_ratio_vs_f:.2f}",
            f"{r.rate_ratio_vs_b:.3f}",
            f"{r.client_busy:.0%}",
            "n/a" if (sb := r.server_busy) is None else f"{sb:.0%}",
            f"{r.ids_cancelled:,}/{r.ids_given:,}",
            "yes" if r.server_verified else "NO",
        ]
        if r.cpu_ratio_vs_asyncio is not None:
            cells.append(f"{r.cpu_ratio_vs_asyncio:.3f}")
        rows.append(cells)
    headers = [
        "variant",
        "CPU µs/cancel",
        "cancels/s",
        "CPU × (b)",
        "CPU × (f)",
        "rate × (b)",
        "client busy",
        "server busy",
        "cancelled",
        "server ok",
    ]
    if loop != "asyncio":
        headers.append("CPU × asyncio")
    return table(headers, rows)


@dataclass(frozen=True, slots=True)
class CancelSection:
    cfg: Config
    key: str = "cancel"
    needs_server: bool = True

    def run(self, bench: Bench) -> CancelReport:
        cfg = self.cfg
        loops, uvloop_skipped = loops_to_run(cfg.uvloop)
        live = [v for v in VARIANTS if v.available()]
        items = [(v, loop) for loop in loops for v in live if loop == "asyncio" or v.on_loop]
        ids_used: dict[str, list[int]] = {row_key(v.key, loop): [] for v, loop in items}

        def measure(item: tuple[Variant, Loop]) -> Run:
            variant, loop = item
            chunk = bench.seed(cfg.warmup + cfg.cancels)
            ids_used[row_key(variant.key, loop)].extend(chunk)
            warmup, ids = chunk[: cfg.warmup], chunk[cfg.warmup :]
            return variant.run(bench.target, warmup, ids, cfg.concurrency, loop=loop)

        attempts = run_rounds(
            items,
            rounds=cfg.rounds,
            retries=cfg.retries,
            contended_below=cfg.contended_below,
            measure=measure,
            label=lambda item: row_label(*item),
        )
        rows = {}
        for (variant, loop), tries in zip(items, attempts, strict=True):
            used = ids_used[row_key(variant.key, loop)]
            rows[row_key(variant.key, loop)] = _summary(variant, loop, tries, used, bench.statuses(used))
        _set_ratios(rows)
        return CancelReport(
            baseline=BASELINE,
            floor=FLOOR,
            statistic="median over rounds of the kept run of each round (its least disturbed attempt)",
            loops=list(loops),
            variants=rows,
            skipped={v.key: Skipped(v.label, description=v.description) for v in VARIANTS if v not in live},
            middleware_cost=_middleware_cost(rows),
            uvloop_skipped=uvloop_skipped,
        )

    def render(self, result: CancelReport) -> str:
        cfg = self.cfg
        lines = [
            f"Cancels: {cfg.cancels:,} measured per variant per round (+{cfg.warmup} warm-up), "
            f"{cfg.rounds} round(s), median shown; concurrency {cfg.concurrency}; "
            "client CPU = process_time()",
            "busy = CPU time / wall time of the run (100%: that process saturated its core); "
            "ratios are to (b) and to the floor (f), same rounds, same loop",
            _table(result, "asyncio"),
        ]
        floor = result.variants[FLOOR]
        lines.append(
            f"Floor (f): {floor.cpu_us_per_cancel:.1f} µs CPU/cancel; (a) cancel() costs "
            f"{result.variants['a_sdk_cancel'].cpu_ratio_vs_f:.2f} x that, (b) "
            f"{result.variants[BASELINE].cpu_ratio_vs_f:.2f} x"
        )
        mw = result.middleware_cost
        if mw is not None:
            diffs = ", ".join(f"{d:+.1f}" for d in mw.paired_round_diffs_us)
            lines.append(
                f"SigningMiddleware cost, (e) - (c): {mw.cpu_us_per_cancel:+.1f} µs CPU/cancel "
                f"({mw.cpu_ratio:.3f} x (c)); same-round pairs: "
                f"median {mw.paired_round_diff_median_us:+.1f} µs [{diffs}]"
            )
        repeated = [
            f"{row_label(BY_KEY[r.variant], r.loop)} x{r.repeated_runs}"
            for r in result.variants.values()
            if r.repeated_runs
        ]
        if repeated:
            lines.append(
                f"runs repeated because another process took the CPU (client and server both under "
                f"{cfg.contended_below:.0%} busy): {', '.join(repeated)}"
            )
        if "uvloop" in result.loops:
            lines += ["", "The same on uvloop (interleaved in the same rounds)", _table(result, "uvloop")]
        elif result.uvloop_skipped is not None:
            lines.append(f"uvloop rows {result.uvloop_skipped}")
        return "\n".join(lines)

    def goals(self, result: CancelReport) -> list[Goal]:
        v = result.variants
        a, b, d = v["a_sdk_cancel"], v[BASELINE], v.get("d_py3cw")
        cpu_ratio = a.cpu_us_per_cancel / b.cpu_us_per_cancel
        goals = [
            goal(
                "client CPU per cancel: (a) cancel() vs (b) hand-written aiohttp",
                f"<= {GOAL_CPU_RATIO:.2f} x (b)",
                f"{a.cpu_us_per_cancel:.1f} µs vs {b.cpu_us_per_cancel:.1f} µs = {cpu_ratio:.3f} x",
                cpu_ratio <= GOAL_CPU_RATIO,
                ratio=cpu_ratio,
                a_cpu_us_per_cancel=a.cpu_us_per_cancel,
                b_cpu_us_per_cancel=b.cpu_us_per_cancel,
            )
        ]
        name = f"throughput at concurrency {self.cfg.concurrency}: (a) cancel() vs (d) py3cw"
        target = f">= {GOAL_RATE_RATIO:.0f} x (d)"
        if d is None:
            return [*goals, goal(name, target, SKIPPED, None)]
        rate_ratio = a.cancels_per_s / d.cancels_per_s
        capacity = d.cpu_us_per_cancel / a.cpu_us_per_cancel
        paired = statistics.median(
            x.cancels_per_s / y.cancels_per_s for x, y in zip(a.kept, d.kept, strict=True)
        )
        goals.append(
            goal(
                name,
                target,
                f"{a.cancels_per_s:,.0f}/s vs {d.cancels_per_s:,.0f}/s = {rate_ratio:.2f} x "
                f"(same-round pairs: {paired:.2f} x; CPU cost ratio {capacity:.2f} x)",
                rate_ratio >= GOAL_RATE_RATIO,
                ratio=rate_ratio,
                a_cancels_per_s=a.cancels_per_s,
                d_cancels_per_s=d.cancels_per_s,
                paired_round_ratio_median=paired,
                cpu_capacity_ratio=capacity,
            )
        )
        return goals

    def correct(self, result: CancelReport) -> bool:
        return all(r.correct for r in result.variants.values())
