"""The main job runs end to end: the fake server in a child process, faults on, every id accounted for,
and a verdict that says OK only when every SmartTrade was cancelled (or provably final) without a ban."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from threecommas_async.cli import Console, main
from threecommas_async.cli._demo import DemoReport

pytestmark = pytest.mark.e2e


def _field(report: str, label: str) -> int:
    match = re.search(rf"^{re.escape(label)}\s+(\d+)", report, re.M)
    assert match is not None, f"no {label!r} line in:\n{report}"
    return int(match.group(1))


def test_demo_accounts_for_every_id_under_faults() -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["demo", "--trades", "150", "--fault-rate", "0.15", "--concurrency", "16", "--seed", "11"]
    code = main(argv, console=Console({}, io.StringIO(), out, err))
    report = out.getvalue()
    assert code == 0, report + err.getvalue()
    assert "SmartTrades        150 created, 150 confirmed" in report
    # "final, who unknown": cancelled, but an answer was lost, so whether this run did it cannot be told
    unknown_cause = _field(report, "final, who unknown") if "final, who unknown" in report else 0
    assert _field(report, "cancelled") + _field(report, "already final") + unknown_cause == 150
    assert _field(report, "failed") == 0
    assert _field(report, "unaccounted") == 0
    assert _field(report, "server disagrees") == 0
    assert _field(report, "retries") > 0  # faults really were injected and handled
    assert _field(report, "418s received") == 0
    for label in ("429s received", "latency p50 / p99", "cancels per second", "client CPU/cancel"):
        assert label in report
    assert (
        report.splitlines()[-1]
        == "result             OK: every SmartTrade cancelled or already final, no ban"
    )
    assert "cancelling 150" in err.getvalue()


def test_four_processes_share_one_allowance_through_sqlite(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    storage = f"sqlite:///{tmp_path}/limits.db"
    argv = ["demo", "--trades", "200", "--fault-rate", "0", "--processes", "4", "--limits-storage", storage]
    code = main(argv, console=Console({}, io.StringIO(), out, err))
    report = out.getvalue()
    assert code == 0, report + err.getvalue()
    assert f"processes          4, sharing one allowance in {storage}" in report
    assert _field(report, "cancelled") == 200
    assert _field(report, "429s received") == 0
    busiest = re.search(r"^busiest window\s+(\d+) of (\d+) per", report, re.M)
    assert busiest is not None and 0 < int(busiest[1]) <= int(busiest[2]) == 100


def test_python_m_demo_under_heavy_faults_says_not_ok_and_what_failed() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "threecommas_async", "demo", "--trades", "10", "--fault-rate", "0.9"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = done.stdout
    assert done.returncode == 1, report + done.stderr
    failed, unknown = _field(report, "failed"), (_field(report, "unknown") if "\nunknown " in report else 0)
    assert failed + unknown > 0
    assert "result             NOT OK" in report
    assert _field(report, "server disagrees") == 0  # no outcome the server contradicts, even at 90 % faults
    counted = _field(report, "cancelled") + _field(report, "already final") + failed + unknown
    assert counted + (_field(report, "final, who unknown") if "final, who unknown" in report else 0) == 10
    # one line per cause: how many, why (the exception's message), which ids
    causes = re.findall(r"^  (\d+) (\w+Error): .* \(ids [\d, …()more]+\)$", report, re.M)
    assert causes and sum(int(n) for n, _ in causes) == failed + unknown
    if failed:
        assert f"{failed} SmartTrade{'s' if failed > 1 else ''} not cancelled:" in report
    if unknown:
        assert f"{unknown} SmartTrade{'s' if unknown > 1 else ''} unknown (an answer was lost" in report
    assert "Traceback" not in done.stderr


def test_report_is_not_ok_when_an_id_is_missing_or_failed() -> None:
    missing = DemoReport(trades=3, created=3, unaccounted=1, unaccounted_ids=[12])
    assert not missing.ok
    assert missing.lines()[-2:] == [
        "result             NOT OK",
        "1 SmartTrade got no result or an unexpected one: ids 12",
    ]
    failed = DemoReport(
        trades=3,
        created=3,
        cancelled=1,
        failed=2,
        failed_ids={"ServerError": [7, 5]},
        failure_samples={"ServerError": "DELETE /v2/smart_trades/5 -> 503"},
    )
    assert not failed.ok
    assert failed.problems() == [
        "2 SmartTrades not cancelled:",
        "  2 ServerError: DELETE /v2/smart_trades/5 -> 503 (ids 5, 7)",
    ]
    unknown = DemoReport(
        trades=2,
        created=2,
        cancelled=1,
        unknown=1,
        unknown_ids={"APIConnectionError": [9]},
        unknown_samples={"APIConnectionError": "connection broke"},
        unknown_but_cancelled=[9],
    )
    assert unknown.problems() == [
        "1 SmartTrade unknown (an answer was lost and the check failed too):",
        "  1 APIConnectionError: connection broke (ids 9)",
        "  of those, the server shows 1 cancelled after all: ids 9",
    ]
    assert DemoReport(trades=2, created=2, cancelled=1, already_final=1).ok
