"""The hardening issue's list, one section per defect, each test failing without its fix: nothing lost,
nothing doubled, nothing leaked, never a ban. A hostile server on loopback plays each answer."""

from __future__ import annotations

import asyncio
import gzip
import pickle
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

import threecommas_async
from threecommas_async import (
    ClientClosedError,
    EventLoopMismatchError,
    IPBannedError,
    NotFoundError,
    RateLimit,
    RateLimitError,
    ResponseDecodeError,
    ResponseTooLargeError,
    RetryPolicy,
    ThreeCommasClient,
    ThreeCommasError,
)
from threecommas_async._errors import error_from_response, parse_retry_after
from threecommas_async._transport import RESEND_SWITCH

from ._loopback import serve
from .conftest import fixture_bytes

pytestmark = [pytest.mark.integration, pytest.mark.virtual_clock]

SEED = fixture_bytes("cancel_smart_trade_200.json")
KEY = "fault-matrix-key"
SECRET = "fault-matrix-secret-" + "s" * 44
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def trade(id: int, status: str = "cancellation_pending") -> bytes:
    body = SEED.replace(b'"id": 30404547,', b'"id": %d,' % id, 1)
    return body.replace(b'"type": "cancellation_pending"', f'"type": "{status}"'.encode()).replace(
        b'"basic_type": "cancellation_pending"', f'"basic_type": "{status}"'.encode()
    )


def json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


@dataclass
class Hostile:
    """A loopback server whose ``handler`` decides every answer; it counts what reached it."""

    base_url: str = ""
    handler: Handler | None = None
    hits: list[tuple[str, str]] = field(default_factory=list)

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.hits if m == method)

    def client(self, **kw: Any) -> ThreeCommasClient:
        kw.setdefault("retry", RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.002))
        return ThreeCommasClient(KEY, SECRET, base_url=self.base_url, **kw)


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    state = Hostile()

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        state.hits.append((request.method, request.path))
        assert state.handler is not None
        return await state.handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner, state.base_url = await serve(app, handler_cancellation=True)
    yield state
    await runner.cleanup()


def path_id(request: web.Request) -> int:
    return int(request.path.rstrip("/").rsplit("/", 1)[-1])


# -- 1. a deeply nested answer -------------------------------------------------------------------------
DEEP = b'{"id":57,"x":' + b"[" * 1000 + b"]" * 1000 + b"}"


@pytest.mark.parametrize("status", [200, 404, 503])
async def test_01_a_deeply_nested_answer_is_an_sdk_error_whatever_its_status(
    hostile: Hostile, status: int
) -> None:
    async def deep(request: web.Request) -> web.StreamResponse:
        return json_response(DEEP, status)

    hostile.handler = deep
    async with hostile.client(retry=None) as client:
        with pytest.raises(ThreeCommasError) as info:
            await client.smart_trades.get(57)
    assert isinstance(info.value, ResponseDecodeError) == (status == 200)


async def test_01_cancel_many_yields_one_result_per_id_whatever_the_answers_hold(hostile: Hostile) -> None:
    async def mixed(request: web.Request) -> web.StreamResponse:
        id = path_id(request)
        if id % 3 == 0:
            return json_response(DEEP)
        return json_response(trade(id, "cancellation_pending" if request.method == "DELETE" else "cancelled"))

    hostile.handler = mixed
    ids = list(range(1, 201))
    async with hostile.client() as client:
        results = {r.id: r async for r in client.smart_trades.cancel_many(ids, concurrency=16)}
    assert sorted(results) == ids
    for id, result in results.items():
        assert result.ok == (id % 3 != 0), result
        if id % 3 == 0:
            assert isinstance(result.error, ThreeCommasError)


# -- 2. no cap on the size of an answer ----------------------------------------------------------------
async def test_02_a_gzip_bomb_is_refused_naming_the_limit(hostile: Hostile) -> None:
    bomb = gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9)  # 64 MiB inflated from ~64 KiB

    async def gzipped(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    hostile.handler = gzipped
    async with hostile.client(retry=None, max_response_size=1024 * 1024) as client:
        with pytest.raises(ResponseTooLargeError) as info:
            await client.smart_trades.get(1)
    assert info.value.limit == 1024 * 1024
    assert "max_response_size=1,048,576" in str(info.value)


async def test_02_an_endless_stream_is_cut_at_the_limit(hostile: Hostile) -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"id": 1, "note": "')
        chunk = b"x" * 65536
        while True:
            await response.write(chunk)

    hostile.handler = endless
    async with hostile.client(retry=None, max_response_size=2 * 1024 * 1024) as client:
        with pytest.raises(ResponseTooLargeError):
            await client.smart_trades.get(1)


# -- 3. Retry-After that switches the pause off -------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["0"], None),
        (["-5"], None),
        (["Wed, 21 Oct 2015 07:28:00 GMT"], None),  # in the past
        (["nan"], None),
        (["0", "300"], 300.0),  # duplicates: the largest
        (["12", "soon", "3"], 12.0),
    ],
)
def test_03_retry_after_that_is_not_a_positive_wait_means_not_given(
    values: list[str], expected: float | None
) -> None:
    assert parse_retry_after(values) == expected


