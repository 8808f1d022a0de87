"""pytest plugin (entry point ``pytest11``): the ``fake_3commas`` and ``fake_3commas_client`` fixtures.

pytest imports this module in every environment where threecommas_async is installed, so it stays light
at import time: it imports pytest and (when installed) pytest-asyncio, nothing optional, and nothing of
the testing kit: ``FakeThreeCommas`` is imported by the fixture, when a test asks for it. (Python does
import the ``threecommas_async`` package itself first, as the parent of this module.)

The fixture is function-scoped: each test gets a fresh server, started before the test and stopped
after it. The server runs on the event loop the test runs on: ``loop_scope="function"`` for a plain
async test (pytest-asyncio's default), or the loop scope the test asked for with
``@pytest.mark.asyncio(loop_scope="module")`` (or ``asyncio_default_test_loop_scope``): the fixture
reads the test's loop scope and starts the server on that loop. This matters because a server started
on one loop is only served while that loop runs; on another loop the client's requests would hang until
their timeout. Your own async fixtures that use ``fake_3commas`` must therefore run on the same loop as
the test (give them the same ``loop_scope``). For a server shared by many tests, write a wider-scoped
fixture around ``FakeThreeCommas`` yourself (``reset()`` between tests).

Without pytest-asyncio the plugin still imports and registers its marker, and a test that asks for the
fixture FAILS with a message saying to install pytest-asyncio (a skip would hide untested code).

Options for the server come from ``@pytest.mark.fake_3commas(**kwargs)`` (the ``FakeThreeCommas``
constructor's keyword arguments), e.g. ``@pytest.mark.fake_3commas(rate_limit=None, cancel_delay=0)``.

``fake_3commas_client`` is a ``ThreeCommasClient`` made by ``fake_3commas.client()``: the server's URL,
key pair and matching rate limit (``client_rate_limit()``), closed after the test on the test's loop.
It comes with the test's ``fake_3commas`` (asking for both gives that server and its client). For other
client options, use ``async with fake_3commas.client(retry=...) as client:`` in the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from threecommas_async import ThreeCommasClient
    from threecommas_async.testing import FakeThreeCommas

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised in a subprocess test
    pytest_asyncio = None  # type: ignore[assignment]

LOOP_SCOPES = ("function", "class", "module", "package", "session")

NEEDS_PYTEST_ASYNCIO = (
    "the fake_3commas fixture needs pytest-asyncio, which is not installed or is disabled "
    "(pip install pytest-asyncio; and no '-p no:asyncio')"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fake_3commas(**kwargs): keyword arguments for the FakeThreeCommas of the fake_3commas fixture",
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("fake_3commas")
    if marker is None:
        return {}
    if marker.args:
        raise TypeError("@pytest.mark.fake_3commas takes keyword arguments only")
    return dict(marker.kwargs)


def _test_loop_scope(request: pytest.FixtureRequest) -> str:
    """The loop scope the requesting test runs on, the way pytest-asyncio decides it."""
    marker = request.node.get_closest_marker("asyncio")
    scope = None
    if marker is not None:
        scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
    if not scope:
        try:
            scope = request.config.getini("asyncio_default_test_loop_scope")
        except ValueError:  # an older pytest-asyncio without the option
            scope = None
    return str(scope or "function")


class _Handout:
    """The started server of one test, and the client handed out with it (made on first use)."""

    def __init__(self, server: FakeThreeCommas) -> None:
        self.server = server
        self._client: ThreeCommasClient | None = None

    def client(self) -> ThreeCommasClient:
        if self._client is None:
            self._client = self.server.client()
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


def _server_fixture(loop_scope: str | None) -> Any:
    """A function-scoped async fixture yielding a started server (in a :class:`_Handout`), run on the
    loop of ``loop_scope``."""

    async def server(request: pytest.FixtureRequest) -> AsyncIterator[_Handout]:
        from threecommas_async.testing import FakeThreeCommas

        async with FakeThreeCommas(**_options(request)) as started:
            handout = _Handout(started)
            try:
                yield handout
            finally:
                await handout.aclose()

    assert pytest_asyncio is not None
    name = f"_fake_3commas_on_{loop_scope or 'default'}_loop"
    if loop_scope is None:  # pragma: no cover - pytest-asyncio < 0.24
        return pytest_asyncio.fixture(server, name=name)
    return pytest_asyncio.fixture(server, name=name, loop_scope=loop_scope)  # type: ignore[call-overload]


def _pytest_asyncio_active(config: pytest.Config) -> bool:
    return pytest_asyncio is not None and config.pluginmanager.has_plugin("asyncio")


if pytest_asyncio is not None:
    # One server fixture per event loop scope; fake_3commas hands out the one of the test's loop.
    try:
        _fake_3commas_on_function_loop = _server_fixture("function")
        _fake_3commas_on_class_loop = _server_fixture("class")
        _fake_3commas_on_module_loop = _server_fixture("module")
        _fake_3commas_on_package_loop = _server_fixture("package")
        _fake_3commas_on_session_loop = _server_fixture("session")
        _PER_LOOP_SCOPE = True
    except TypeError:  # pragma: no cover - pytest-asyncio < 0.24 has no loop_scope
        _fake_3commas_on_default_loop = _server_fixture(None)
        _PER_LOOP_SCOPE = False

    def _handout(request: pytest.FixtureRequest) -> _Handout:
        if not _pytest_asyncio_active(request.config):
            pytest.fail(NEEDS_PYTEST_ASYNCIO, pytrace=False)
        if not _PER_LOOP_SCOPE:  # pragma: no cover - pytest-asyncio < 0.24
            name = "_fake_3commas_on_default_loop"
        else:
            scope = _test_loop_scope(request)
            if scope not in LOOP_SCOPES:
                pytest.fail(
                    f"fake_3commas: unknown event loop scope {scope!r} (one of {', '.join(LOOP_SCOPES)})",
                    pytrace=False,
                )
            name = f"_fake_3commas_on_{scope}_loop"
        handout: _Handout = request.getfixturevalue(name)
        return handout

    @pytest.fixture
    def fake_3commas(request: pytest.FixtureRequest) -> FakeThreeCommas:
        """A started FakeThreeCommas on a free loopback port, on the test's event loop; stopped after
        the test (function-scoped)."""
        return _handout(request).server

    @pytest.fixture
    def fake_3commas_client(request: pytest.FixtureRequest) -> ThreeCommasClient:
        """A ThreeCommasClient for the test's ``fake_3commas`` (its URL, key pair and matching rate
        limit), closed after the test."""
        return _handout(request).client()

else:  # pragma: no cover - exercised in a subprocess test

    @pytest.fixture
    def fake_3commas() -> None:
        """Needs pytest-asyncio: fails the test without it."""
        pytest.fail(NEEDS_PYTEST_ASYNCIO, pytrace=False)

    @pytest.fixture
    def fake_3commas_client() -> None:
        """Needs pytest-asyncio: fails the test without it."""
        pytest.fail(NEEDS_PYTEST_ASYNCIO, pytrace=False)
