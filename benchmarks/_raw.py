"""(f) The raw-protocol floor: the least a Python client on asyncio can do for the same signed DELETE.

``concurrency`` keep-alive HTTP/1.1 connections, each an ``asyncio.Protocol`` with one request in
flight at a time; a worker per connection pulls ids from one shared iterator, signs the path with
``hmac`` as (b) and (c) do, writes the request bytes, and waits for the answer: the status from the
status line, the body by ``Content-Length`` (the fake always sends it), decoded by the SDK's msgspec
decoder into a ``SmartTrade``. No header parsing beyond that, no pool, no timeouts, no retries: the
physical reference line every other variant is compared with.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import cast
from urllib.parse import urlsplit

from ._common import PENDING
from ._run import Drive, Target

_HEAD_END = b"\r\n\r\n"
_LENGTH = b"\r\ncontent-length:"


class _Connection(asyncio.Protocol):
    """One keep-alive connection: :meth:`request` writes one request and waits for its whole answer."""

    __slots__ = ("_body_at", "_buffer", "_length", "_status", "_transport", "_waiter")

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._status = 0
        self._body_at = -1  # where the body starts in the buffer, once the head is complete
        self._length = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass, but is one

    def data_received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        if self._body_at < 0:
            end = buf.find(_HEAD_END)
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            at = head.find(_LENGTH)
            if at < 0:
                self._fail(ConnectionError("answer without Content-Length"))
                return
            start = at + len(_LENGTH)
            stop = head.find(b"\r", start)
            self._status = int(head[9:12])
            self._length = int(head[start : stop if stop >= 0 else len(head)])
            self._body_at = end + len(_HEAD_END)
        stop = self._body_at + self._length
        if len(buf) < stop:
            return
        body = bytes(buf[self._body_at : stop])
        del buf[:stop]
        self._body_at = -1
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self._status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("the server closed the connection"))

    def _fail(self, exc: BaseException) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def request(self, data: bytes) -> tuple[int, bytes]:
        assert self._transport is not None
        waiter: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self._transport.write(data)
        return await waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


@asynccontextmanager
async def raw_protocol(target: Target, concurrency: int) -> AsyncIterator[Drive]:
    from threecommas_async.models._decoders import SMART_TRADE_DECODER

    decode = SMART_TRADE_DECODER.decode
    url = urlsplit(target.base_url)
    assert url.hostname is not None and url.port is not None
    secret = target.api_secret.encode()
    base = target.prefix + "/v2/smart_trades/"
    sha256 = hashlib.sha256
    tail = f" HTTP/1.1\r\nHost: {url.netloc}\r\nApikey: {target.api_key}\r\nSignature: "
    loop = asyncio.get_running_loop()
    connections: list[_Connection] = []
    try:
        for _ in range(concurrency):
            _, conn = await loop.create_connection(_Connection, url.hostname, url.port)
            connections.append(conn)

        async def worker(conn: _Connection, it: Iterator[int]) -> int:
            ok = 0
            for tid in it:
                path = f"{base}{tid}"
                signature = hmac.new(secret, path.encode(), sha256).hexdigest()
                status, body = await conn.request(f"DELETE {path}{tail}{signature}\r\n\r\n".encode())
                if status != 200:
                    continue
                trade = decode(body)
                if trade.id == tid and trade.status is not None and trade.status.type == PENDING:
                    ok += 1
            return ok

        async def drive(ids: Sequence[int]) -> int:
            it = iter(ids)
            return sum(await asyncio.gather(*(worker(conn, it) for conn in connections)))

        yield drive
    finally:
        for conn in connections:
            conn.close()
