"""The benchmark command: ``python -m benchmarks [--quick] [--json PATH] …`` (options: ``_config``).

Order of a run:
1. start the fake server in its own process (``testing._process.FakeProcess``), pinned to the first CPU;
   pin this process to the second;
2. run every section that needs the server, in the order of :func:`sections` (the cancel table, the
   memory run, …); each checks with the server that its ids are cancelled;
3. stop the server and check its counters: nothing but 200s, one per seeded id (besides the answers
   to the other requests the sections made, which they report);
4. run the sections that need no server (decode, limiter and storage micro-benchmarks);
5. print every section's block and the goals, write the JSON report.

Exit status 1 when a client did not cancel exactly the ids it was given (a correctness failure); goals
are reported (PASS/MISS), never enforced.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any

from threecommas_async.testing._process import FakeProcess, allowed_cpus, pin_cpu

from ._cancel import CancelSection
from ._common import raise_fd_limit
from ._config import Config, config, parser
from ._curve import CurveSection
from ._decode import DecodeSection
from ._fake import COMMANDS
from ._lag import LagSection
from ._limiter import LimiterSection
from ._machine import loadavg, machine
from ._memory import MemorySection
from ._profile import ProfileSection
from ._report import Report, ServerStats, write
from ._section import Bench, Section
from ._shared import SharedSection
from ._storages import StoragesSection
from ._tenants import TenantsSection

SERVER_OPTIONS: dict[str, Any] = {"rate_limit": None, "record_requests": False, "cancel_delay": None}
"""No limiter (but while the shared-allowance section runs, on keys of its own), no traffic record, and a
cancelled trade stays ``cancellation_pending`` (so the server does no timed work during a run, and a
second DELETE of an id would answer 403, which the final check would catch)."""


def sections(cfg: Config) -> list[Section[Any]]:
    """Every section of a run, in the order they are printed."""
    every: list[Section[Any]] = [
        CancelSection(cfg),
        LagSection(cfg),
        CurveSection(cfg),
        TenantsSection(cfg),
        ProfileSection(cfg),
        DecodeSection(cfg.quick),
        LimiterSection(cfg.limiter_fast_n, cfg.limiter_waiters),
        StoragesSection(cfg),
        SharedSection(cfg),
        MemorySection(cfg.rss_cancels, cfg.concurrency),
    ]
    unknown = set(cfg.only) - {s.key for s in every}
    if unknown:
        parser().error(f"--only: unknown section(s) {', '.join(sorted(unknown))}")
    return [s for s in every if not cfg.only or s.key in cfg.only]


class _Phases:
    """Wall seconds of each phase of the run, for the report."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._mark = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = now - self._mark
        self._mark = now


def main(argv: list[str] | None = None) -> int:
    cfg = config(argv)
    raise_fd_limit(4 * cfg.tenants + 1024)  # before the fake starts: its process inherits the limit
    started = time.perf_counter()
    load_before = loadavg()
    cpus = allowed_cpus()
    server_cpu, client_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    parts = sections(cfg)
    results: dict[str, Any] = {}
    phases = _Phases()
    bench = Bench(client_cpu, server_cpu)

    def run(part: Section[Any]) -> None:
        results[part.key] = part.run(bench)
        phases.done(part.key)

    with FakeProcess(cpu=server_cpu, commands=COMMANDS, **SERVER_OPTIONS) as server:
        pin_cpu(client_cpu)
        phases.done("server_start")
        where = (
            f"server pid {server.pid} on CPU {server.cpu}, client pid {os.getpid()} on CPU {client_cpu}"
            if client_cpu is not None
            else "no CPU pinning available: server and client share the machine's CPUs"
        )
        print(f"Fake 3Commas at {server.base_url} ({where})", flush=True)
        bench.server = server
        for part in parts:
            if part.needs_server:
                run(part)
        stats = server.stats()
        server_cpu = server.cpu
        bench.server = None
    cancels = {s: n - bench.others.get(s, 0) for s, n in stats.by_status.items()}
    server_stats = ServerStats(
        requests=stats.requests,
        by_status=stats.by_status,
        by_route=stats.by_route,
        expected_200s=bench.seeded,
        other_answers=bench.others,
        only_200s={s: n for s, n in cancels.items() if n} == ({200: bench.seeded} if bench.seeded else {}),
    )
    for part in parts:
        if not part.needs_server:
            run(part)

    for part in parts:
        print()
        print(part.render(results[part.key]))
    goals = [g for part in parts for g in part.goals(results[part.key])]
    print()
    print("Goals" + (" (quick run: indicative only)" if cfg.quick else ""))
    for g in goals:
        print(g.line())
    report = Report(
        timestamp=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        elapsed_s=time.perf_counter() - started,
        machine=machine(cpus, server_cpu, client_cpu, load_before),
        config=cfg,
        phases_s=phases.seconds,
        server=server_stats,
        results=results,
        goals=goals,
        correct=server_stats.only_200s and all(part.correct(results[part.key]) for part in parts),
    )
    write(report, cfg.json_path)
    print(f"\nJSON report: {cfg.json_path}  ({report.elapsed_s:.1f} s)")
    if not report.correct:
        print("ERROR: a variant did not cancel exactly the ids it was given (see 'cancelled' / 'server ok')")
        return 1
    return 0
