"""FakeThreeCommas: keys and signatures are checked from the request exactly as received."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from threecommas_async._signing import HMACSigner, RSASigner, SigningMiddleware, signed_message
from threecommas_async.testing import FakeThreeCommas

from .conftest import public_pem

FIXTURES = Path(__file__).parent / "fixtures"
RSA_PEM = (FIXTURES / "rsa_test_private_key.pem").read_text()

pytestmark = [pytest.mark.integration, pytest.mark.fake_3commas(rate_limit=None, cancel_delay=0)]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def signed_headers(key: str, signature: str) -> dict[str, str]:
    return {"Apikey": key, "Signature": signature}


async def status_and_json(resp: aiohttp.ClientResponse) -> tuple[int, Any]:
    return resp.status, await resp.json()


async def test_hmac_signed_request_is_accepted(fake_3commas: FakeThreeCommas) -> None:
    tid = fake_3commas.add_trade()
    mw = SigningMiddleware(
        fake_3commas.api_key, api_secret=fake_3commas.api_secret, base_url=fake_3commas.base_url
    )
    async with (
        aiohttp.ClientSession(middlewares=(mw,)) as session,
        session.get(f"{fake_3commas.base_url}/v2/smart_trades/{tid}") as resp,
    ):
        assert resp.status == 200
        assert (await resp.json())["id"] == tid


async def test_wrong_hmac_secret_is_401_signature_invalid_and_changes_nothing(
    fake_3commas: FakeThreeCommas,
) -> None:
    tid = fake_3commas.add_trade()
    mw = SigningMiddleware(fake_3commas.api_key, api_secret="not-the-secret", base_url=fake_3commas.base_url)
    async with (
        aiohttp.ClientSession(middlewares=(mw,)) as session,
        session.delete(f"{fake_3commas.base_url}/v2/smart_trades/{tid}") as resp,
    ):
        status, body = await status_and_json(resp)
    assert status == 401
    assert body["error"] == "signature_invalid"
    assert fake_3commas.trade_status(tid) == "waiting_targets"
    assert fake_3commas.stats.status_401 == 1


async def test_unknown_key_is_401_api_key_invalid(fake_3commas: FakeThreeCommas) -> None:
    mw = SigningMiddleware("who-is-this", api_secret=fake_3commas.api_secret, base_url=fake_3commas.base_url)
    async with (
        aiohttp.ClientSession(middlewares=(mw,)) as session,
        session.get(f"{fake_3commas.base_url}/v2/smart_trades") as resp,
    ):
        status, body = await status_and_json(resp)
    assert status == 401
    assert body["error"] == "api_key_invalid_or_expired"


async def test_removed_key_is_rejected(fake_3commas: FakeThreeCommas, http: aiohttp.ClientSession) -> None:
    fake_3commas.add_key("temp", secret="s3cret")
    path = "/public/api/v2/smart_trades"
    sig = HMACSigner("s3cret").sign(signed_message("hmac", path, "", None))
    url = fake_3commas.base_url + "/v2/smart_trades"
    async with http.get(url, headers=signed_headers("temp", sig)) as resp:
        assert resp.status == 200
    fake_3commas.remove_key("temp")
    async with http.get(url, headers=signed_headers("temp", sig)) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"] == "api_key_invalid_or_expired"


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, "api_key_invalid_or_expired"),
        ({"Apikey": "KEY"}, "signature_invalid"),
        ({"Apikey": "KEY", "Signature": "zz\u00e9"}, "signature_invalid"),
    ],
)
async def test_missing_or_garbage_headers(
    fake_3commas: FakeThreeCommas, http: aiohttp.ClientSession, headers: dict[str, str], error: str
) -> None:
    headers = {k: (fake_3commas.api_key if v == "KEY" else v) for k, v in headers.items()}
    async with http.get(f"{fake_3commas.base_url}/v2/smart_trades", headers=headers) as resp:
        status, body = await status_and_json(resp)
    assert (status, body["error"]) == (401, error)


async def test_rsa_key_accepted_and_other_rsa_key_rejected(fake_3commas: FakeThreeCommas) -> None:
    fake_3commas.add_key("rsa-key", public_key=public_pem(RSA_PEM))
    tid = fake_3commas.add_trade()
    url = f"{fake_3commas.base_url}/v2/smart_trades/{tid}"
    good = SigningMiddleware("rsa-key", private_key=RSA_PEM, base_url=fake_3commas.base_url)
    async with aiohttp.ClientSession(middlewares=(good,)) as session, session.get(url) as resp:
        assert resp.status == 200

    other = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # any other key will do
    other_pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    bad = SigningMiddleware("rsa-key", private_key=other_pem, base_url=fake_3commas.base_url)
    async with aiohttp.ClientSession(middlewares=(bad,)) as session, session.delete(url) as resp:
        status, body = await status_and_json(resp)
    assert (status, body["error"]) == (401, "signature_invalid")
    assert fake_3commas.trade_status(tid) == "waiting_targets"


async def test_rsa_key_accepts_a_private_pem_and_a_json_body(fake_3commas: FakeThreeCommas) -> None:
    fake_3commas.add_key("rsa-key", public_key=RSA_PEM)  # the public half is derived
    tid = fake_3commas.add_trade()
    mw = SigningMiddleware("rsa-key", private_key=RSA_PEM, base_url=fake_3commas.base_url)
    async with (
        aiohttp.ClientSession(middlewares=(mw,)) as session,
        session.post(f"{fake_3commas.base_url}/v2/smart_trades/{tid}/set_note", json={"note": "rsa"}) as resp,
    ):
        assert resp.status == 201
        assert (await resp.json())["note"] == "rsa"


@pytest.mark.parametrize("joiner", [b"?", b""], ids=["path?body", "path+body"])
async def test_hmac_json_body_accepts_both_conventions(
    fake_3commas: FakeThreeCommas, http: aiohttp.ClientSession, joiner: bytes
) -> None:
    tid = fake_3commas.add_trade()
    path = f"/public/api/v2/smart_trades/{tid}/set_note"
    body = json.dumps({"note": "both ways"}).encode()
    sig = HMACSigner(fake_3commas.api_secret).sign(path.encode() + joiner + body)
    headers = {**signed_headers(fake_3commas.api_key, sig), "Content-Type": "application/json"}
    async with http.post(
        f"{fake_3commas.base_url}/v2/smart_trades/{tid}/set_note", data=body, headers=headers
    ) as resp:
        assert resp.status == 201
    assert fake_3commas.get_trade(tid)["note"] == "both ways"


async def test_rsa_json_body_rejects_the_question_mark_convention(
    fake_3commas: FakeThreeCommas, http: aiohttp.ClientSession
) -> None:
    fake_3commas.add_key("rsa-key", public_key=RSA_PEM)
    tid = fake_3commas.add_trade()
    path = f"/public/api/v2/smart_trades/{tid}/set_note"
    body = b'{"note":"x"}'
    sig = RSASigner(RSA_PEM).sign(path.encode() + b"?" + body)
    headers = {**signed_headers("rsa-key", sig), "Content-Type": "application/json"}
    async with http.post(
        fake_3commas.base_url + path.removeprefix("/public/api"), data=body, headers=headers
    ) as resp:
        assert resp.status == 401


async def test_query_is_verified_byte_for_byte(
    fake_3commas: FakeThreeCommas, http: aiohttp.ClientSession
) -> None:
    signer = HMACSigner(fake_3commas.api_secret)
    path = "/public/api/v2/smart_trades"
    sig = signer.sign(signed_message("hmac", path, "per_page=2&page=1", None))
    key = fake_3commas.api_key
    base = fake_3commas.base_url + "/v2/smart_trades"
    async with http.get(base + "?per_page=2&page=1", headers=signed_headers(key, sig)) as resp:
        assert resp.status == 200
    # Same parameters, another order: another signed string, so the old signature must fail.
    async with http.get(base + "?page=1&per_page=2", headers=signed_headers(key, sig)) as resp:
        assert resp.status == 401


async def test_official_hmac_vector_passes_signature_check(
    fake_3commas: FakeThreeCommas, http: aiohttp.ClientSession
) -> None:
    vectors = json.loads((FIXTURES / "signing_vectors.json").read_text())
    fake_3commas.add_key(vectors["api_key"], secret=vectors["hmac_secret"])
    v = vectors["vectors"][0]
    url = f"http://127.0.0.1:{fake_3commas.port}{v['path']}?{v['query']}"
    async with http.post(url, headers=signed_headers(vectors["api_key"], v["hmac_signature"])) as resp:
        status, body = await status_and_json(resp)
    # Authenticated (not 401); the route itself is not part of the fake.
    assert (status, body["error"]) == (404, "Not found")


def test_add_key_validates_its_arguments() -> None:
    server = FakeThreeCommas()
    with pytest.raises(ValueError, match="exactly one"):
        server.add_key("k")
    with pytest.raises(ValueError, match="exactly one"):
        server.add_key("k", secret="s", public_key=RSA_PEM)
    with pytest.raises(ValueError, match="PEM"):
        server.add_key("k", public_key="not a pem")
    with pytest.raises(ValueError, match="empty"):
        server.add_key("", secret="s")