async def test_03_a_zero_retry_after_still_pauses_for_the_configured_cool_down(hostile: Hostile) -> None:
    async def throttled(request: web.Request) -> web.StreamResponse:
        return json_response(b'{"error":"rate_limit"}', 429, {"Retry-After": "0"})

    hostile.handler = throttled
    async with hostile.client(rate_limit=RateLimit(max_wait=5.0)) as client:
        with pytest.raises(RateLimitError) as info:
            await client.smart_trades.get(1)
        assert info.value.retry_after == 300.0  # the configured cool-down, not 0
        with pytest.raises(RateLimitError):
            await client.smart_trades.cancel(2)  # refused without sending
    assert len(hostile.hits) == 1


async def test_03_a_418_without_a_usable_retry_after_bans_for_the_configured_time(hostile: Hostile) -> None:
    async def banned(request: web.Request) -> web.StreamResponse:
        return json_response(b'{"error":"banned"}', 418, {"Retry-After": "-1"})

    hostile.handler = banned
    async with hostile.client() as client:
        with pytest.raises(IPBannedError) as info:
            await client.smart_trades.get(1)
        assert info.value.retry_after == 120.0
        await asyncio.sleep(60)
        with pytest.raises(IPBannedError):
            await client.smart_trades.get(1)
    assert len(hostile.hits) == 1


# -- 4. an absurd Retry-After --------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["1e308", "Fri, 31 Dec 9999 23:59:59 GMT"])
async def test_04_an_absurd_retry_after_on_a_429_is_capped(hostile: Hostile, value: str) -> None:
    async def throttled(request: web.Request) -> web.StreamResponse:
        return json_response(b'{"error":"rate_limit"}', 429, {"Retry-After": value})

    hostile.handler = throttled
    async with hostile.client(rate_limit=RateLimit(max_wait=5.0, max_cooldown=600.0)) as client:
        with pytest.raises(RateLimitError) as info:
            await client.smart_trades.get(1)
    assert info.value.retry_after == 600.0


# -- 5. aiohttp's silent resend on a session passed in -------------------------------------------------
def processed_then_reset() -> tuple[Handler, dict[int, str]]:
    """A DELETE is processed, then its connection is reset before the answer; a second DELETE of the same
    trade is refused (already cancelling); a GET shows the state."""
    states: dict[int, str] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        id = path_id(request)
        if request.method == "DELETE":
            if id in states:
                return json_response(b'{"error":"not allowed in the current state"}', 403)
            states[id] = "cancellation_pending"
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        return json_response(trade(id, states.get(id, "waiting_targets")))

    return handler, states


async def test_05_a_session_passed_in_never_resends_behind_the_limiter(hostile: Hostile) -> None:
    hostile.handler, states = processed_then_reset()
    async with aiohttp.ClientSession() as session:
        async with hostile.client(session=session, retry=None) as client:
            await client.smart_trades.get(7)  # a kept-alive connection for the DELETE to find
            results = [r async for r in client.smart_trades.cancel_many([7])]
        assert getattr(session, RESEND_SWITCH) is False  # switched off on the user's session, as documented
    assert hostile.count("DELETE") == 1
    (result,) = results
    assert result.ok and result.outcome == "final"  # this call may well have done it: never "already final"
    assert states == {7: "cancellation_pending"}


@pytest.mark.parametrize("resend", [True, False])
async def test_05_canary_aiohttps_private_switch_still_controls_the_resend(
    hostile: Hostile, resend: bool
) -> None:
    """Fails loudly if aiohttp renames or drops the switch the SDK sets (``_transport.RESEND_SWITCH``)."""
    hostile.handler, _ = processed_then_reset()
    async with aiohttp.ClientSession() as session:
        assert hasattr(session, RESEND_SWITCH), (
            f"aiohttp {aiohttp.__version__} has no ClientSession.{RESEND_SWITCH}"
        )
        setattr(session, RESEND_SWITCH, resend)
        async with session.get(f"{hostile.base_url}/v2/smart_trades/8") as warm:
            await warm.read()

        async def delete() -> int:
            async with session.delete(f"{hostile.base_url}/v2/smart_trades/8") as resp:
                return resp.status

        if resend:
            assert await delete() == 403  # aiohttp sent it again on its own, and that one was refused
        else:
            with pytest.raises(aiohttp.ClientError):
                await delete()
    assert hostile.count("DELETE") == (2 if resend else 1)


