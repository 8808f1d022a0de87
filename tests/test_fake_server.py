"""FakeThreeCommas: lifecycle, traffic record, the standalone command and the pytest fixtures.

The plugin's tests run a user's test suite with pytester in this process (pytest loads the installed
plugin there too); only what a fresh interpreter alone can show runs in a subprocess: a missing
pytest-asyncio, the plugin's import cost, and the standalone command.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import aiohttp
import pytest

from threecommas_async._signing import SigningMiddleware
from threecommas_async.testing import FakeThreeCommas, RateLimits, RecordedRequest

pytestmark = pytest.mark.integration

pytest_plugins = ["pytester"]

# The inner runs need neither a cache nor hypothesis, whose plugin imports all of it (seconds, and again
# in every in-process run: pytester restores sys.modules after each).
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_context_manager_listens_on_a_free_loopback_port() -> None:
    async with FakeThreeCommas() as a, FakeThreeCommas() as b:
        assert a.base_url == f"http://127.0.0.1:{a.port}/public/api"
        assert a.port != b.port
        assert a.api_key != b.api_key and a.api_secret != b.api_secret
        assert a.api_secret not in repr(a)
        port = a.port
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        await writer.wait_closed()
    with pytest.raises(RuntimeError, match="not started"):
        _ = a.base_url
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_start_stop_are_idempotent_and_restartable() -> None:
    server = FakeThreeCommas(api_key="fixed-key", api_secret="fixed-secret")
    await server.start()
    await server.start()
    port = server.port
    tid = server.add_trade()
    await server.stop()
    await server.stop()
    await server.start()
    try:
        assert server.api_key == "fixed-key"
        mw = SigningMiddleware("fixed-key", api_secret="fixed-secret", base_url=server.base_url)
        async with (
            aiohttp.ClientSession(middlewares=(mw,)) as session,
            session.get(f"{server.base_url}/v2/smart_trades/{tid}") as resp,
        ):
            assert resp.status == 200  # state survives a restart
        assert isinstance(port, int)
    finally:
        await server.stop()


@pytest.mark.fake_3commas(rate_limit=None)
async def test_traffic_record_never_holds_the_secret_or_signature(fake_3commas: FakeThreeCommas) -> None:
    tid = fake_3commas.add_trade()
    signatures: list[str] = []

    async def spy(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        signatures.append(request.headers["Signature"])
        return await handler(request)

    mw = SigningMiddleware(
        fake_3commas.api_key, api_secret=fake_3commas.api_secret, base_url=fake_3commas.base_url
    )
    async with aiohttp.ClientSession(middlewares=(mw, spy)) as session:
        base = fake_3commas.base_url
        async with session.get(
            f"{base}/v2/smart_trades", params={"per_page": "5", "pair": "USDT_BTC"}
        ) as resp:
            assert resp.status == 200
        async with session.post(f"{base}/v2/smart_trades/{tid}/set_note", json={"note": "n"}) as resp:
            assert resp.status == 201
        async with session.delete(f"{base}/v2/smart_trades/{tid}") as resp:
            assert resp.status == 200

    reqs = fake_3commas.requests
    assert [(r.method, r.route, r.status, r.trade_id) for r in reqs] == [
        ("GET", "list", 200, None),
        ("POST", "set_note", 201, tid),
        ("DELETE", "cancel", 200, tid),
    ]
    assert reqs[0].path == "/public/api/v2/smart_trades"
    assert reqs[0].query == "per_page=5&pair=USDT_BTC"
    assert all(r.api_key == fake_3commas.api_key for r in reqs)
    assert reqs[0].time <= reqs[1].time <= reqs[2].time
    dump = repr(reqs) + repr(fake_3commas.stats) + repr(fake_3commas)
    assert len(signatures) == 3
    for secret in [fake_3commas.api_secret, *signatures]:
        assert secret not in dump
    assert fake_3commas.stats.by_route == {"list": 1, "set_note": 1, "cancel": 1}

    fake_3commas.clear_requests()
    assert fake_3commas.requests == []
    fake_3commas.record_requests = False
    async with aiohttp.ClientSession(middlewares=(mw,)) as session, session.get(f"{base}/v2/smart_trades"):
        pass
    assert fake_3commas.requests == []
    assert fake_3commas.stats.requests == 4  # counters keep counting


async def test_fixture_yields_a_started_server(fake_3commas: FakeThreeCommas) -> None:
    assert fake_3commas.rate_limit == RateLimits()
    async with (
        aiohttp.ClientSession() as session,
        session.get(fake_3commas.base_url + "/v2/smart_trades") as resp,
    ):
        assert resp.status == 401
    assert fake_3commas.requests == [
        RecordedRequest(
            "GET", "/public/api/v2/smart_trades", "", fake_3commas.requests[0].time, "list", None, None, 401
        )
    ]


@pytest.mark.fake_3commas(rate_limit=None, cancel_delay=0, conflict_status=422)
async def test_fixture_takes_options_from_the_marker(fake_3commas: FakeThreeCommas) -> None:
    assert fake_3commas.rate_limit is None
    assert fake_3commas.cancel_delay == 0


def test_fixture_in_a_users_test_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bot=textwrap.dedent(
            """
            import aiohttp
            import pytest
            from threecommas_async._signing import SigningMiddleware

            @pytest.mark.asyncio
            @pytest.mark.fake_3commas(cancel_delay=0)
            async def test_cancel(fake_3commas):
                tid = fake_3commas.add_trade()
                mw = SigningMiddleware(
                    fake_3commas.api_key, api_secret=fake_3commas.api_secret, base_url=fake_3commas.base_url
                )
                async with aiohttp.ClientSession(middlewares=(mw,)) as s:
                    async with s.delete(f"{fake_3commas.base_url}/v2/smart_trades/{tid}") as r:
                        assert r.status == 200
                assert fake_3commas.trade_status(tid) == "cancelled"
            """
        )
    )
    result = pytester.runpytest_inprocess(*QUIET, "-o", "asyncio_default_fixture_loop_scope=function")
    result.assert_outcomes(passed=1)


def test_client_fixture_in_a_users_test_suite_is_closed_after_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bot=textwrap.dedent(
            """
            import pytest

            handed_out = []

            @pytest.mark.fake_3commas(cancel_delay=0)
            async def test_cancel(fake_3commas, fake_3commas_client):
                tid = fake_3commas.add_trade()
                await fake_3commas_client.smart_trades.cancel(tid)
                assert fake_3commas.trade_status(tid) == "cancelled"
                handed_out.append(fake_3commas_client)

            async def test_closed_after_the_test():
                assert handed_out[0].closed
            """
        )
    )
    result = pytester.runpytest_inprocess(
        *QUIET, "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function"
    )
    result.assert_outcomes(passed=2)


def _shadow_pytest_asyncio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pytest_asyncio that cannot be imported, ahead of the real one on sys.path."""
    shadow = tmp_path / "shadow" / "pytest_asyncio"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('pytest-asyncio is not installed')\n")
    env_path = os.pathsep.join([str(shadow.parent), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", env_path)


def test_plugin_without_pytest_asyncio_imports_and_fails_the_test(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A skip would hide untested code: the test must not pass as "skipped".
    _shadow_pytest_asyncio(tmp_path, monkeypatch)
    pytester.makepyfile(
        test_sync="def test_needs_server(fake_3commas):\n    raise AssertionError('not reached')\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:asyncio", *QUIET)
    result.assert_outcomes(errors=1)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*fake_3commas fixture needs pytest-asyncio*"])
    result.stdout.no_fnmatch_line("*not reached*")


def test_plugin_with_pytest_asyncio_disabled_fails_the_test(pytester: pytest.Pytester) -> None:
    # Installed but turned off with -p no:asyncio: the fixtures could not run on any loop.
    pytester.makepyfile(
        test_sync=(
            "def test_needs_server(fake_3commas):\n    raise AssertionError('not reached')\n"
            "def test_needs_client(fake_3commas_client):\n    raise AssertionError('not reached')\n"
        )
    )
    result = pytester.runpytest_inprocess("-p", "no:asyncio", *QUIET)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*fake_3commas fixture needs pytest-asyncio*"])
    result.stdout.no_fnmatch_line("*not reached*")


def test_plugin_import_is_light() -> None:
    # pytest imports the plugin in every run: it must not load the fake (aiohttp.web, msgspec, ...).
    code = (
        "import sys\n"
        "import threecommas_async.testing._pytest_plugin\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('threecommas_async.testing'))\n"
        "assert loaded == ['threecommas_async.testing', 'threecommas_async.testing._pytest_plugin'], loaded\n"
        "assert 'aiohttp.web' not in sys.modules\n"
        "from threecommas_async.testing import FakeThreeCommas, ROUTE_NAMES\n"
        "assert 'cancel' in ROUTE_NAMES and FakeThreeCommas.__name__ == 'FakeThreeCommas'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_fixture_runs_on_the_loop_of_the_test_whatever_its_scope(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_loops=textwrap.dedent(
            """
            import asyncio

            import aiohttp
            import pytest
            import pytest_asyncio
            from threecommas_async._signing import SigningMiddleware

            async def cancel(server):
                tid = server.add_trade()
                mw = SigningMiddleware(server.api_key, api_secret=server.api_secret, base_url=server.base_url)
                timeout = aiohttp.ClientTimeout(total=5)
                async with aiohttp.ClientSession(middlewares=(mw,), timeout=timeout) as s:
                    async with s.delete(f"{server.base_url}/v2/smart_trades/{tid}") as r:
                        assert r.status == 200

            @pytest.mark.asyncio
            async def test_function_loop(fake_3commas):
                await cancel(fake_3commas)

            @pytest.mark.asyncio(loop_scope="module")
            async def test_module_loop(fake_3commas):
                await cancel(fake_3commas)

            @pytest.mark.asyncio(loop_scope="module")
            async def test_module_loop_gets_a_fresh_server(fake_3commas):
                assert fake_3commas.stats.requests == 0
                await cancel(fake_3commas)

            class TestInAClass:
                @pytest.mark.asyncio(loop_scope="class")
                async def test_class_loop(self, fake_3commas):
                    await cancel(fake_3commas)

            @pytest.mark.asyncio(loop_scope="session")
            async def test_session_loop(fake_3commas):
                await cancel(fake_3commas)
            """
        )
    )
    result = pytester.runpytest_inprocess(*QUIET, "-o", "asyncio_default_fixture_loop_scope=function")
    result.assert_outcomes(passed=5)


def test_fixture_follows_the_default_test_loop_scope(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_default=textwrap.dedent(
            """
            import aiohttp
            import pytest
            from threecommas_async._signing import SigningMiddleware

            @pytest.mark.asyncio
            async def test_server_answers_on_this_loop(fake_3commas):
                s = fake_3commas
                mw = SigningMiddleware(s.api_key, api_secret=s.api_secret, base_url=s.base_url)
                timeout = aiohttp.ClientTimeout(total=5)
                async with aiohttp.ClientSession(middlewares=(mw,), timeout=timeout) as session:
                    async with session.get(f"{s.base_url}/v2/smart_trades") as r:
                        assert r.status == 200
            """
        )
    )
    result = pytester.runpytest_inprocess(
        *QUIET,
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "-o",
        "asyncio_default_test_loop_scope=module",
    )
    result.assert_outcomes(passed=1)


def test_standalone_command_serves_until_terminated() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "threecommas_async.testing", "--port", str(port), "--seed-trades", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url == f"http://127.0.0.1:{port}/public/api"
        key = proc.stdout.readline().strip().removeprefix("api_key: ")
        secret = proc.stdout.readline().strip().removeprefix("api_secret: ")
        assert "seeded trade ids" in proc.stdout.readline()

        async def probe() -> list[int]:
            mw = SigningMiddleware(key, api_secret=secret, base_url=base_url)
            async with (
                aiohttp.ClientSession(middlewares=(mw,)) as session,
                session.get(f"{base_url}/v2/smart_trades", params={"per_page": "100"}) as resp,
            ):
                assert resp.status == 200
                return [t["id"] for t in await resp.json()]

        assert len(asyncio.run(probe())) == 3
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_the_testing_kit_exports_its_public_names() -> None:
    import threecommas_async.testing as kit

    assert set(kit.__all__) == {
        "ROUTE_NAMES",
        "FakeThreeCommas",
        "FaultKind",
        "FaultRule",
        "Faults",
        "KeyStats",
        "ManualClock",
        "RateLimitRule",
        "RateLimits",
        "RecordedRequest",
        "Stats",
        "Transition",
    }
    for name in kit.__all__:
        assert getattr(kit, name) is not None, name
    assert kit.ROUTE_NAMES[:5] == ("list", "create", "get", "update", "cancel")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = kit.nope
