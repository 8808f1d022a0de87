"""Testing kit: ``FakeThreeCommas``, an embedded stateful fake of the 3Commas SmartTrade API.

::

    from threecommas_async.testing import FakeThreeCommas, RateLimits

    async with FakeThreeCommas(rate_limit=RateLimits.scaled(120)) as server:
        ids = server.seed_trades(10)
        server.faults.add("http_503", route="cancel", times=1)
        ...  # drive your bot at server.base_url with server.api_key / server.api_secret

The pytest fixture ``fake_3commas`` (installed with the package, needs pytest-asyncio) yields a started
server; ``@pytest.mark.fake_3commas(**kwargs)`` passes constructor options. ``python -m
threecommas_async.testing --port 8080`` runs one standalone.
"""

from ._faults import FaultKind, FaultRule, Faults
from ._ratelimit import RateLimitRule, RateLimits
from ._server import ROUTES, FakeThreeCommas
from ._traffic import RecordedRequest, Stats

ROUTE_NAMES: tuple[str, ...] = tuple(r.name for r in ROUTES)

__all__ = [
    "ROUTE_NAMES",
    "FakeThreeCommas",
    "FaultKind",
    "FaultRule",
    "Faults",
    "RateLimitRule",
    "RateLimits",
    "RecordedRequest",
    "Stats",
]
