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
import contextlib
import json
import os
import subprocess
import sys
from collections import Counter
from types import TracebackType
from typing import Any, Self

from threecommas_async.testing import FakeThreeCommas

from ._common import ROOT, pin
from ._variants import Target


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks._server")
    p.add_argument("--cpu", type=int, default=None, help="pin the server to this CPU")
    args = p.parse_args(argv)
    asyncio.run(_serve(args.cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
