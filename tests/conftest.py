"""Shared fixtures: the official vectors, and a loopback server that checks signatures from what it got."""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
from aiohttp import ClientResponse, web
from hypothesis import HealthCheck, settings

from threecommas_async._signing import HMACSigner, signed_message
from threecommas_async._storage import forget_storages

from ._loopback import serve

FIXTURES = Path(__file__).parent / "fixtures"

# Hypothesis: a quick profile for every run (make test), a thorough one for CI (.ci/run runs both):
# HYPOTHESIS_PROFILE=thorough pytest -m hypothesis. Tests set no max_examples of their own.
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("quick", max_examples=40, deadline=None, suppress_health_check=_SLOW_OK)
settings.register_profile("thorough", max_examples=4000, deadline=None, suppress_health_check=_SLOW_OK)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))


def _aioresponses_compat() -> None:
    """aioresponses 0.7.9 builds responses without the ``stream_writer`` argument aiohttp 3.14 requires.

    The fix is three lines; a test-only shim beats pinning users' aiohttp back or adopting a fork.
    Remove once aioresponses ships the fix.
    """
    import inspect
    from unittest.mock import Mock

    import aioresponses.core

    if "stream_writer" not in inspect.signature(ClientResponse).parameters:
        return

    class CompatResponse(ClientResponse):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", Mock(output_size=0))
            super().__init__(*args, **kwargs)

    aioresponses.core.ClientResponse = CompatResponse  # type: ignore[attr-defined]


_aioresponses_compat()


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    """memory:// is process-wide: one test's 429 cool-down or 418 ban must not pause the next test."""
    forget_storages()


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = load_fixture("signing_vectors.json")
    return data


@pytest.fixture(scope="session")
def rsa_private_key() -> str:
    return (FIXTURES / "rsa_test_private_key.pem").read_text()


@dataclass
class Received:
    method: str
    raw_path: str
    query: str
    body: bytes
    headers: dict[str, str]
    signed: bytes
    signature_ok: bool


@dataclass
class EchoServer:
    """A loopback 3Commas stand-in: recomputes each signature from the request as received, records it,
    and answers with whatever the test queued (default: the seed SmartTrade)."""

    base_url: str
    received: list[Received] = field(default_factory=list)
    answers: list[Callable[[web.Request], web.StreamResponse]] = field(default_factory=list)


def public_key_of(private_key: str) -> Any:
    """The public half of a PEM private key (what a server holds to verify RSA signatures)."""
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(private_key.encode(), password=None).public_key()


def public_pem(private_key: str) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = public_key_of(private_key)
    pem: bytes = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem


def _verifier(secret: str | None, private_key: str | None) -> Callable[[bytes, str], bool]:
    if secret is not None:
        signer = HMACSigner(secret)
        return lambda message, sig: hmac.compare_digest(signer.sign(message), sig)
    assert private_key is not None
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = public_key_of(private_key)
    assert isinstance(key, rsa.RSAPublicKey)

    def verify(message: bytes, sig: str) -> bool:
        import base64

        try:
            key.verify(base64.b64decode(sig), message, padding.PKCS1v15(), hashes.SHA256())
        except Exception:
            return False
        return True

    return verify


async def start_echo_server(
    secret: str | None = None, private_key: str | None = None
) -> tuple[web.AppRunner, EchoServer]:
    verify = _verifier(secret, private_key)
    scheme = "hmac" if secret is not None else "rsa"
    seed = fixture_bytes("cancel_smart_trade_200.json")
    state: EchoServer

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        signed = signed_message(
            scheme, request.rel_url.raw_path, request.rel_url.raw_query_string, body or None
        )
        ok = verify(signed, request.headers.get("Signature", ""))
        state.received.append(
            Received(
                request.method,
                request.rel_url.raw_path,
                request.rel_url.raw_query_string,
                body,
                dict(request.headers),
                signed,
                ok,
            )
        )
        if not ok:
            return web.json_response({"error": "signature_invalid"}, status=401)
        if state.answers:
            return state.answers.pop(0)(request)
        # The seed SmartTrade, as the one the path names: a cancel checks that the answer is its trade.
        segment = request.path.rstrip("/").rsplit("/", 1)[-1]
        body = (
            seed.replace(b'"id": 30404547,', b'"id": %s,' % segment.encode(), 1)
            if segment.isdigit()
            else seed
        )
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner, base_url = await serve(app)
    state = EchoServer(base_url=base_url)
    return runner, state


@pytest.fixture
async def echo_server(vectors: dict[str, Any]) -> AsyncIterator[EchoServer]:
    runner, state = await start_echo_server(secret=vectors["hmac_secret"])
    yield state
    await runner.cleanup()


@pytest.fixture
async def rsa_echo_server(rsa_private_key: str) -> AsyncIterator[EchoServer]:
    runner, state = await start_echo_server(private_key=rsa_private_key)
    yield state
    await runner.cleanup()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "virtual_clock: run on a VirtualClockLoop (tests/_virtual.py): time jumps, waits are exact"
    )


LAYERS: Final = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test belongs to a layer, so ``-m unit`` (``make test-fast``) means what it says."""
    unlayered = [item.nodeid for item in items if not any(item.get_closest_marker(m) for m in LAYERS)]
    if unlayered:
        raise pytest.UsageError(f"tests without a layer marker ({', '.join(LAYERS)}): {', '.join(unlayered)}")


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    if item.get_closest_marker("virtual_clock") is None:
        return {"default": asyncio.new_event_loop}
    from ._virtual import VirtualClockLoop

    return {"virtual_clock": VirtualClockLoop}


# -- a real redis-server ------------------------------------------------------------------------------
class RedisProcess:
    """A ``redis-server`` on a free loopback port, in memory only, stopped (or killed) on demand."""

    def __init__(self, directory: Path) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail(
                "redis-server is not installed: `make test` installs it (Debian package redis-server); "
                "the Redis storage is tested against a real server, never skipped",
                pytrace=False,
            )
        self.exe = exe
        self.directory = directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def command(self, *words: str) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            frame = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
            conn.sendall(frame.encode())
            return conn.recv(65536)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisProcess) -> str:
    """The session's redis-server, emptied for this test."""
    assert redis_server.command("FLUSHALL").startswith(b"+OK")
    return redis_server.url
