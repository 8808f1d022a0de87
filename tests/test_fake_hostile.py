"""FakeThreeCommas hostile answers: any status, body and headers; deep JSON; gzip bombs; endless; hang."""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from threecommas_async._signing import SigningMiddleware
from threecommas_async.testing import FakeThreeCommas, ManualClock, RateLimitRule, RateLimits

pytestmark = [pytest.mark.integration, pytest.mark.fake_3commas(rate_limit=None, cancel_delay=0)]

JSON = "application/json; charset=utf-8"


def signed(server: FakeThreeCommas, **kwargs: Any) -> aiohttp.ClientSession:
    mw = SigningMiddleware(server.api_key, api_secret=server.api_secret, base_url=server.base_url)
    return aiohttp.ClientSession(middlewares=(mw,), **kwargs)


@pytest.fixture
async def http(fake_3commas: FakeThreeCommas) -> AsyncIterator[aiohttp.ClientSession]:
    async with signed(fake_3commas) as session:
        yield session


def trade_url(server: FakeThreeCommas, tid: int) -> str:
    return f"{server.base_url}/v2/smart_trades/{tid}"


async def wait_for(condition: Any) -> None:
    """Until ``condition()`` holds: the server side of a request runs on the same loop as the test."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never held")


# --------------------------------------------------------------------------------------------- respond


async def test_respond_answers_a_processed_cancel_with_another_trade(
    fake_3commas: FakeThreeCommas, http: aiohttp.ClientSession
) -> None:
    tid = fake_3commas.add_trade()
    fake_3commas.faults.add("respond", route="cancel", process=True, body=lambda t: {**t, "id": 999})
    async with http.delete(trade_url(fake_3commas, tid)) as resp:
        assert resp.status == 200  # the processed status
        assert resp.content_type == "application/json"
        body = await resp.json()
    assert body["id"] == 999
    assert body["status"]["type"] == "cancellation_pending"  # the real answer, but for another id
    assert fake_3commas.trade_status(tid) == "cancelled"
    assert fake_3commas.requests[0].fault == "respond"
    assert fake_3commas.requests[0].status == 200


@pytest.mark.parametrize(
    ("options", "status", "raw", "content_type"),
    [
        ({"body": {}}, 200, b"{}", JSON),
        ({"status": 400, "body": {"error": "Not found"}}, 400, b'{"error":"Not found"}', JSON),
        ({"status": 204}, 204, b"", None),
        ({"body": b"<b>hi</b>", "headers": [("Content-Type", "text/html")]}, 200, b"<b>hi</b>", "text/html"),
        ({"status": 502, "body": b"not json"}, 502, b"not json", JSON),
    ],
)
async def test_respond_without_processing(
    fake_3commas: FakeThreeCommas,
    http: aiohttp.ClientSession,
    options: dict[str, Any],
    status: int,
    raw: bytes,
    content_type: str | None,
) -> None:
    tid = fake_3commas.add_trade()
    fake_3commas.faults.add("respond", route="cancel", **options)
    async with http.delete(trade_url(fake_3commas, tid)) as resp:
        assert resp.status == status
        assert await resp.read() == raw
        assert resp.headers.get("Content-Type") == content_type
    assert fake_3commas.trade_status(tid) == "waiting_targets"  # not processed
    assert fake_3commas.stats.count(status) == 1


async def test_respond_with_the_trade_unchanged(
    fake_3commas: FakeThreeCommas, http: aiohttp.ClientSession
) -> None:
    tid = fake_3commas.add_trade()
    fake_3commas.faults.add("respond", route="cancel", body=fake_3commas.get_trade(tid))
    async with http.delete(trade_url(fake_3commas, tid)) as resp:
        assert resp.status == 200
        assert (await resp.json())["status"]["type"] == "waiting_targets"
    assert fake_3commas.trade_status(tid) == "waiting_targets"


async def test_respond_204_after_processing(
    fake_3commas: FakeThreeCommas, http: aiohttp.ClientSession
) -> None:
    tid = fake_3commas.add_trade()
    fake_3commas.faults.add("respond", route="cancel", status=204, body=b"", process=True)
    async with http.delete(trade_url(fake_3commas, tid)) as resp:
        assert (resp.status, await resp.read()) == (204, b"")
    assert fake_3commas.trade_status(tid) == "cancelled"  # the older specs' answer to a cancel


@pytest.mark.parametrize(
    "values",
    [
        ["0"],
        ["-5"],
        ["Wed, 21 Oct 2015 07:28:00 GMT"],
        ["1e308"],
        ["Fri, 31 Dec 9999 23:59:59 GMT"],
        ["1", "300"],
    ],
)
async def test_respond_429_with_hostile_retry_after_still_blocks(values: list[str]) -> None:
    clock = ManualClock()
    limits = RateLimits(global_rule=RateLimitRule(100, 60.0, 30.0), list_rule=None, ban_grace=0.5)
    async with FakeThreeCommas(rate_limit=limits, clock=clock) as server, signed(server) as http:
        url = f"{server.base_url}/v2/smart_trades"
        server.faults.add("respond", status=429, headers=[("Retry-After", v) for v in values])
        async with http.get(url) as resp:
            assert resp.status == 429
            assert resp.headers.getall("Retry-After") == values  # as given, in order, duplicates kept
            assert await resp.read() == b""
        async with http.get(url) as resp:  # within the grace: the block's own 429
            assert resp.status == 429
            assert (await resp.json())["error"] == "rate_limit_exceeded"
        clock.advance(0.5)
        async with http.get(url) as resp:  # the block is the global rule's 30 s, whatever the header said
            assert resp.status == 418
        assert server.stats.key(server.api_key).status_429 == 2


async def test_respond_429_with_block_0_blocks_nothing() -> None:
    async with FakeThreeCommas(rate_limit=RateLimits(ban_grace=0)) as server, signed(server) as http:
        url = f"{server.base_url}/v2/smart_trades"
        server.faults.add("respond", status=429, headers=[("Retry-After", "0")], block=0)
        async with http.get(url) as resp:
            assert resp.status == 429
        async with http.get(url) as resp:
            assert resp.status == 200


# ------------------------------------------------------------------------------------------- deep_json


async def test_deep_json_after_processing_nests_inside_the_real_answer(
    fake_3commas: FakeThreeCommas, http: aiohttp.ClientSession
) -> None:
    tid = fake_3commas.add_trade()
    fake_3commas.faults.add("deep_json", route="cancel")
    async with http.delete(trade_url(fake_3commas, tid)) as resp:
        assert resp.status == 200
        raw = await resp.read()
    assert raw.endswith(b',"x":' + b"[" * 1000 + b"]" * 1000 + b"}")
    assert raw.startswith(b'{"id":%d,' % tid)
    assert fake_3commas.trade_status(tid) == "cancelled"


@pytest.mark.parametrize("process", [False, True])
async def test_deep_json_small_depth_parses(
    fake_3commas: FakeThreeCommas, http: aiohttp.ClientSession, process: bool
) -> None:
    tid = fake_3commas.add_trade()
    fake_3commas.faults.add("deep_json", depth=4, process=process, status=201)
    async with http.delete(trade_url(fake_3commas, tid)) as resp:
        assert resp.status == 201
        doc = await resp.json()
    assert doc["x"] == [[[[]]]]
    assert doc["id"] == tid
    assert ("status" in doc) is process
    assert fake_3commas.trade_status(tid) == ("cancelled" if process else "waiting_targets")


async def test_deep_json_in_a_list_answer(fake_3commas: FakeThreeCommas, http: aiohttp.ClientSession) -> None:
    ids = fake_3commas.seed_trades(2)
    fake_3commas.faults.add("deep_json", route="list", depth=3, times=2)
    async with http.get(f"{fake_3commas.base_url}/v2/smart_trades") as resp:
        got = await resp.json()
    assert [t["id"] for t in got[:2]] == ids[::-1]
    assert got[2] == [[[]]]
    fake_3commas.reset()
    fake_3commas.faults.add("deep_json", route="list", depth=3)
    async with http.get(f"{fake_3commas.base_url}/v2/smart_trades") as resp:
        assert await resp.json() == [[[[]]]]  # an empty page


# ------------------------------------------------------------------------------------------- gzip_bomb


async def test_gzip_bomb_is_small_on_the_wire_and_huge_inflated(fake_3commas: FakeThreeCommas) -> None:
    tid = fake_3commas.add_trade()
    fake_3commas.faults.add("gzip_bomb", route="cancel")
    async with (
        signed(fake_3commas, auto_decompress=False) as raw_http,
        raw_http.delete(trade_url(fake_3commas, tid)) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Encoding"] == "gzip"
        assert resp.content_type == "application/json"
        wire = await resp.read()
    assert 2 << 20 <= len(wire) < (2 << 20) + (100 << 10)  # ~2 MiB
    inflater = zlib.decompressobj(31)
    head = inflater.decompress(wire, 1 << 20)  # inflate only the first MiB
    assert head == bytes(1 << 20)
    _, isize = struct.unpack("<II", wire[-8:])
    assert isize == (2 << 30) & 0xFFFFFFFF  # the gzip trailer: what it inflates to
    assert fake_3commas.trade_status(tid) == "waiting_targets"  # not processed by default


async def test_gzip_bomb_of_a_given_size_inflates_exactly(
    fake_3commas: FakeThreeCommas, http: aiohttp.ClientSession
) -> None:
    tid = fake_3commas.add_trade()
    size = (3 << 20) + 123
    fake_3commas.faults.add("gzip_bomb", size=size, process=True)
    async with http.delete(trade_url(fake_3commas, tid)) as resp:
        assert await resp.read() == bytes(size)  # a valid gzip stream: checksum and length verified
    assert fake_3commas.trade_status(tid) == "cancelled"


# ------------------------------------------------------------------------------------- endless and hang


async def test_endless_body_until_the_client_goes_away(
    fake_3commas: FakeThreeCommas, http: aiohttp.ClientSession
) -> None:
    tid = fake_3commas.add_trade()
    fake_3commas.faults.add("endless", route="get")
    read = 0
    async with http.get(trade_url(fake_3commas, tid)) as resp:
        assert resp.status == 200
        assert resp.headers["Transfer-Encoding"] == "chunked"
        first = await resp.content.readexactly(64)
        async for chunk in resp.content.iter_any():
            read += len(chunk)
            if read > 4 << 20:
                break
    assert first.startswith(b'[{"id": 0,')
    await wait_for(lambda: not fake_3commas._lingerers)  # the server stopped writing
    assert fake_3commas.stats.dropped == 1
    assert fake_3commas.requests[0].status is None


async def test_endless_with_a_delay_trickles(
    fake_3commas: FakeThreeCommas, http: aiohttp.ClientSession
) -> None:
    fake_3commas.faults.add("endless", delay=10.0)
    timeout = aiohttp.ClientTimeout(sock_read=0.1)
    async with http.get(f"{fake_3commas.base_url}/v2/smart_trades", timeout=timeout) as resp:
        assert await resp.content.readexactly(1) == b"["
        await resp.content.readexactly(len(b'{"id": 0, "status": {"type": "waiting_targets"}}, ') * 256)
        with pytest.raises(TimeoutError):
            await resp.content.readexactly(1)  # the next chunk is 10 s away


@pytest.mark.parametrize("process", [False, True])
async def test_hang_never_answers_until_the_client_leaves(
    fake_3commas: FakeThreeCommas, process: bool
) -> None:
    tid = fake_3commas.add_trade()
    fake_3commas.faults.add("hang", route="cancel", process=process)
    async with signed(fake_3commas, timeout=aiohttp.ClientTimeout(total=0.1)) as http:
        with pytest.raises(TimeoutError):
            async with http.delete(trade_url(fake_3commas, tid)):
                pass
    assert fake_3commas.trade_status(tid) == ("cancelled" if process else "waiting_targets")
    await wait_for(lambda: not fake_3commas._lingerers)
    assert fake_3commas.stats.dropped == 1
    assert fake_3commas.requests[0].status is None


async def test_stop_does_not_wait_for_hanging_or_endless_requests() -> None:
    server = FakeThreeCommas(rate_limit=None)
    server._shutdown_timeout = 60.0  # what stop() would wait for them, were they not cancelled
    await server.start()
    server.faults.add("hang", route="create")
    server.faults.add("endless", route="list")
    async with signed(server) as http:
        hanging = asyncio.create_task(http.post(f"{server.base_url}/v2/smart_trades", json={}))
        endless = await http.get(f"{server.base_url}/v2/smart_trades")
        await endless.content.readexactly(1)
        await wait_for(lambda: len(server._lingerers) == 2)
        await asyncio.wait_for(server.stop(), 10.0)
        assert not server._lingerers
        with pytest.raises(aiohttp.ClientError):  # POST: never re-sent by aiohttp
            await hanging
        with pytest.raises(aiohttp.ClientError):
            await endless.read()
        endless.release()


# ------------------------------------------------------------------------------------- random and checks


async def test_random_mix_of_hostile_kinds(fake_3commas: FakeThreeCommas) -> None:
    fake_3commas.faults.random(
        1.0, kinds=["deep_json", "respond", "gzip_bomb", "hang"], depth=3, status=202, size=10, seed=5
    )
    seen: dict[str, int] = {}
    async with signed(fake_3commas, timeout=aiohttp.ClientTimeout(total=0.1)) as http:
        for _ in range(12):
            try:
                async with http.get(f"{fake_3commas.base_url}/v2/smart_trades") as resp:
                    body = await resp.read()
                    kind = fake_3commas.requests[-1].fault
                    assert kind is not None
                    seen[kind] = seen.get(kind, 0) + 1
                    assert resp.status == 202
                    expected = {"deep_json": b"[[[[]]]]", "respond": b"", "gzip_bomb": bytes(10)}[kind]
                    assert body == expected
            except TimeoutError:
                assert fake_3commas.requests[-1].fault == "hang"
                seen["hang"] = seen.get("hang", 0) + 1
    assert set(seen) == {"deep_json", "respond", "gzip_bomb", "hang"}
    assert fake_3commas.stats.faults == seen


def test_options_are_checked_against_the_kinds() -> None:
    faults = FakeThreeCommas().faults
    with pytest.raises(ValueError, match="process applies to"):
        faults.add("http_503", process=True)
    with pytest.raises(ValueError, match="status applies to"):
        faults.add("reset_before", status=500)
    with pytest.raises(ValueError, match="depth applies to"):
        faults.random(0.5, kinds=["http_503", "hang"], depth=3)
    with pytest.raises(TypeError, match="unknown fault option"):
        faults.random(0.5, kinds=["hang"], dept=3)
    with pytest.raises(ValueError, match="needs process=True"):
        faults.add("respond", body=lambda t: t)
    with pytest.raises(ValueError, match="status must be"):
        faults.add("respond", status=99)
    with pytest.raises(TypeError, match="pairs"):
        faults.add("respond", headers={"Retry-After": "1"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="header name"):
        faults.add("respond", headers=[("Retry After", "1")])
    with pytest.raises(ValueError, match="line break"):
        faults.add("respond", headers=[("X", "1\r\nSet-Cookie: a=b")])
    with pytest.raises(ValueError, match="depth"):
        faults.add("deep_json", depth=0)
    with pytest.raises(ValueError, match="size"):
        faults.add("gzip_bomb", size=-1)
    assert faults.rules == []
    rule = faults.add("respond", status=429, headers=[("Retry-After", "1"), ("Retry-After", "2")])
    assert rule.headers == (("Retry-After", "1"), ("Retry-After", "2"))
    assert not rule.processes and faults.add("deep_json").processes
