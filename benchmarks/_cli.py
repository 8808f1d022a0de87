"""The benchmark command: ``python -m benchmarks [--quick] [--json PATH] [--cancels N] [--concurrency C]``.

Order of a run:
1. start the fake server in its own process (``python -m benchmarks._server``, pinned to the first CPU),
   pin this process to the second CPU;
2. cancel benchmark: ``rounds`` rounds; in each, every available variant (rotated start, so no variant is
   always first) cancels ``warmup`` fresh ids, then ``cancels`` fresh ids under the clocks (ids seeded
   just before each run); a run that another process disturbed is repeated (see :func:`contended`);
3. check with the server that every id given to a variant is now ``cancellation_pending`` and that it
   answered nothing but 200s;
4. memory: a fresh process runs only one ``cancel_many`` over ``rss_cancels`` ids and reports its peak RSS;
5. decode and limiter micro-benchmarks (in this process, server stopped);
6. print the tables and the goals, write the JSON report.

Exit status 1 when a variant did not cancel exactly the ids it was given (a correctness failure); goals are
reported (PASS/MISS), never enforced.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from ._common import DEFAULT_JSON, ROOT, allowed_cpus, pin
from ._decode import DecodeResult, run_decode
from ._limiter import FAST_MAX_RATE, FAST_PERIOD, WAIT_MAX_RATE, WAIT_PERIOD, LimiterResult, run_limiter
from ._variants import BASELINE, VARIANTS, Run, Target, Variant

SKIPPED = "skipped (install .[bench])"
GOAL_CPU_RATIO = 1.05
GOAL_RATE_RATIO = 5.0
GOAL_RSS_MB = 150.0
CONTENDED_BELOW = 0.9
"""A run where neither the client nor the server was busy this share of the wall time was disturbed."""
LABEL_WIDTH = max(len(v.label) for v in VARIANTS)
HAND_SIGNED = "c_aiohttp_msgspec"
MIDDLEWARE_SIGNED = "e_aiohttp_middleware_msgspec"
"""(e) is (c) with signing moved into ``SigningMiddleware``: (e) - (c) is the middleware's cost."""


@dataclass(frozen=True, slots=True)
class Config:
    quick: bool
    cancels: int
    concurrency: int
    rounds: int
    warmup: int
    rss_cancels: int
    retries: int
    limiter_fast_n: int
    limiter_waiters: int
    json_path: Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Client CPU and throughput of SmartTrade cancels (this SDK, hand-written aiohttp, "
        "py3cw) against a loopback fake 3Commas in another process, plus decode, limiter and memory "
        "micro-benchmarks. Prints a table and writes a JSON report.",
    )
    p.add_argument(
        "--quick", action="store_true", help="CI-sized run: a few seconds, numbers indicative only"
    )
    p.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help=f"report path (default {DEFAULT_JSON})"
    )
    p.add_argument(
        "--cancels", type=int, default=None, metavar="N", help="measured cancels per variant per round"
    )
    p.add_argument("--concurrency", type=int, default=32, metavar="C", help="in-flight cancels (default 32)")
    p.add_argument(
        "--rounds", type=int, default=None, metavar="R", help="interleaved rounds; the median is kept"
    )
    p.add_argument("--warmup", type=int, default=None, metavar="W", help="unmeasured cancels before each run")
    p.add_argument(
        "--retries",
        type=int,
        default=None,
        metavar="K",
        help="repeat a run disturbed by another process up to K times (default 2; 0 with --quick)",
    )
    p.add_argument(
        "--rss-cancels", type=int, default=None, metavar="N", help="ids of the cancel_many memory run"
    )
    return p


