"""Every official vector passes through the signer alone and end to end through a loopback server."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from threecommas_async import SigningMiddleware, ThreeCommasClient
from threecommas_async._signing import HMACSigner, RSASigner, make_signer, signed_message

from .conftest import EchoServer

pytestmark = pytest.mark.unit


def _body(vector: dict[str, Any]) -> bytes | None:
    return vector["body"].encode() if vector["body"] is not None else None


def test_vectors_hmac_signer_alone(vectors: dict[str, Any]) -> None:
    signer = HMACSigner(vectors["hmac_secret"])
    for vector in vectors["vectors"]:
        message = signed_message("hmac", vector["path"], vector["query"], _body(vector))
        assert message.decode() == vector["hmac_signed_string"], vector["name"]
        assert signer.sign(message) == vector["hmac_signature"], vector["name"]


def test_vectors_rsa_signer_alone(vectors: dict[str, Any], rsa_private_key: str) -> None:
    signer = RSASigner(rsa_private_key)
    for vector in vectors["vectors"]:
        message = signed_message("rsa", vector["path"], vector["query"], _body(vector))
        assert message.decode() == vector["rsa_signed_string"], vector["name"]
        assert signer.sign(message) == vector["rsa_signature"], vector["name"]


def test_third_party_hmac_vector() -> None:
    message = signed_message("hmac", "/public/api/ver1/bots", "", None)
    expected = "505719450087661e95840d47b8bb2374ad2bb25abdcf0d99d7d410ab9b2f1d3a"
    assert HMACSigner("abcd1234").sign(message) == expected


@pytest.mark.parametrize("scheme", ["hmac", "rsa"])
async def test_vectors_end_to_end_through_middleware(
    scheme: str,
    vectors: dict[str, Any],
    rsa_private_key: str,
    echo_server: EchoServer,
    rsa_echo_server: EchoServer,
) -> None:
    """The middleware signs the exact bytes aiohttp puts on the wire; the server recomputes from them."""
    server = echo_server if scheme == "hmac" else rsa_echo_server
    if scheme == "hmac":
        middleware = SigningMiddleware(
            vectors["api_key"], api_secret=vectors["hmac_secret"], base_url=server.base_url
        )
    else:
        middleware = SigningMiddleware(
            vectors["api_key"], private_key=rsa_private_key, base_url=server.base_url
        )
    origin = server.base_url.removesuffix("/public/api")
    async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
        for vector in vectors["vectors"]:
            url = origin + vector["path"] + ("?" + vector["query"] if vector["query"] else "")
            async with session.request(vector["method"], url, data=_body(vector)) as resp:
                assert resp.status == 200, vector["name"]
            got = server.received[-1]
            assert got.signature_ok, vector["name"]
            assert got.signed.decode() == vector[f"{scheme}_signed_string"], vector["name"]
            assert got.headers["Signature"] == vector[f"{scheme}_signature"], vector["name"]
            assert got.headers["Apikey"] == vectors["api_key"]


@pytest.mark.parametrize("scheme", ["hmac", "rsa"])
async def test_vectors_end_to_end_through_client(
    scheme: str,
    vectors: dict[str, Any],
    rsa_private_key: str,
    echo_server: EchoServer,
    rsa_echo_server: EchoServer,
) -> None:
    """The client's own pipeline (not the middleware) produces the official signatures on the wire."""
    server = echo_server if scheme == "hmac" else rsa_echo_server
    secret = {"api_secret": vectors["hmac_secret"]} if scheme == "hmac" else {"private_key": rsa_private_key}
    async with ThreeCommasClient(vectors["api_key"], base_url=server.base_url, **secret) as client:
        query_vector, _, cancel_vector = vectors["vectors"]
        await client.request("POST", "/ver1/users/change_mode", params={"mode": "paper"})
        assert server.received[-1].headers["Signature"] == query_vector[f"{scheme}_signature"]
        await client.smart_trades.cancel(12345678)
        assert server.received[-1].headers["Signature"] == cancel_vector[f"{scheme}_signature"]
        # A JSON body: the server recomputes from the bytes it received and they must agree.
        await client.request("POST", "/ver1/users/change_mode", json={"mode": "paper"})
        got = server.received[-1]
        assert got.body == b'{"mode":"paper"}'
        assert got.headers["Content-Type"] == "application/json"
        assert got.signature_ok
        assert all(r.signature_ok for r in server.received)