# -- 6. a 200 trusted by its status alone --------------------------------------------------------------
@pytest.mark.parametrize(
    "answer",
    [lambda id: trade(999), lambda id: b"{}", lambda id: trade(id, "waiting_targets")],
    ids=["other", "empty", "active"],
)
async def test_06_a_200_that_is_not_this_trade_cancelling_is_not_ok(
    hostile: Hostile, answer: Callable[[int], bytes]
) -> None:
    async def lying(request: web.Request) -> web.StreamResponse:
        id = path_id(request)
        if request.method == "DELETE":
            return json_response(answer(id))
        return json_response(trade(id, "waiting_targets"))  # the truth: nothing was cancelled

    hostile.handler = lying
    async with hostile.client() as client:
        (result,) = [r async for r in client.smart_trades.cancel_many([5])]
        with pytest.raises(ResponseDecodeError, match="not a cancel"):
            await client.smart_trades.cancel(5)
    assert not result.ok and result.outcome == "failed"
    assert isinstance(result.error, ResponseDecodeError)


# -- 8. a 400 that says "Not found" --------------------------------------------------------------------
def test_08_a_400_not_found_is_not_found() -> None:
    body = b'{"error": "Not found", "error_description": "Smart Trade not found"}'
    assert isinstance(error_from_response("GET", "u", "/v2/smart_trades/1", 400, body), NotFoundError)
    assert not isinstance(
        error_from_response("GET", "u", "/x", 400, b'{"error": "Wrong param(s)"}'), NotFoundError
    )


# -- 9. a 204 to cancel_trade --------------------------------------------------------------------------
async def test_09_an_empty_answer_to_cancel_trade_is_followed_by_a_get(hostile: Hostile) -> None:
    async def old_api(request: web.Request) -> web.StreamResponse:
        if request.method == "DELETE":
            return web.Response(status=204)
        return json_response(trade(12))

    hostile.handler = old_api
    async with hostile.client() as client:
        answered = await client.smart_trades.cancel_trade(12, 34)
    assert answered.id == 12
    assert hostile.hits == [
        ("DELETE", "/public/api/v2/smart_trades/12/trades/34"),
        ("GET", "/public/api/v2/smart_trades/12"),
    ]


# -- 10. close() with waiters --------------------------------------------------------------------------
async def test_10_close_wakes_waiters_and_cancel_many_accounts_for_every_id(hostile: Hostile) -> None:
    async def ok(request: web.Request) -> web.StreamResponse:
        return json_response(trade(path_id(request)))

    hostile.handler = ok
    limit = RateLimit(max_rate=10, time_period=60.0, endpoints={})
    client = hostile.client(rate_limit=limit)
    results: list[Any] = []

    async def consume() -> None:
        async for result in client.smart_trades.cancel_many(range(1, 301), concurrency=50):
            results.append(result)

    task = asyncio.create_task(consume())
    await asyncio.sleep(1.0)  # 10 sent, 40 waiting in the limiter
    started = asyncio.get_running_loop().time()
    await client.close()
    await task
    assert asyncio.get_running_loop().time() - started < 0.01  # not one waited for the window
    assert sorted(r.id for r in results) == list(range(1, 301))
    assert sum(r.outcome == "cancelled" for r in results) == 10 == hostile.count("DELETE")
    assert all(isinstance(r.error, ClientClosedError) for r in results if not r.ok)


# -- 11. exceptions cross processes --------------------------------------------------------------------
def every_sdk_error() -> list[ThreeCommasError]:
    errors: list[ThreeCommasError] = []
    for status in (400, 401, 403, 404, 418, 422, 429, 500, 503, 302):
        error = error_from_response(
            "GET", "u", "/p", status, b'{"error": "e", "error_description": "d"}', 7.0
        )
        errors.append(error)
    errors[-1].previous = errors[0]
    errors += [
        threecommas_async.APIConnectionError("c", method="GET", url="u", maybe_sent=False),
        threecommas_async.APITimeoutError("t", method="GET", url="u"),
        ResponseDecodeError("d", status=200, method="GET", url="u", body="b"),
        ResponseTooLargeError("l", status=200, method="GET", url="u", body="", limit=9),
        threecommas_async.RateLimitStorageError("s", storage="redis://h"),
        ClientClosedError("closed"),
        EventLoopMismatchError("loop"),
    ]
    return errors


def test_11_every_exception_round_trips_through_pickle_with_its_attributes() -> None:
    for error in every_sdk_error():
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error)
        assert vars(again) == {k: v for k, v in vars(error).items() if k != "previous"} | (
            {"previous": again.previous} if "previous" in vars(error) else {}
        )
        if error.previous is not None:
            assert type(again.previous) is type(error.previous)