def _config(args: argparse.Namespace) -> Config:
    quick: bool = args.quick

    def pick(value: int | None, full: int, fast: int) -> int:
        chosen = value if value is not None else (fast if quick else full)
        if chosen < 1:
            raise SystemExit(f"every count must be positive, got {chosen}")
        return chosen

    if args.concurrency < 1:
        raise SystemExit(f"--concurrency must be positive, got {args.concurrency}")
    return Config(
        quick=quick,
        cancels=pick(args.cancels, 4000, 300),
        concurrency=args.concurrency,
        rounds=pick(args.rounds, 5, 1),
        warmup=pick(args.warmup, 300, 64),
        rss_cancels=pick(args.rss_cancels, 10_000, 2000),
        retries=args.retries if args.retries is not None else (0 if quick else 2),
        limiter_fast_n=20_000 if quick else 200_000,
        limiter_waiters=2000 if quick else 10_000,
        json_path=args.json if args.json is not None else DEFAULT_JSON,
    )


# -- the server process ------------------------------------------------------------------------------------


class ServerProcess:
    """``python -m benchmarks._server`` as a child, spoken to with one JSON line per command."""

    def __init__(self, cpu: int | None) -> None:
        cmd = [sys.executable, "-m", "benchmarks._server"]
        if cpu is not None:
            cmd += ["--cpu", str(cpu)]
        self._proc = subprocess.Popen(
            cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        hello = self._read()
        self.target = Target(hello["base_url"], hello["api_key"], hello["api_secret"], hello["pid"])
        self.pid: int = hello["pid"]
        self.cpu: int | None = hello["cpu"]

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the benchmark server exited (status {self._proc.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"benchmark server: {answer['error']}")
        return answer

    def call(self, op: str, **kwargs: Any) -> dict[str, Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"op": op, **kwargs}) + "\n")
        self._proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(Exception):
                self.call("quit")
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# -- the cancel benchmark ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Attempt:
    """One run of one variant in one round; a contended run is repeated (see :func:`contended`)."""

    round: int
    attempt: int
    run: Run
    contended: bool
    kept: bool = False  # the run that stands for its round: the last attempt


def contended(run: Run) -> bool:
    """Did another process take CPU from this run? With C requests in flight on loopback, one side is
    always the bottleneck and saturates its core; if neither does, someone else was using the cores.
    Unknown (no ``/proc``): never flagged."""
    server = run.server_busy
    return server is not None and run.client_busy < CONTENDED_BELOW and server < CONTENDED_BELOW


@dataclass(slots=True)
class VariantReport:
    variant: Variant
    available: bool
    attempts: list[Attempt] = field(default_factory=list)
    ids_used: list[int] = field(default_factory=list)  # warm-up and measured, for the server-side check
    server_statuses: dict[str, int] = field(default_factory=dict)

    @property
    def runs(self) -> list[Run]:
        """Every run, contended ones included (all of them cancelled ids)."""
        return [a.run for a in self.attempts]

    @property
    def kept(self) -> list[Run]:
        """One run per round: the statistics are medians over these."""
        return [a.run for a in self.attempts if a.kept]

    @property
    def cpu_us_per_cancel(self) -> float:
        return statistics.median(r.cpu_us_per_cancel for r in self.kept)

    @property
    def cancels_per_s(self) -> float:
        return statistics.median(r.cancels_per_s for r in self.kept)

    @property
    def client_busy(self) -> float:
        return statistics.median(r.client_busy for r in self.kept)

    @property
    def server_busy(self) -> float | None:
        busy = [b for r in self.kept if (b := r.server_busy) is not None]
        return statistics.median(busy) if busy else None

    @property
    def repeated(self) -> int:
        return len(self.attempts) - len(self.kept)

    @property
    def ids_given(self) -> int:
        return sum(r.ids + r.warmup_ids for r in self.runs)

    @property
    def ids_cancelled(self) -> int:
        return sum(max(r.cancelled, 0) + max(r.warmup_cancelled, 0) for r in self.runs)

    @property
    def server_verified(self) -> bool:
        return self.server_statuses == {"cancellation_pending": len(self.ids_used)}

    @property
    def correct(self) -> bool:
        return not self.available or (
            all(r.cancelled == r.ids and r.warmup_cancelled == r.warmup_ids for r in self.runs)
            and self.server_verified
        )


