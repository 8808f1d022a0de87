"""Testing kit: ``FakeThreeCommas``, an embedded stateful fake of the 3Commas SmartTrade API.

::

    from threecommas_async.testing import FakeThreeCommas, RateLimits

    async with FakeThreeCommas(rate_limit=RateLimits.scaled(120)) as server:
        ids = server.seed_trades(10)
        server.faults.add("http_503", route="cancel", times=1)
        async with server.client() as client:     # its URL, key pair and matching rate limit
            results = [r async for r in client.smart_trades.cancel_many(ids)]
        assert server.stats.status_429 == 0
        assert server.history(ids[0])[1].cause == "cancel"

The pytest fixtures ``fake_3commas`` and ``fake_3commas_client`` (installed with the package, need
pytest-asyncio) yield a started server, and a client for it, on the test's event loop, one per test;
``@pytest.mark.fake_3commas(**kwargs)`` passes constructor options. ``python -m
threecommas_async.testing --port 8080`` runs one standalone.

The names below are imported on first use, so that importing this package (pytest does, for the
plugin) costs nothing until a test needs the fake.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._clock import ManualClock
    from ._faults import FaultKind, FaultRule, Faults
    from ._ratelimit import RateLimitRule, RateLimits
    from ._server import FakeThreeCommas
    from ._store import Transition
    from ._traffic import KeyStats, RecordedRequest, Stats

    ROUTE_NAMES: tuple[str, ...]

__all__ = [
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
]

_WHERE = {
    "FaultKind": "._faults",
    "FaultRule": "._faults",
    "Faults": "._faults",
    "KeyStats": "._traffic",
    "ManualClock": "._clock",
    "RateLimitRule": "._ratelimit",
    "RateLimits": "._ratelimit",
    "FakeThreeCommas": "._server",
    "RecordedRequest": "._traffic",
    "Stats": "._traffic",
    "Transition": "._store",
}


def __getattr__(name: str) -> Any:
    if name == "ROUTE_NAMES":
        from ._routes import ROUTES

        value: Any = tuple(r.name for r in ROUTES)
    elif name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
