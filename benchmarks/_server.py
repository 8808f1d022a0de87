"""``python -m benchmarks._server [--cpu N]``: the fake 3Commas server of the benchmarks, in its own process.

A ``FakeThreeCommas`` with rate limiting off, the traffic record off and ``cancel_delay=None`` (a cancelled
trade stays ``cancellation_pending``, so the server does no timed work during a run), driven by one JSON
command per line on stdin, answering one JSON line on stdout:

- (at start) ``{"base_url", "api_key", "api_secret", "pid", "cpu"}``
- ``{"op": "seed", "n": N}`` -> ``{"ids": [...]}``
- ``{"op": "stats"}`` -> ``{"requests", "by_status", "by_route"}``
- ``{"op": "statuses", "ids": [...]}`` -> ``{"statuses": {status: count}}``
- ``{"op": "quit"}`` (or end of input) -> stops.

Commands are only sent between measurements, never during one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import Counter
from typing import Any

from threecommas_async.testing import FakeThreeCommas

from ._common import pin


def _reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _handle(server: FakeThreeCommas, cmd: dict[str, Any]) -> dict[str, Any]:
    op = cmd.get("op")
    if op == "seed":
        return {"ids": server.seed_trades(int(cmd["n"]))}
    if op == "stats":
        stats = server.stats
        return {
            "requests": stats.requests,
            "by_status": {str(k): v for k, v in stats.by_status.items()},
            "by_route": dict(stats.by_route),
        }
    if op == "statuses":
        counts: Counter[str] = Counter()
        for tid in cmd["ids"]:
            try:
                counts[server.trade_status(int(tid))] += 1
            except KeyError:
                counts["unknown"] += 1
        return {"statuses": dict(counts)}
    return {"error": f"unknown op {op!r}"}


async def _serve(cpu: int | None) -> None:
    pinned = pin(cpu)
    server = FakeThreeCommas(rate_limit=None, record_requests=False, cancel_delay=None)
    loop = asyncio.get_running_loop()
    async with server:
        _reply(
            {
                "base_url": server.base_url,
                "api_key": server.api_key,
                "api_secret": server.api_secret,
                "pid": os.getpid(),
                "cpu": cpu if pinned else None,
            }
        )
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            cmd = json.loads(line)
            if cmd.get("op") == "quit":
                _reply({"ok": True})
                break
            _reply(_handle(server, cmd))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks._server")
    p.add_argument("--cpu", type=int, default=None, help="pin the server to this CPU")
    args = p.parse_args(argv)
    asyncio.run(_serve(args.cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
