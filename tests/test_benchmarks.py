"""Smoke tests of the benchmark command (``python -m benchmarks --quick`` at tiny sizes, one round).

They check that the harness runs end to end, reports every number of every section, and that every
client cancelled exactly the ids it was given. Timings are never asserted: they depend on the machine;
only their sanity is (positive, ordered, ratios consistent with the numbers they divide).
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
SKIPPED = "skipped (install .[bench])"
VARIANTS = (
    "a_sdk_cancel",
    "a_sdk_cancel_many",
    "b_aiohttp_json",
    "c_aiohttp_msgspec",
    "d_py3cw",
    "e_aiohttp_middleware_msgspec",
    "f_raw_protocol",
)
ON_LOOP = tuple(v for v in VARIANTS if v != "d_py3cw")
LAG_VARIANTS = ("a_sdk_cancel", "a_sdk_cancel_many", "c_aiohttp_msgspec", "f_raw_protocol")
EXTRAS = ("py3cw", "pydantic", "uvloop")
CURVE_SIZES = (20, 60)
TENANTS, TENANT_CANCELS, PROFILE_CANCELS, STORAGE_OPS, SHARED_WINDOWS = 5, 2, 40, 100, 2
TENANT_VARIANTS = ("one", "siblings", "shared_session", "own_sessions")
EVERY = {  # every section: its goals in the quick run below, and a line of its printed block
    "cancel": (2, "Floor (f)"),
    "loop_lag": (0, "Event-loop lag by concurrency"),
    "curve": (len(CURVE_SIZES), "cancel_many size curve"),
    "tenants": (4, "Tenants:"),
    "profile": (0, "Top 10 SDK functions by self time"),
    "decode": (0, "Decode of the seed SmartTrade"),
    "limiter": (0, "Limiter fast path"),
    "storages": (4, "Rate-limit storages"),  # Redis vs PING, SQLite, key count growth, idle keys dropped
    "shared": (2, "Shared allowance"),  # one per storage
    "rss": (1, "Memory: one cancel_many"),
}
TINY = (
    "--quick",
    "--uvloop",
    *("--cancels", "40", "--warmup", "8", "--lag-cancels", "60", "--rss-cancels", "100"),
    *("--curve-sizes", ",".join(map(str, CURVE_SIZES))),
    *("--tenants", str(TENANTS), "--tenant-cancels", str(TENANT_CANCELS)),
    *("--profile-cancels", str(PROFILE_CANCELS), "--storage-ops", str(STORAGE_OPS)),
    *("--shared-windows", str(SHARED_WINDOWS)),
)

# Runs the benchmark as if the bench extras were not installed: a None entry in sys.modules makes
# ``import`` raise ImportError, which is what a `.[dev]`-only environment gets.
_WITHOUT_EXTRAS = (
    "import runpy, sys\n"
    "for name in ('py3cw', 'py3cw.request', 'pydantic', 'uvloop'):\n"
    "    sys.modules[name] = None\n"
    "runpy.run_module('benchmarks', run_name='__main__', alter_sys=True)\n"
)


def _run(tmp_path: Path, *prefix: str, extra: tuple[str, ...] = ()) -> tuple[dict[str, Any], str]:
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, *prefix, *TINY, "--json", str(out), *extra],
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


def _check_run(run: dict[str, Any], key: str) -> None:
    assert run["cancelled"] == run["ids"] > 0, key
    assert run["warmup_cancelled"] == run["warmup_ids"], key
    assert run["wall_s"] > 0 and run["cpu_s"] > 0, key
    assert run["cpu_us_per_cancel"] == pytest.approx(run["cpu_s"] / run["ids"] * 1e6), key
    assert run["cancels_per_s"] == pytest.approx(run["ids"] / run["wall_s"]), key


def _check_cancel(cancel: dict[str, Any], rounds: int, uvloop: bool) -> None:
    variants, skipped = cancel["variants"], cancel["skipped"]
    assert {k for k in variants if "@" not in k} | set(skipped) == set(VARIANTS)
    assert not set(variants) & set(skipped)
    for key, s in skipped.items():
        assert s["reason"] == SKIPPED and s["label"], key
    if uvloop:
        assert cancel["loops"] == ["asyncio", "uvloop"] and cancel["uvloop_skipped"] is None
        assert {k for k in variants if k.endswith("@uvloop")} == {f"{v}@uvloop" for v in ON_LOOP}
    else:
        assert cancel["loops"] == ["asyncio"] and "uvloop is not installed" in cancel["uvloop_skipped"]
    for key, v in variants.items():
        assert v["loop"] == ("uvloop" if key.endswith("@uvloop") else "asyncio"), key
        assert v["cpu_us_per_cancel"] > 0 and v["cancels_per_s"] > 0, key
        suffix = "@uvloop" if v["loop"] == "uvloop" else ""
        for ratio, of in (("cpu_ratio_vs_b", "b_aiohttp_json"), ("cpu_ratio_vs_f", "f_raw_protocol")):
            base = variants[of + suffix]["cpu_us_per_cancel"]
            assert v[ratio] == pytest.approx(v["cpu_us_per_cancel"] / base), (key, ratio)
        if v["loop"] == "uvloop":
            same = variants[v["variant"]]["cpu_us_per_cancel"]
            assert v["cpu_ratio_vs_asyncio"] == pytest.approx(v["cpu_us_per_cancel"] / same), key
        else:
            assert v["cpu_ratio_vs_asyncio"] is None, key
        # Every variant cancelled exactly the ids it was given, by its own count and by the server's.
        assert v["ids_given"] > 0 and v["ids_cancelled"] == v["ids_given"], key
        assert v["server_verified"] is True and v["correct"] is True, key
        assert v["server_statuses"] == {"cancellation_pending": v["ids_given"]}, key
        assert sum(a["kept"] for a in v["rounds"]) == rounds, key
        for attempt in v["rounds"]:
            _check_run(attempt["run"], key)
    for key in ON_LOOP:  # everything but py3cw needs only .[dev]
        assert key in variants, key
    assert variants["f_raw_protocol"]["cpu_ratio_vs_f"] == 1.0
    assert cancel["middleware_cost"]["cpu_us_per_cancel"] == pytest.approx(
        variants["e_aiohttp_middleware_msgspec"]["cpu_us_per_cancel"]
        - variants["c_aiohttp_msgspec"]["cpu_us_per_cancel"]
    )


def _check_lag(lag: dict[str, Any], uvloop: bool) -> None:
    loops = ("asyncio", "uvloop") if uvloop else ("asyncio",)
    expected = {v if loop == "asyncio" else f"{v}@{loop}" for loop in loops for v in LAG_VARIANTS}
    assert set(lag["variants"]) == expected
    assert lag["interval_ms"] == 1.0
    for key, r in [*lag["variants"].items(), *((f"c={r['concurrency']}", r) for r in lag["by_concurrency"])]:
        assert r["ticks"] >= 1, key
        # a 1 ms sleep can end early (uvloop rounds its timers to the millisecond), never before it began
        assert -1.0 <= r["p50_ms"] <= r["p99_ms"] <= r["max_ms"], key
        assert r["server_verified"] is True and r["correct"] is True, key
        assert sum(x["ticks"] for x in r["runs"] if x["attempt"]["kept"]) == r["ticks"], key
        kept = [x["attempt"]["run"]["cancels_per_s"] for x in r["runs"] if x["attempt"]["kept"]]
        assert r["cancels_per_s"] == pytest.approx(statistics.median(kept)), key
        for x in r["runs"]:
            _check_run(x["attempt"]["run"], key)
    # cancel_many at 8, 16 and 32; at the run's own concurrency (32) it is the main table's row
    assert [r["concurrency"] for r in lag["by_concurrency"]] == [8, 16, 32]
    assert all(r["variant"] == "a_sdk_cancel_many" and r["loop"] == "asyncio" for r in lag["by_concurrency"])
    assert lag["by_concurrency"][-1] == lag["variants"]["a_sdk_cancel_many"]


def _check_tenants(tenants: dict[str, Any], rounds: int) -> None:
    assert (tenants["tenants"], tenants["cancels_per_tenant"]) == (TENANTS, TENANT_CANCELS)
    variants = tenants["variants"]
    assert list(variants) == list(TENANT_VARIANTS)
    one = variants["one"]["cpu_us_per_cancel"]
    for key, v in variants.items():
        assert v["tenants"] == (1 if key == "one" else TENANTS), key
        assert v["cpu_us_per_cancel"] > 0 and v["cancels_per_s"] > 0, key
        assert v["cpu_ratio_vs_one"] == pytest.approx(v["cpu_us_per_cancel"] / one), key
        assert v["paired_cpu_ratio_median"] > 0, key
        assert v["server_verified"] is True and v["correct"] is True, key
        assert v["ids_given"] > TENANTS * TENANT_CANCELS, key  # every round's, and the memory run's
        assert sum(a["kept"] for a in v["rounds"]) == rounds, key
        for attempt in v["rounds"]:
            assert attempt["run"]["ids"] == TENANTS * TENANT_CANCELS, key
            _check_run(attempt["run"], key)
        mem = v["memory"]
        assert mem["cancelled"] == TENANTS * TENANT_CANCELS, key
        assert mem["peak_rss_mb"] >= mem["baseline_rss_mb"] > 0, key
        assert mem["rss_growth_mb"] == pytest.approx(mem["peak_rss_mb"] - mem["baseline_rss_mb"]), key
        if key == "one":
            assert mem["idle_bytes_per_tenant"] is None and mem["construct_s"] is None
        else:
            assert mem["idle_bytes_per_tenant"] > 0 and mem["construct_s"] > 0, key
    assert variants["one"]["cpu_ratio_vs_one"] == 1.0


def _check_storages(storages: dict[str, Any]) -> None:
    ping = storages["ping"]
    assert ping["ops"] == STORAGE_OPS and ping["ratio_vs_ping"] == 1.0 and ping["period_s"] is None
    assert set(storages["storages"]) == {"memory", "sqlite", "redis"}
    for key, cost in [*storages["storages"].items(), ("ping", ping)]:
        assert cost["ops"] == STORAGE_OPS, key
        assert cost["wall_s"] > 0 and cost["cpu_s"] > 0, key
        assert cost["us_per_op"] == pytest.approx(cost["wall_s"] / cost["ops"] * 1e6), key
        assert cost["cpu_us_per_op"] == pytest.approx(cost["cpu_s"] / cost["ops"] * 1e6), key
        if key != "ping":
            assert cost["period_s"] > 0, key
    redis = storages["storages"]["redis"]
    assert redis["ratio_vs_ping"] == pytest.approx(redis["us_per_op"] / ping["us_per_op"])
    counts = storages["key_counts"]
    assert [k["keys"] for k in counts] == [1, 100]  # --quick
    assert counts[0]["ratio_vs_one_key"] == 1.0
    for k in counts:
        for run in ("live", "expiring"):
            assert k[run]["ops"] == storages["key_ops"] > 0 and k[run]["us_per_op"] > 0, run
        base = counts[0]["live"]["us_per_op"]
        assert k["ratio_vs_one_key"] == pytest.approx(k["live"]["us_per_op"] / base)
        assert k["expiring_ratio_vs_one_key"] == pytest.approx(k["expiring"]["us_per_op"] / base)
        assert k["live"]["period_s"] == 60.0 and 0 < k["expiring"]["period_s"] < 1
        assert k["keys_held_live"] == k["keys"]  # no live key is ever dropped
        assert 1 <= k["keys_held_after_new"] <= 2 * k["keys"]


def _check_shared(shared: dict[str, Any]) -> None:
    assert set(shared["storages"]) == {"sqlite", "redis"}
    for key, r in shared["storages"].items():
        assert (r["processes"], r["windows"]) == (shared["processes"], SHARED_WINDOWS), key
        assert len(r["per_window"]) == SHARED_WINDOWS and len(r["done_per_process"]) == r["processes"], key
        assert r["share_mean"] == pytest.approx(statistics.fmean(r["per_window"]) / r["limit"]), key
        assert r["share_min"] == pytest.approx(min(r["per_window"]) / r["limit"]), key
        # the busiest window of any start holds at least as many as any of the fixed ones
        assert r["requests"] >= r["busiest"] >= max(r["per_window"]) > 0, (key, r)
        assert r["requests"] >= sum(r["done_per_process"]) + r["status_429"] + r["status_418"], key
        assert r["requests"] >= sum(r["per_window"]), key


def _check_profile(profile: dict[str, Any]) -> None:
    run = profile["run"]
    assert run["ids"] == run["cancelled_plain"] == run["cancelled_profiled"] == PROFILE_CANCELS
    assert profile["server_verified"] is True and profile["ids_given"] > 2 * PROFILE_CANCELS
    assert run["plain_cpu_us_per_cancel"] > 0 and run["profiled_cpu_us_per_cancel"] > 0
    groups = {g["name"]: g for g in run["groups"]}
    assert sum(g["share"] for g in run["groups"]) == pytest.approx(1.0)
    assert [g["share"] for g in run["groups"]] == sorted((g["share"] for g in run["groups"]), reverse=True)
    for g in run["groups"]:
        assert g["estimate_us_per_cancel"] == pytest.approx(g["share"] * run["plain_cpu_us_per_cancel"])
    sdk = groups["threecommas_async"]
    assert 0 < sdk["share"] < 1 and profile["sdk_share"] == sdk["share"]
    assert "aiohttp (+ yarl, multidict)" in groups and "msgspec" in groups
    top = run["top_sdk"]
    assert 1 <= len(top) <= 10
    assert all(h["function"].startswith("threecommas_async/") and h["self_us_per_cancel"] > 0 for h in top)
    assert [h["self_us_per_cancel"] for h in top] == sorted(
        (h["self_us_per_cancel"] for h in top), reverse=True
    )


def _check_curve(curve: dict[str, Any], rounds: int) -> None:
    assert [p["size"] for p in curve["points"]] == list(CURVE_SIZES)
    assert curve["server_verified"] is True and curve["correct"] is True
    for p in curve["points"]:
        sdk, hand = p["sdk"], p["hand"]
        assert p["cpu_ratio"] == pytest.approx(sdk["cpu_us_per_cancel"] / hand["cpu_us_per_cancel"])
        assert p["paired_cpu_ratio_median"] > 0
        assert p["goal_ratio"] == 1.0  # below 1,000 ids
        assert p["rounds"] == rounds  # --quick: no extra rounds for small sizes
        for row in (sdk, hand):
            assert row["cpu_us_per_cancel"] > 0 and row["cancels_per_s"] > 0
            assert sum(r["attempt"]["kept"] for r in row["runs"]) == rounds
            for r in row["runs"]:
                assert r["peak_rss_mb"] >= r["baseline_rss_mb"] > 0
                assert r["rss_growth_mb"] == pytest.approx(r["peak_rss_mb"] - r["baseline_rss_mb"])
                assert r["attempt"]["run"]["ids"] == p["size"]
                _check_run(r["attempt"]["run"], str(p["size"]))


def _check_report(report: dict[str, Any], sections: tuple[str, ...], uvloop: bool) -> None:
    assert report["correct"] is True
    for key in ("timestamp", "machine", "config", "server", "results", "goals", "phases_s"):
        assert key in report, key
    results = report["results"]
    assert set(results) == set(sections)
    for key in sections:
        assert report["phases_s"][key] > 0, key
    machine = report["machine"]
    assert machine["python"] and machine["platform"] and machine["cpu_count"] >= 1
    config = report["config"]
    assert config["quick"] is True and config["uvloop"] is True
    server = report["server"]
    assert server["only_200s"] is True and server["expected_200s"] > 0
    # One 200 per seeded id, and besides them only the answers the sections reported (the shared GETs)
    others = {int(k): n for k, n in server["other_answers"].items()}
    cancels = {int(k): n - others.get(int(k), 0) for k, n in server["by_status"].items()}
    assert {k: n for k, n in cancels.items() if n} == {200: server["expected_200s"]}
    assert server["requests"] == server["expected_200s"] + sum(others.values())
    shared = results.get("shared", {"storages": {}})["storages"].values()
    assert sum(others.values()) == sum(r["requests"] for r in shared)

    _check_cancel(results["cancel"], config["rounds"], uvloop)
    if "loop_lag" in results:
        _check_lag(results["loop_lag"], uvloop)
    if "curve" in results:
        _check_curve(results["curve"], config["curve_rounds"])
    if "tenants" in results:
        _check_tenants(results["tenants"], config["rounds"])
    if "storages" in results:
        _check_storages(results["storages"])
    if "shared" in results:
        _check_shared(results["shared"])
    if "profile" in results:
        _check_profile(results["profile"])
    if "rss" in results:
        rss = results["rss"]
        assert rss["cancelled"] == rss["ids"] == 100 and rss["server_verified"] is True
        assert rss["memory"]["peak_rss_mb"] >= rss["memory"]["baseline_rss_mb"] > 0
        _check_run(rss["run"], "rss")
    if "decode" in results:
        decode = results["decode"]
        assert decode["body_bytes"] > 0
        for key in ("msgspec_smart_trade", "json_loads"):
            assert decode["variants"][key]["us_per_decode"] > 0, key
        assert decode["variants"]["msgspec_smart_trade"]["ratio_vs_msgspec"] == 1.0
    if "limiter" in results:
        for scenario, keys in (
            ("fast_path", ("gate", "gate_off", "aiolimiter")),
            ("waiters", ("gate", "aiolimiter")),
        ):
            for key in keys:
                entry = results["limiter"][scenario][key]
                assert entry["served"] == entry["acquisitions"] > 0, (scenario, key)
                assert entry["ns_per_acquire"] > 0 and entry["cpu_s"] > 0, (scenario, key)

    goals = report["goals"]
    assert all(g["status"] in ("PASS", "MISS", "SKIPPED") for g in goals)
    for g in goals:
        assert g["status"] == "SKIPPED" or g["numbers"], g


def test_quick_benchmark_reports_every_number(tmp_path: Path, redis_url: str) -> None:
    report, stdout = _run(tmp_path, "-m", "benchmarks", extra=("--redis-url", redis_url))
    _check_report(report, tuple(EVERY), uvloop=_has("uvloop"))
    results = report["results"]
    assert ("d_py3cw" in results["cancel"]["variants"]) is _has("py3cw")
    decoders = results["decode"]["variants"]
    assert ("pydantic_v2" in decoders) is _has("pydantic")
    if "pydantic_v2" in decoders:
        assert decoders["pydantic_v2"]["us_per_decode"] > 0
    assert len(report["goals"]) == sum(goals for goals, _ in EVERY.values())
    if not all(_has(m) for m in EXTRAS):
        assert SKIPPED in stdout or "uvloop is not installed" in stdout
    for line in ("CPU µs/cancel", *(line for _, line in EVERY.values()), "Goals", "JSON report"):
        assert line in stdout


def test_quick_benchmark_without_bench_extras(tmp_path: Path) -> None:
    if not any(_has(m) for m in EXTRAS):
        pytest.skip("no bench extra is installed: the other test already ran without them")
    sections = ("cancel", "loop_lag", "decode")
    report, stdout = _run(tmp_path, "-c", _WITHOUT_EXTRAS, extra=("--only", ",".join(sections)))
    _check_report(report, sections, uvloop=False)
    assert "d_py3cw" in report["results"]["cancel"]["skipped"]
    assert "pydantic_v2" in report["results"]["decode"]["skipped"]
    assert [g["status"] for g in report["goals"]] == [report["goals"][0]["status"], "SKIPPED"]
    assert stdout.count(SKIPPED) >= 3  # the py3cw row, the pydantic row, the py3cw goal
    assert stdout.count("uvloop rows skipped: uvloop is not installed") == 2  # cancel and lag


def test_rounds_keep_the_least_disturbed_attempt_and_rotate() -> None:
    from benchmarks._rounds import run_rounds
    from benchmarks._run import Run

    # (client busy, server busy) of each successive run of each item; wall 1 s, so CPU s = busy.
    plan = {"x": [(0.5, 0.4), (0.8, 0.5), (0.6, 0.3), (1.0, 0.7)], "y": [(0.99, 0.6), (0.2, 0.95)]}
    order: list[str] = []

    def measure(item: str) -> Run:
        order.append(item)
        client, server = plan[item].pop(0)
        return Run(10, 10, 1.0, client, 0, 0, server)

    x, y = run_rounds(["x", "y"], rounds=2, retries=2, contended_below=0.9, measure=measure, label=str)
    assert order == ["x", "x", "x", "y", "y", "x"]  # round 2 starts with y
    assert [(a.round, a.attempt, a.contended, a.kept) for a in x] == [
        (1, 1, True, False),
        (1, 2, True, True),  # all three disturbed: the busiest side was busiest here
        (1, 3, True, False),
        (2, 1, False, True),
    ]
    assert [(a.round, a.contended, a.kept) for a in y] == [(1, False, True), (2, False, True)]
