"""``python -m benchmarks._rss``: one fresh process that runs only ``cancel_many`` over many ids.

Reads ``{"base_url", "api_key", "api_secret", "ids", "concurrency", "cpu"}`` as one JSON line on stdin and
prints ``{"ids", "cancelled", "baseline_rss_mb", "peak_rss_mb", "rss_before_mb", "rss_after_mb", "wall_s",
"cpu_s"}``. ``baseline_rss_mb`` is
the peak RSS after imports and client creation, before the first request; ``peak_rss_mb`` the peak of the
whole process once every result has been consumed (``peak_rss_source``: ``VmHWM`` on Linux, else
``getrusage(RUSAGE_SELF).ru_maxrss``); ``rss_before_mb``
and ``rss_after_mb`` the current RSS (Linux only, else null) just before the first and after the last
result. Results are consumed as they stream in and kept only as a count, as a bot would.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from threecommas_async import ThreeCommasClient
from threecommas_async.testing._process import pin_cpu

from ._common import PENDING, current_rss_mb, peak_rss_mb


async def _run(cfg: dict[str, Any]) -> dict[str, Any]:
    ids: list[int] = [int(i) for i in cfg["ids"]]
    given = set(ids)
    async with ThreeCommasClient(
        cfg["api_key"], cfg["api_secret"], base_url=cfg["base_url"], rate_limit=None
    ) as client:
        baseline, _ = peak_rss_mb()
        rss_before = current_rss_mb()
        cancelled = 0
        t0 = time.perf_counter()
        c0 = time.process_time()
        async for result in client.smart_trades.cancel_many(ids, concurrency=int(cfg["concurrency"])):
            trade = result.trade
            if (
                result.ok
                and not result.already_final
                and result.id in given
                and trade is not None
                and trade.id == result.id
                and trade.status is not None
                and trade.status.type == PENDING
            ):
                given.discard(result.id)  # each id counts once
                cancelled += 1
        c1 = time.process_time()
        t1 = time.perf_counter()
        rss_after = current_rss_mb()
    peak, source = peak_rss_mb()
    return {
        "ids": len(ids),
        "cancelled": cancelled,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak,
        "peak_rss_source": source,
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
        "wall_s": t1 - t0,
        "cpu_s": c1 - c0,
    }


def main() -> int:
    cfg = json.loads(sys.stdin.readline())
    pin_cpu(cfg.get("cpu"))
    print(json.dumps(asyncio.run(_run(cfg))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
