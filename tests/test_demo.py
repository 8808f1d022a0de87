"""The main job runs end to end: the fake server in a child process, faults on, every id accounted for."""

from __future__ import annotations

import io
import subprocess
import sys

from threecommas_async.cli._demo import DemoReport, run_demo


def test_demo_accounts_for_every_id_under_faults() -> None:
    stream = io.StringIO()
    report = run_demo(150, fault_rate=0.15, concurrency=16, seed=11, stream=stream)
    assert report.created == 150
    assert report.unaccounted == 0
    assert report.server_disagrees == 0
    assert report.cancelled + report.already_final + report.failed == 150
    assert report.retries > 0  # faults really were injected and handled
    assert report.received_418 == 0 and report.server_418 == 0
    assert report.ok
    assert len(report.latencies) == 150
    assert "cancelling 150" in stream.getvalue()


def test_report_is_not_ok_when_an_id_is_missing() -> None:
    report = DemoReport(trades=3, created=3, unaccounted=1)
    assert not report.ok
    assert any("NOT OK" in line for line in report.lines())


def test_demo_command_exits_zero_and_prints_the_summary() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "threecommas_async", "demo", "--trades", "60", "--fault-rate", "0.1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for label in (
        "cancelled",
        "already final",
        "failed",
        "retries",
        "429s received",
        "418s received",
        "latency p50 / p99",
        "cancels per second",
        "client CPU/cancel",
    ):
        assert label in done.stdout
    assert "OK: every id accounted for" in done.stdout
