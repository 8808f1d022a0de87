"""One place maps HTTP answers to exceptions: each status of the table; JSON, HTML, empty, garbled bodies."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aioresponses import aioresponses

from threecommas_async import (
    APIError,
    AuthenticationError,
    IPBannedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    ThreeCommasClient,
    ThreeCommasError,
    UnprocessableEntityError,
)

pytestmark = pytest.mark.integration

BASE = "https://api.3commas.io/public/api"
KEY = "k" * 64
SECRET = "S3CR3T-" + "x" * 57
CANCEL_URL = re.compile(r"^https://api\.3commas\.io/public/api/v2/smart_trades/42$")


@pytest.fixture
async def client() -> AsyncIterator[ThreeCommasClient]:
    async with ThreeCommasClient(KEY, SECRET, rate_limit=None, retry=None) as c:
        yield c


@pytest.mark.parametrize(
    ("status", "body", "cls", "error", "description"),
    [
        (400, b'{"error":"Wrong param(s)"}', UnprocessableEntityError, "Wrong param(s)", None),
        (
            401,
            b'{"error":"signature_invalid","error_description":"Provided signature is invalid"}',
            AuthenticationError,
            "signature_invalid",
            "Provided signature is invalid",
        ),
        (
            403,
            b'{"error":"access_denied","error_description":"Not allowed in this state"}',
            PermissionDeniedError,
            "access_denied",
            "Not allowed in this state",
        ),
        (
            404,
            b'{"error":"not_found","error_description":"Not found"}',
            NotFoundError,
            "not_found",
            "Not found",
        ),
        (
            422,
            b'{"error":"record_invalid","error_description":"Invalid",'
            b'"error_attributes":{"note":["too long"]}}',
            UnprocessableEntityError,
            "record_invalid",
            "Invalid",
        ),
        (
            429,
            b'{"error":"rate_limit","error_description":"Too many requests"}',
            RateLimitError,
            "rate_limit",
            None,
        ),
        (
            429,
            b'{"error":"access_denied","error_description":"Your subscription plan does not allow this"}',
            PermissionDeniedError,
            "access_denied",
            None,
        ),
        (418, b"", IPBannedError, None, None),
        (500, b'{"error":"unknown_error"}', ServerError, "unknown_error", None),
        (
            503,
            b"<html><head><title>503 Service Temporarily Unavailable</title></head></html>",
            ServerError,
            None,
            "503 Service Temporarily Unavailable",
        ),
        (502, b"", ServerError, None, None),
        (409, b"conflict", UnprocessableEntityError, None, None),
    ],
)
async def test_status_maps_to_exception(
    client: ThreeCommasClient,
    status: int,
    body: bytes,
    cls: type[APIError],
    error: str | None,
    description: str | None,
) -> None:
    with aioresponses() as mock:
        mock.delete(CANCEL_URL, status=status, body=body)
        with pytest.raises(cls) as info:
            await client.smart_trades.cancel(42)
    exc = info.value
    assert type(exc) is cls
    assert exc.status == status
    assert exc.method == "DELETE"
    assert exc.url == f"{BASE}/v2/smart_trades/42"
    assert exc.error == error
    if description is not None:
        assert exc.error_description == description
    assert f"DELETE /v2/smart_trades/42 -> {status}" in str(exc)
    assert exc.body == body.decode()
    for text in (str(exc), repr(exc), exc.body, str(exc.__dict__)):
        assert SECRET not in text


async def test_error_attributes_are_kept(client: ThreeCommasClient) -> None:
    with aioresponses() as mock:
        mock.post(
            f"{BASE}/v2/smart_trades/42/set_note",
            status=422,
            body=b'{"error":"record_invalid","error_attributes":{"note":["is too long"]}}',
        )
        with pytest.raises(UnprocessableEntityError) as info:
            await client.smart_trades.set_note(42, "x")
    assert info.value.error_attributes == {"note": ["is too long"]}


async def test_retry_after_is_read(client: ThreeCommasClient) -> None:
    with aioresponses() as mock:
        mock.delete(CANCEL_URL, status=418, headers={"Retry-After": "120"})
        with pytest.raises(IPBannedError) as info:
            await client.smart_trades.cancel(42)
    assert info.value.retry_after == pytest.approx(120)


async def test_long_bodies_are_truncated(client: ThreeCommasClient) -> None:
    with aioresponses() as mock:
        mock.delete(CANCEL_URL, status=502, body="<html>" + "x" * 100_000)
        with pytest.raises(ServerError) as info:
            await client.smart_trades.cancel(42)
    assert len(info.value.body) < 2100
    assert info.value.body.endswith("[truncated]")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty body"),
        (b"<html>ok</html>", "does not match SmartTrade"),
        (b'{"id": "not-an-int"}', "$.id"),
        (b'{"id": 1, "position": {"units": {"value": [1]}}}', "$.position.units.value"),
    ],
)
async def test_bad_2xx_body_is_a_decode_error(client: ThreeCommasClient, body: bytes, fragment: str) -> None:
    with aioresponses() as mock:
        mock.get(f"{BASE}/v2/smart_trades/42", status=200, body=body)
        with pytest.raises(ResponseDecodeError) as info:
            await client.smart_trades.get(42)
    assert fragment in str(info.value)
    assert "GET /v2/smart_trades/42 -> 200" in str(info.value)
    assert info.value.body == body.decode()
    assert isinstance(info.value, ThreeCommasError)


async def test_request_returns_none_for_empty_2xx_and_any_json(client: ThreeCommasClient) -> None:
    with aioresponses() as mock:
        mock.post(f"{BASE}/ver1/users/change_mode", status=204, body=b"")
        mock.get(f"{BASE}/ver1/accounts", status=200, body=b'[{"id": 1}]')
        assert await client.request("POST", "/ver1/users/change_mode", json={"mode": "paper"}) is None
        assert await client.request("get", "/ver1/accounts") == [{"id": 1}]