# -- 12. a second event loop ---------------------------------------------------------------------------
def test_12_a_client_used_from_a_second_event_loop_says_so() -> None:
    client = ThreeCommasClient(KEY, SECRET, base_url="http://127.0.0.1:9/public/api", retry=None)

    async def use() -> None:
        with pytest.raises(threecommas_async.APIConnectionError):
            await client.smart_trades.get(1)  # port 9: refused, but the session is now this loop's

    asyncio.run(use())
    with pytest.raises(EventLoopMismatchError, match="one client per event loop"):
        asyncio.run(client.smart_trades.get(1))


# -- 13. malformed credentials -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("secret", "match"),
    [
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n", "private_key="),
        (SECRET + "\n", "trailing whitespace"),
        ("    ", "only whitespace"),
        ("se cret", "whitespace or control"),
    ],
)
def test_13_malformed_credentials_are_refused_at_construction_without_echoing(
    secret: str, match: str
) -> None:
    with pytest.raises(ValueError, match=match) as info:
        ThreeCommasClient(KEY, api_secret=secret)
    assert not secret.strip() or secret.strip() not in str(info.value)


def test_13_a_key_with_a_newline_is_refused() -> None:
    with pytest.raises(ValueError, match="api_key has leading or trailing whitespace"):
        ThreeCommasClient(KEY + "\n", SECRET)


# -- 14. money that is not a number --------------------------------------------------------------------
@pytest.mark.parametrize("value", [b'"NaN"', b'"Infinity"', b'"-inf"', b"1E+999999999"])
async def test_14_non_finite_amounts_fail_the_decode_naming_the_field(hostile: Hostile, value: bytes) -> None:
    async def odd(request: web.Request) -> web.StreamResponse:
        return json_response(b'{"id": 1, "profit": {"usd": ' + value + b"}}")

    hostile.handler = odd
    async with hostile.client(retry=None) as client:
        with pytest.raises(ResponseDecodeError, match="usd") as info:
            await client.smart_trades.get(1)
    assert "$.profit" in str(info.value)


async def test_14_bodies_send_plain_decimals_and_refuse_non_finite_ones(hostile: Hostile) -> None:
    sent: list[bytes] = []

    async def echo(request: web.Request) -> web.StreamResponse:
        sent.append(await request.read())
        return json_response(trade(1))

    hostile.handler = echo
    async with hostile.client(retry=None) as client:
        await client.smart_trades.add_funds(
            1, {"units": {"value": Decimal("0.0000001")}, "order_type": "market"}
        )
        with pytest.raises(ValueError, match=r"\$\.units\.value is NaN"):
            await client.smart_trades.add_funds(1, {"units": {"value": Decimal("NaN")}})
    assert msgspec.json.decode(sent[0]) == {"units": {"value": "0.0000001"}, "order_type": "market"}
    assert len(sent) == 1


# -- 15. the signature in frame locals -----------------------------------------------------------------
async def test_15_no_frame_of_a_failure_holds_the_signature_or_the_secret(hostile: Hostile) -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        hostile.signature = request.headers["Signature"]  # type: ignore[attr-defined]
        return json_response(b'{"error":"unknown_error"}', 500)

    hostile.handler = refuse
    async with hostile.client() as client:
        with pytest.raises(ThreeCommasError) as info:
            await client.smart_trades.get(1)
    signature: str = hostile.signature  # type: ignore[attr-defined]
    seen: list[str] = []
    for frame, _ in traceback.walk_tb(info.value.__traceback__):
        if "threecommas_async" in frame.f_code.co_filename:  # the SDK's frames, not this test's
            seen.extend(f"{name}={value!r}" for name, value in frame.f_locals.items())
    text = "\n".join(seen)
    assert seen, "the traceback has frames with locals to look at"
    assert signature not in text and SECRET not in text
    assert KEY not in text  # the API key rides in the same hidden headers


# -- 16. small ones ------------------------------------------------------------------------------------
def test_16_repr_of_a_half_constructed_client_works() -> None:
    client = object.__new__(ThreeCommasClient)
    assert repr(client) == "ThreeCommasClient(base_url=None, signing=None, forced_mode=None)"


def test_16_a_json_error_body_without_error_fields_is_named_as_such() -> None:
    error = error_from_response("GET", "u", "/p", 500, b'{"message": "boom"}')
    assert "JSON body without an error field" in str(error)
    assert "non-JSON" in str(error_from_response("GET", "u", "/p", 500, b"<html>boom"))


def test_16_the_client_never_echoes_its_base_url_in_errors() -> None:
    url = "https://user-token-abc123@example.com/public/api?token=abc123"
    with pytest.raises(ValueError, match="base_url") as info:
        ThreeCommasClient(KEY, SECRET, base_url=url)
    assert "abc123" not in str(info.value)