def _rotated(items: Sequence[VariantReport], k: int) -> list[VariantReport]:
    k %= len(items)
    return [*items[k:], *items[:k]]


def _cancel_benchmark(server: ServerProcess, cfg: Config, reports: list[VariantReport]) -> None:
    """Run every round. Each run gets ids seeded just before it (seeding is not measured)."""
    live = [r for r in reports if r.available]
    per_run = cfg.warmup + cfg.cancels
    for rnd in range(cfg.rounds):
        for report in _rotated(live, rnd):
            for attempt in range(1 + cfg.retries):
                chunk: list[int] = server.call("seed", n=per_run)["ids"]
                warm, batch = chunk[: cfg.warmup], chunk[cfg.warmup :]
                run = report.variant.run(server.target, warm, batch, cfg.concurrency)
                report.ids_used.extend(chunk)
                noisy = contended(run)
                report.attempts.append(Attempt(rnd, attempt, run, noisy))
                server_busy = "n/a" if (sb := run.server_busy) is None else f"{sb:.0%}"
                again = noisy and attempt < cfg.retries
                print(
                    f"  round {rnd + 1}/{cfg.rounds}  {report.variant.label:<{LABEL_WIDTH}} "
                    f"{run.cancelled:>6}/{run.ids} cancelled  {run.cpu_us_per_cancel:8.1f} µs CPU/cancel  "
                    f"{run.cancels_per_s:9,.0f} cancels/s  busy {run.client_busy:.0%}/{server_busy}"
                    + ("  contended: repeated" if again else "  contended" if noisy else ""),
                    flush=True,
                )
                if not again:
                    report.attempts[-1].kept = True
                    break
    for report in live:
        report.server_statuses = server.call("statuses", ids=report.ids_used)["statuses"]


def _rss_benchmark(server: ServerProcess, cfg: Config, cpu: int | None) -> dict[str, Any]:
    ids: list[int] = server.call("seed", n=cfg.rss_cancels)["ids"]
    t = server.target
    job = {
        "base_url": t.base_url,
        "api_key": t.api_key,
        "api_secret": t.api_secret,
        "ids": ids,
        "concurrency": cfg.concurrency,
        "cpu": cpu,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks._rss"],
        cwd=ROOT,
        input=json.dumps(job) + "\n",
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory benchmark failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout)
    result["server_statuses"] = server.call("statuses", ids=ids)["statuses"]
    result["server_verified"] = result["server_statuses"] == {"cancellation_pending": len(ids)}
    return result


