"""Throughput of the fake for DELETE cancels, measured from a separate process.

``python -m threecommas_async.testing._bench [--requests 40000] [--concurrency 64] [--client raw|aiohttp]``

Starts ``python -m threecommas_async.testing`` pinned to CPU 0 (``taskset``-like, via
``os.sched_setaffinity``; rate limit off, traffic record on, trades seeded), pins itself to CPU 1, and
cancels every seeded trade once over ``concurrency`` keep-alive connections. ``raw`` sends pre-signed
HTTP/1.1 requests on asyncio streams (a load generator light enough that the server is the bottleneck);
``aiohttp`` uses an ``aiohttp.ClientSession`` with the SDK's ``SigningMiddleware``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections import Counter

from threecommas_async._signing import HMACSigner, SigningMiddleware, signed_message

KEY = "bench-key"
SECRET = "bench-secret-0123456789"


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


async def _raw(host: str, port: int, ids: list[int], concurrency: int) -> Counter[int]:
    signer = HMACSigner(SECRET)
    requests = []
    for tid in ids:
        path = f"/public/api/v2/smart_trades/{tid}"
        sig = signer.sign(signed_message("hmac", path, "", None))
        requests.append(
            f"DELETE {path} HTTP/1.1\r\nHost: {host}:{port}\r\nApikey: {KEY}\r\nSignature: {sig}\r\n"
            "Content-Length: 0\r\n\r\n".encode()
        )
    statuses: Counter[int] = Counter()
    it = iter(requests)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        for req in it:
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            statuses[status] += 1
        writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


async def _aiohttp(base_url: str, ids: list[int], concurrency: int) -> Counter[int]:
    import aiohttp

    statuses: Counter[int] = Counter()
    it = iter(ids)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        connector=connector, middlewares=(SigningMiddleware(KEY, api_secret=SECRET, base_url=base_url),)
    ) as session:

        async def worker() -> None:
            for tid in it:
                async with session.delete(f"{base_url}/v2/smart_trades/{tid}") as resp:
                    await resp.read()
                    statuses[resp.status] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m threecommas_async.testing._bench")
    p.add_argument("--requests", type=int, default=40_000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--client", choices=("raw", "aiohttp"), default="raw")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--no-record", action="store_true", help="turn the server's traffic record off")
    args = p.parse_args(argv)

    cmd = [
        sys.executable,
        "-m",
        "threecommas_async.testing",
        "--no-rate-limit",
        "--cancel-delay",
        "0",
        "--api-key",
        KEY,
        "--api-secret",
        SECRET,
        "--seed-trades",
        str(args.requests),
    ]
    if not args.no_record:
        cmd.append("--record")
    server_cpu = args.server_cpu
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: _pin(server_cpu)) if hasattr(os, "sched_setaffinity") else None,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        first_id = last_id = 0
        for line in proc.stdout:
            if line.startswith("seeded trade ids:"):
                first, _, last = line.split(":", 1)[1].strip().partition("..")
                first_id, last_id = int(first), int(last)
            if line.startswith("serving"):
                break
        ids = list(range(first_id, last_id + 1))
        _pin(args.client_cpu)
        hostport = base_url.split("//", 1)[1].split("/", 1)[0]
        host, _, port = hostport.rpartition(":")
        t0 = time.perf_counter()
        if args.client == "raw":
            statuses = asyncio.run(_raw(host, int(port), ids, args.concurrency))
        else:
            statuses = asyncio.run(_aiohttp(base_url, ids, args.concurrency))
        elapsed = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(10)
    total = sum(statuses.values())
    print(
        f"{total} DELETE cancels in {elapsed:.2f} s = {total / elapsed:,.0f} requests/s "
        f"(client={args.client}, concurrency={args.concurrency}, statuses={dict(statuses)})"
    )
    return 0 if statuses.get(200, 0) == total else 1


if __name__ == "__main__":
    sys.exit(main())
