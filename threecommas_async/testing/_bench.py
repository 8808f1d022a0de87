"""Throughput of the fake for DELETE cancels, measured from a separate process.

``python -m threecommas_async.testing._bench [--requests 40000] [--concurrency 64] [--client raw|aiohttp]``

Starts the fake in a child process pinned to CPU 0 (:class:`~._process.FakeProcess`; rate limit off,
traffic record on, trades seeded), pins itself to CPU 1, and cancels every seeded trade once over
``concurrency`` keep-alive connections. ``raw`` sends pre-signed
HTTP/1.1 requests on asyncio streams (a load generator light enough that the server is the bottleneck);
``aiohttp`` uses an ``aiohttp.ClientSession`` with the SDK's ``SigningMiddleware``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

from threecommas_async._signing import HMACSigner, SigningMiddleware, signed_message

from ._process import FakeProcess, pin_cpu


async def _raw(host: str, port: int, key: str, secret: str, ids: list[int], concurrency: int) -> Counter[int]:
    signer = HMACSigner(secret)
    requests = []
    for tid in ids:
        path = f"/public/api/v2/smart_trades/{tid}"
        sig = signer.sign(signed_message("hmac", path, "", None))
        requests.append(
            f"DELETE {path} HTTP/1.1\r\nHost: {host}:{port}\r\nApikey: {key}\r\nSignature: {sig}\r\n"
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


async def _aiohttp(base_url: str, key: str, secret: str, ids: list[int], concurrency: int) -> Counter[int]:
    import aiohttp

    statuses: Counter[int] = Counter()
    it = iter(ids)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        connector=connector, middlewares=(SigningMiddleware(key, api_secret=secret, base_url=base_url),)
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

    with FakeProcess(
        cpu=args.server_cpu, rate_limit=None, cancel_delay=0, record_requests=not args.no_record
    ) as fake:
        ids = fake.seed_trades(args.requests)
        pin_cpu(args.client_cpu)
        url = urlsplit(fake.base_url)
        assert url.hostname is not None and url.port is not None
        t0 = time.perf_counter()
        if args.client == "raw":
            statuses = asyncio.run(
                _raw(url.hostname, url.port, fake.api_key, fake.api_secret, ids, args.concurrency)
            )
        else:
            statuses = asyncio.run(
                _aiohttp(fake.base_url, fake.api_key, fake.api_secret, ids, args.concurrency)
            )
        elapsed = time.perf_counter() - t0
    total = sum(statuses.values())
    print(
        f"{total} DELETE cancels in {elapsed:.2f} s = {total / elapsed:,.0f} requests/s "
        f"(client={args.client}, concurrency={args.concurrency}, statuses={dict(statuses)})"
    )
    return 0 if statuses.get(200, 0) == total else 1


if __name__ == "__main__":
    sys.exit(main())