# -- output ------------------------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain aligned text: the first column left-aligned, the others right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows if i < len(r))) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        if len(cells) == 1:  # a full-width note (a skipped row)
            return cells[0]
        out = [cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                return text.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _machine(
    cpus: list[int], server_cpu: int | None, client_cpu: int | None, load_before: list[float] | None
) -> dict[str, Any]:
    return {
        "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "allowed_cpus": cpus,  # before pinning
        "server_cpu": server_cpu,
        "client_cpu": client_cpu,
        "packages": {
            name: _version(name)
            for name in (
                "threecommas-async",
                "aiohttp",
                "msgspec",
                "aiolimiter",
                "py3cw",
                "requests",
                "pydantic",
            )
        },
    }


def _goal(name: str, target: str, value: str, passed: bool | None, **numbers: Any) -> dict[str, Any]:
    status = "SKIPPED" if passed is None else ("PASS" if passed else "MISS")
    return {"goal": name, "target": target, "value": value, "status": status, **numbers}


def _goals(reports: dict[str, VariantReport], rss: dict[str, Any], cfg: Config) -> list[dict[str, Any]]:
    goals = []
    a, b, d = reports["a_sdk_cancel"], reports[BASELINE], reports["d_py3cw"]
    cpu_ratio = a.cpu_us_per_cancel / b.cpu_us_per_cancel
    goals.append(
        _goal(
            "client CPU per cancel: (a) cancel() vs (b) hand-written aiohttp",
            f"<= {GOAL_CPU_RATIO:.2f} x (b)",
            f"{a.cpu_us_per_cancel:.1f} µs vs {b.cpu_us_per_cancel:.1f} µs = {cpu_ratio:.3f} x",
            cpu_ratio <= GOAL_CPU_RATIO,
            ratio=cpu_ratio,
            a_cpu_us_per_cancel=a.cpu_us_per_cancel,
            b_cpu_us_per_cancel=b.cpu_us_per_cancel,
        )
    )
    if d.available:
        rate_ratio = a.cancels_per_s / d.cancels_per_s
        capacity = d.cpu_us_per_cancel / a.cpu_us_per_cancel
        paired = statistics.median(
            x.cancels_per_s / y.cancels_per_s for x, y in zip(a.kept, d.kept, strict=True)
        )
        goals.append(
            _goal(
                f"throughput at concurrency {cfg.concurrency}: (a) cancel() vs (d) py3cw",
                f">= {GOAL_RATE_RATIO:.0f} x (d)",
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
    else:
        goals.append(
            _goal(
                f"throughput at concurrency {cfg.concurrency}: (a) cancel() vs (d) py3cw",
                f">= {GOAL_RATE_RATIO:.0f} x (d)",
                SKIPPED,
                None,
            )
        )
    n = rss["ids"]
    note = "" if n == 10_000 else f" (run with {n:,} ids, not 10,000)"
    goals.append(
        _goal(
            f"{n:,} cancels in one cancel_many: peak RSS{note}",
            f"< {GOAL_RSS_MB:.0f} MB, every id cancelled",
            f"{rss['peak_rss_mb']:.1f} MB peak ({rss['baseline_rss_mb']:.1f} MB before the first request), "
            f"{rss['cancelled']:,}/{n:,} cancelled",
            rss["peak_rss_mb"] < GOAL_RSS_MB and rss["cancelled"] == n,
            peak_rss_mb=rss["peak_rss_mb"],
            ids=n,
        )
    )
    return goals


def _middleware_cost(reports: dict[str, VariantReport]) -> dict[str, Any] | None:
    """What signing in aiohttp's middleware chain costs over signing by hand: (e) - (c), CPU per cancel.

    Both the difference of the medians and the median of same-round differences (the two runs of a
    round share the machine's state, so pairing removes part of the noise between rounds)."""
    c, e = reports.get(HAND_SIGNED), reports.get(MIDDLEWARE_SIGNED)
    if c is None or e is None or not (c.available and e.available):
        return None
    pairs = [y.cpu_us_per_cancel - x.cpu_us_per_cancel for x, y in zip(c.kept, e.kept, strict=True)]
    return {
        "of": f"{MIDDLEWARE_SIGNED} - {HAND_SIGNED}",
        "cpu_us_per_cancel": e.cpu_us_per_cancel - c.cpu_us_per_cancel,
        "cpu_ratio": e.cpu_us_per_cancel / c.cpu_us_per_cancel,
        "paired_round_diffs_us": pairs,
        "paired_round_diff_median_us": statistics.median(pairs),
        "rate_ratio": e.cancels_per_s / c.cancels_per_s,
    }


def _cancel_rows(reports: list[VariantReport]) -> list[list[str]]:
    base = next(r for r in reports if r.variant.key == BASELINE)
    rows: list[list[str]] = []
    for r in reports:
        if not r.available:
            rows.append([f"{r.variant.label:<{LABEL_WIDTH}}  {SKIPPED}"])
            continue
        rows.append(
            [
                r.variant.label,
                f"{r.cpu_us_per_cancel:.1f}",
                f"{r.cancels_per_s:,.0f}",
                f"{r.cpu_us_per_cancel / base.cpu_us_per_cancel:.3f}",
                f"{r.cancels_per_s / base.cancels_per_s:.3f}",
                f"{r.client_busy:.0%}",
                "n/a" if (sb := r.server_busy) is None else f"{sb:.0%}",
                f"{r.ids_cancelled:,}/{r.ids_given:,}",
                "yes" if r.server_verified else "NO",
            ]
        )
    return rows


def _report_json(
    cfg: Config,
    machine: dict[str, Any],
    reports: list[VariantReport],
    rss: dict[str, Any],
    decode_size: int,
    decode: list[DecodeResult],
    limiter: list[LimiterResult],
    goals: list[dict[str, Any]],
    server_stats: dict[str, Any],
    elapsed: float,
) -> dict[str, Any]:
    base = next(r for r in reports if r.variant.key == BASELINE)
    variants: dict[str, Any] = {}
    for r in reports:
        entry: dict[str, Any] = {
            "label": r.variant.label,
            "description": r.variant.description,
            "available": r.available,
        }
        if not r.available:
            entry["skipped"] = SKIPPED
        else:
            entry.update(
                cpu_us_per_cancel=r.cpu_us_per_cancel,
                cancels_per_s=r.cancels_per_s,
                cpu_ratio_vs_b=r.cpu_us_per_cancel / base.cpu_us_per_cancel,
                client_busy=r.client_busy,
                server_busy=r.server_busy,
                rate_ratio_vs_b=r.cancels_per_s / base.cancels_per_s,
                ids_given=r.ids_given,
                ids_cancelled=r.ids_cancelled,
                server_statuses=r.server_statuses,
                server_verified=r.server_verified,
                correct=r.correct,
                repeated_runs=r.repeated,
                rounds=[
                    {
                        "round": att.round + 1,
                        "attempt": att.attempt + 1,
                        "contended": att.contended,
                        "kept": att.kept,
                        "ids": run.ids,
                        "cancelled": run.cancelled,
                        "warmup_ids": run.warmup_ids,
                        "warmup_cancelled": run.warmup_cancelled,
                        "wall_s": run.wall_s,
                        "cpu_s": run.cpu_s,
                        "cpu_us_per_cancel": run.cpu_us_per_cancel,
                        "cancels_per_s": run.cancels_per_s,
                        "server_cpu_s": run.server_cpu_s,
                        "client_busy": run.client_busy,
                        "server_busy": run.server_busy,
                    }
                    for att in r.attempts
                    for run in (att.run,)
                ],
            )
        variants[r.variant.key] = entry
    msgspec_us = next(d.us_per_decode for d in decode if d.key == "msgspec_smart_trade")
    limiter_json: dict[str, Any] = {"fast_path": {}, "waiters": {}}
    for lim in limiter:
        limiter_json[lim.scenario][lim.key] = {
            "label": lim.label,
            "acquisitions": lim.acquisitions,
            "served": lim.served,
            "wall_s": lim.wall_s,
            "cpu_s": lim.cpu_s,
            "ns_per_acquire": lim.ns_per_acquire,
            "cpu_us_per_acquire": lim.cpu_us_per_acquire,
        }
    limiter_json["waiters_config"] = {
        "max_rate": WAIT_MAX_RATE,
        "time_period": WAIT_PERIOD,
        "ideal_wall_s": cfg.limiter_waiters / WAIT_MAX_RATE * WAIT_PERIOD,
    }
    limiter_json["fast_path_config"] = {"max_rate": FAST_MAX_RATE, "time_period": FAST_PERIOD}
    return {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "elapsed_s": elapsed,
        "machine": machine,
        "config": {
            "quick": cfg.quick,
            "cancels": cfg.cancels,
            "concurrency": cfg.concurrency,
            "rounds": cfg.rounds,
            "warmup": cfg.warmup,
            "rss_cancels": cfg.rss_cancels,
            "retries": cfg.retries,
            "contended_below": CONTENDED_BELOW,
            "limiter_fast_n": cfg.limiter_fast_n,
            "limiter_waiters": cfg.limiter_waiters,
        },
        "cancel": {
            "baseline": BASELINE,
            "statistic": "median over rounds of the kept run of each round (the last attempt)",
            "variants": variants,
            "middleware_cost": _middleware_cost({r.variant.key: r for r in reports}),
        },
        "server": server_stats,
        "rss": rss,
        "decode": {
            "body_bytes": decode_size,
            "variants": {
                d.key: {
                    "label": d.label,
                    "available": d.available,
                    **(
                        {
                            "us_per_decode": d.us_per_decode,
                            "us_best": d.us_best,
                            "ratio_vs_msgspec": d.us_per_decode / msgspec_us,
                            "loops": d.loops,
                            "repeats": d.repeats,
                        }
                        if d.available
                        else {"skipped": SKIPPED}
                    ),
                }
                for d in decode
            },
        },
        "limiter": limiter_json,
        "goals": goals,
        "correct": all(r.correct for r in reports)
        and rss["cancelled"] == rss["ids"]
        and rss["server_verified"]
        and server_stats["only_200s"],
    }


def _before_after(rss: dict[str, Any]) -> str:
    before, after = rss.get("rss_before_mb"), rss.get("rss_after_mb")
    return "n/a" if before is None or after is None else f"{before:.1f} / {after:.1f}"


def _print_report(
    cfg: Config,
    reports: list[VariantReport],
    rss: dict[str, Any],
    decode_size: int,
    decode: list[DecodeResult],
    limiter: list[LimiterResult],
    goals: list[dict[str, Any]],
) -> None:
    print()
    print(
        f"Cancels: {cfg.cancels:,} measured per variant per round (+{cfg.warmup} warm-up), "
        f"{cfg.rounds} round(s), median shown; concurrency {cfg.concurrency}; client CPU = process_time()"
    )
    print("busy = CPU time / wall time of the run (100%: that process saturated its core); ratios are to (b)")
    print(
        _table(
            [
                "variant",
                "CPU µs/cancel",
                "cancels/s",
                "CPU × (b)",
                "rate × (b)",
                "client busy",
                "server busy",
                "cancelled",
                "server ok",
            ],
            _cancel_rows(reports),
        )
    )
    mw = _middleware_cost({r.variant.key: r for r in reports})
    if mw is not None:
        diffs = ", ".join(f"{d:+.1f}" for d in mw["paired_round_diffs_us"])
        print(
            f"SigningMiddleware cost, (e) - (c): {mw['cpu_us_per_cancel']:+.1f} µs CPU/cancel "
            f"({mw['cpu_ratio']:.3f} x (c)); same-round pairs: "
            f"median {mw['paired_round_diff_median_us']:+.1f} µs [{diffs}]"
        )
    repeated = [f"{r.variant.label} x{r.repeated}" for r in reports if r.available and r.repeated]
    if repeated:
        print(
            f"runs repeated because another process took the CPU (client and server both under "
            f"{CONTENDED_BELOW:.0%} busy): {', '.join(repeated)}"
        )
    print()
    msgspec_us = next(d.us_per_decode for d in decode if d.key == "msgspec_smart_trade")
    print(f"Decode of the seed SmartTrade ({decode_size:,} bytes), median of repeats")
    rows = [
        [d.label, f"{d.us_per_decode:.2f}", f"{d.us_per_decode / msgspec_us:.2f}"]
        if d.available
        else [f"{d.label:<40}  {SKIPPED}"]
        for d in decode
    ]
    print(_table(["decoder", "µs/decode", "× msgspec"], rows))
    print()
    fast = [x for x in limiter if x.scenario == "fast_path"]
    print(f"Limiter fast path: {cfg.limiter_fast_n:,} acquisitions in one coroutine, limit never reached")
    print(
        _table(
            ["limiter", "ns/acquire", "CPU µs/acquire"],
            [[x.label, f"{x.ns_per_acquire:,.0f}", f"{x.cpu_us_per_acquire:.3f}"] for x in fast],
        )
    )
    print()
    wait = [x for x in limiter if x.scenario == "waiters"]
    ideal = cfg.limiter_waiters / WAIT_MAX_RATE * WAIT_PERIOD
    print(
        f"Limiter with {cfg.limiter_waiters:,} waiters: max_rate={WAIT_MAX_RATE} "
        f"per {WAIT_PERIOD * 1000:g} ms (ideal wall {ideal * 1000:.0f} ms)"
    )
    print(
        _table(
            ["limiter", "wall ms", "CPU ms", "CPU µs/acquire", "served"],
            [
                [
                    x.label,
                    f"{x.wall_s * 1000:.1f}",
                    f"{x.cpu_s * 1000:.1f}",
                    f"{x.cpu_us_per_acquire:.2f}",
                    f"{x.served:,}",
                ]
                for x in wait
            ],
        )
    )
    print()
    print(
        f"Memory: one cancel_many over {rss['ids']:,} ids in a fresh process (concurrency {cfg.concurrency})"
    )
    print(
        _table(
            ["measure", "value"],
            [
                [f"peak RSS (MB, {rss['peak_rss_source']})", f"{rss['peak_rss_mb']:.1f}"],
                ["peak RSS before the first request (MB)", f"{rss['baseline_rss_mb']:.1f}"],
                ["current RSS before / after (MB)", _before_after(rss)],
                ["cancelled", f"{rss['cancelled']:,}/{rss['ids']:,}"],
                ["wall (s)", f"{rss['wall_s']:.2f}"],
                ["CPU µs/cancel", f"{rss['cpu_s'] / rss['ids'] * 1e6:.1f}"],
            ],
        )
    )
    print()
    print("Goals" + (" (quick run: indicative only)" if cfg.quick else ""))
    for g in goals:
        print(f"  {g['status']:<7} {g['goal']}: {g['value']}  (target {g['target']})")


def main(argv: list[str] | None = None) -> int:
    cfg = _config(_parser().parse_args(argv))
    started = time.perf_counter()
    load_before = _loadavg()
    cpus = allowed_cpus()
    server_cpu, client_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    reports = [VariantReport(v, v.available()) for v in VARIANTS]
    phases: dict[str, float] = {}
    mark = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases[name] = now - mark
        mark = now

    with ServerProcess(server_cpu) as server:
        pin(client_cpu)
        phase("server_start")
        where = (
            f"server pid {server.pid} on CPU {server.cpu}, client pid {os.getpid()} on CPU {client_cpu}"
            if client_cpu is not None
            else "no CPU pinning available: server and client share the machine's CPUs"
        )
        print(f"Fake 3Commas at {server.target.base_url} ({where})", flush=True)
        _cancel_benchmark(server, cfg, reports)
        phase("cancel")
        rss = _rss_benchmark(server, cfg, client_cpu)
        phase("rss")
        server_stats = server.call("stats")
    expected = sum(len(r.ids_used) for r in reports) + rss["ids"]
    server_stats["only_200s"] = server_stats["by_status"] == {"200": expected}
    decode_size, decode = run_decode(quick=cfg.quick)
    phase("decode")
    limiter = run_limiter(fast_n=cfg.limiter_fast_n, waiters=cfg.limiter_waiters)
    phase("limiter")
    by_key = {r.variant.key: r for r in reports}
    goals = _goals(by_key, rss, cfg)
    _print_report(cfg, reports, rss, decode_size, decode, limiter, goals)
    report = _report_json(
        cfg,
        _machine(cpus, server.cpu, client_cpu, load_before),
        reports,
        rss,
        decode_size,
        decode,
        limiter,
        goals,
        server_stats,
        time.perf_counter() - started,
    )
    report["phases_s"] = phases
    cfg.json_path.parent.mkdir(parents=True, exist_ok=True)
    cfg.json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nJSON report: {cfg.json_path}  ({report['elapsed_s']:.1f} s)")
    if not report["correct"]:
        print("ERROR: a variant did not cancel exactly the ids it was given (see 'cancelled' / 'server ok')")
        return 1
    return 0