async def test_query_is_signed_exactly_as_sent(echo_server: EchoServer, vectors: dict[str, Any]) -> None:
    async with ThreeCommasClient(
        vectors["api_key"], vectors["hmac_secret"], base_url=echo_server.base_url
    ) as client:
        await client.request(
            "GET", "/v2/smart_trades", params={"pair": "USDT_BTC", "note": "a b&c/é", "x": None}
        )
        got = echo_server.received[-1]
        assert got.query == "pair=USDT_BTC&note=a%20b%26c%2F%C3%A9"
        assert got.signed == b"/public/api/v2/smart_trades?pair=USDT_BTC&note=a%20b%26c%2F%C3%A9"
        assert got.signature_ok


def test_make_signer_needs_exactly_one_key(rsa_private_key: str) -> None:
    with pytest.raises(ValueError, match="not both"):
        make_signer("s", rsa_private_key)
    with pytest.raises(ValueError, match="required"):
        make_signer(None, None)
    with pytest.raises(ValueError, match="PEM"):
        make_signer(None, "not a key")


def test_signers_hide_secrets(rsa_private_key: str) -> None:
    secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    for obj in (HMACSigner(secret), RSASigner(rsa_private_key), SigningMiddleware("key", api_secret=secret)):
        text = repr(obj) + str(obj)
        assert secret not in text
        assert "MIIE" not in text
        assert "hidden" in text


async def test_middleware_signs_only_requests_under_its_base_url(echo_server: EchoServer) -> None:
    """A request to another host or path (a redirect, say) must not carry the key or a signature."""
    middleware = SigningMiddleware("key", api_secret="secret", base_url=echo_server.base_url)
    origin = echo_server.base_url.removesuffix("/public/api")
    async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
        async with session.get(f"{echo_server.base_url}/v2/smart_trades/1"):
            pass
        async with session.get(f"{origin}/elsewhere/v2/smart_trades/1"):
            pass
    signed, unsigned = echo_server.received
    assert "Signature" in signed.headers and signed.headers["Apikey"] == "key"
    assert "Signature" not in unsigned.headers and "Apikey" not in unsigned.headers


async def test_aiohttp_errors_of_a_signed_request_show_neither_the_key_nor_the_signature(
    echo_server: EchoServer,
) -> None:
    """The echo server refuses the wrong secret (401) and the user's session raises for it: aiohttp's
    ClientResponseError shows the request's headers, which are hidden once the request was sent."""
    middleware = SigningMiddleware("APIKEY123", api_secret="WRONGSECRET", base_url=echo_server.base_url)
    async with aiohttp.ClientSession(middlewares=(middleware,), raise_for_status=True) as session:
        with pytest.raises(aiohttp.ClientResponseError) as info:
            async with session.get(f"{echo_server.base_url}/v2/smart_trades/1"):
                pass
    (received,) = echo_server.received
    signature = received.headers["Signature"]
    shown = repr(info.value) + str(info.value.args) + str(dict(info.value.request_info.headers))
    assert received.headers["Apikey"] == "APIKEY123"  # it was sent signed
    assert "APIKEY123" not in shown and signature not in shown


def test_storage_passwords_are_hidden_in_the_query_and_in_the_settings_repr() -> None:
    from threecommas_async import RateLimit
    from threecommas_async._storage import redact

    for url in ("unix:///run/redis.sock?db=0&password=PW77", "redis://h:6379/0?Password=PW77&x=1"):
        assert "PW77" not in redact(url) and "***" in redact(url)
    assert "PW77" not in repr(RateLimit(storage="redis://:PW77@h:6379/0"))
