"""Smoke tests of the benchmark command (``python -m benchmarks --quick``).

They check that the harness runs end to end, reports every number, and that every client variant
cancelled exactly the ids it was given. Timings are never asserted: they depend on the machine.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIPPED = "skipped (install .[bench])"
VARIANTS = (
    "a_sdk_cancel",
    "a_sdk_cancel_many",
    "b_aiohttp_json",
    "c_aiohttp_msgspec",
    "d_py3cw",
    "e_aiohttp_middleware_msgspec",
)

# Runs the benchmark as if py3cw and pydantic were not installed: a None entry in sys.modules makes
# ``import`` raise ImportError, which is what a `.[dev]`-only environment gets.
_WITHOUT_EXTRAS = (
    "import runpy, sys\n"
    "for name in ('py3cw', 'py3cw.request', 'pydantic'):\n"
    "    sys.modules[name] = None\n"
    "runpy.run_module('benchmarks', run_name='__main__', alter_sys=True)\n"
)


def _run(tmp_path: Path, *prefix: str, extra: tuple[str, ...] = ()) -> tuple[dict[str, Any], str]:
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, *prefix, "--quick", "--json", str(out), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report: dict[str, Any] = json.loads(out.read_text())
    return report, proc.stdout


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _check_common(report: dict[str, Any]) -> None:
    assert report["correct"] is True
    for key in ("timestamp", "machine", "config", "server", "results", "goals", "phases_s"):
        assert key in report, key
    results = report["results"]
    for key in ("cancel", "rss", "decode", "limiter"):
        assert key in results, key
        assert report["phases_s"][key] > 0, key
    machine = report["machine"]
    assert machine["python"] and machine["platform"] and machine["cpu_count"] >= 1
    assert report["config"]["quick"] is True
    server = report["server"]
    assert server["only_200s"] is True
    assert server["by_status"] == {"200": server["expected_200s"]}
    assert server["expected_200s"] > 0

    cancel = results["cancel"]
    variants, skipped = cancel["variants"], cancel["skipped"]
    assert set(variants) | set(skipped) == set(VARIANTS)
    assert not set(variants) & set(skipped)
    for key, s in skipped.items():
        assert s["reason"] == SKIPPED and s["label"], key
    for key, v in variants.items():
        assert v["cpu_us_per_cancel"] > 0 and v["cancels_per_s"] > 0, key
        assert v["cpu_ratio_vs_b"] > 0 and v["rate_ratio_vs_b"] > 0, key
        # Every variant cancelled exactly the ids it was given, by its own count and by the server's.
        assert v["ids_given"] > 0 and v["ids_cancelled"] == v["ids_given"], key
        assert v["server_verified"] is True and v["correct"] is True, key
        assert v["server_statuses"] == {"cancellation_pending": v["ids_given"]}, key
        assert sum(a["kept"] for a in v["rounds"]) == report["config"]["rounds"], key
        for attempt in v["rounds"]:
            run = attempt["run"]
            assert run["cancelled"] == run["ids"] > 0, key
            assert run["warmup_cancelled"] == run["warmup_ids"], key
            assert run["wall_s"] > 0 and run["cpu_s"] > 0, key
            assert run["cpu_us_per_cancel"] == pytest.approx(run["cpu_s"] / run["ids"] * 1e6), key
    for key in (v for v in VARIANTS if v != "d_py3cw"):  # everything but py3cw needs only .[dev]
        assert key in variants, key
    assert variants["b_aiohttp_json"]["cpu_ratio_vs_b"] == 1.0
    assert cancel["middleware_cost"]["cpu_us_per_cancel"] == pytest.approx(
        variants["e_aiohttp_middleware_msgspec"]["cpu_us_per_cancel"]
        - variants["c_aiohttp_msgspec"]["cpu_us_per_cancel"]
    )

    rss = results["rss"]
    assert rss["cancelled"] == rss["ids"] > 0
    assert rss["server_verified"] is True
    assert rss["peak_rss_mb"] >= rss["baseline_rss_mb"] > 0 and rss["wall_s"] > 0

    decode = results["decode"]
    assert decode["body_bytes"] > 0
    for key in ("msgspec_smart_trade", "json_loads"):
        assert decode["variants"][key]["us_per_decode"] > 0, key
    assert decode["variants"]["msgspec_smart_trade"]["ratio_vs_msgspec"] == 1.0

    for scenario, keys in (
        ("fast_path", ("gate", "gate_off", "aiolimiter")),
        ("waiters", ("gate", "aiolimiter")),
    ):
        for key in keys:
            entry = results["limiter"][scenario][key]
            assert entry["served"] == entry["acquisitions"] > 0, (scenario, key)
            assert entry["ns_per_acquire"] > 0 and entry["cpu_s"] > 0, (scenario, key)

    goals = report["goals"]
    assert len(goals) == 3
    assert all(g["status"] in ("PASS", "MISS", "SKIPPED") for g in goals)
    for g in goals:
        assert g["status"] == "SKIPPED" or g["numbers"], g


def test_quick_benchmark_reports_every_number(tmp_path: Path) -> None:
    report, stdout = _run(tmp_path, "-m", "benchmarks")
    _check_common(report)
    results = report["results"]
    assert ("d_py3cw" in results["cancel"]["variants"]) is _has("py3cw")
    decoders = results["decode"]["variants"]
    assert ("pydantic_v2" in decoders) is _has("pydantic")
    if "pydantic_v2" in decoders:
        assert decoders["pydantic_v2"]["us_per_decode"] > 0
    if not (_has("py3cw") and _has("pydantic")):
        assert SKIPPED in stdout
    for line in ("CPU µs/cancel", "Goals", "JSON report"):
        assert line in stdout


def test_quick_benchmark_without_bench_extras(tmp_path: Path) -> None:
    small = ("--cancels", "100", "--warmup", "20", "--rss-cancels", "300")
    report, stdout = _run(tmp_path, "-c", _WITHOUT_EXTRAS, extra=small)
    _check_common(report)
    assert "d_py3cw" in report["results"]["cancel"]["skipped"]
    assert "pydantic_v2" in report["results"]["decode"]["skipped"]
    assert [g["status"] for g in report["goals"]][1] == "SKIPPED"
    assert stdout.count(SKIPPED) >= 3  # the py3cw row, the pydantic row, the py3cw goal
