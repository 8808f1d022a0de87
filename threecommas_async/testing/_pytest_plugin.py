"""pytest plugin (entry point ``pytest11``): the ``fake_3commas`` fixture.

pytest imports this module in every environment where threecommas_async is installed, so it imports
nothing heavy and nothing optional at module level: pytest-asyncio is used when present; without it the
fixture skips the test with a message saying so.

Options for the server come from ``@pytest.mark.fake_3commas(**kwargs)`` (the ``FakeThreeCommas``
constructor's keyword arguments), e.g. ``@pytest.mark.fake_3commas(rate_limit=None, cancel_delay=0)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from threecommas_async.testing import FakeThreeCommas

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised in a subprocess test
    pytest_asyncio = None  # type: ignore[assignment]


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


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def fake_3commas(request: pytest.FixtureRequest) -> AsyncIterator[FakeThreeCommas]:
        """A started FakeThreeCommas on a free loopback port, stopped after the test."""
        from threecommas_async.testing import FakeThreeCommas

        async with FakeThreeCommas(**_options(request)) as server:
            yield server

else:  # pragma: no cover - exercised in a subprocess test

    @pytest.fixture(name="fake_3commas")
    def _fake_3commas_needs_pytest_asyncio() -> None:
        """Needs pytest-asyncio: skips the test without it."""
        pytest.skip("the fake_3commas fixture needs pytest-asyncio (pip install pytest-asyncio)")
