"""threecommas_async: the asyncio-first, typed SDK for the 3Commas API.

Everything a program needs is importable from here: the client, its settings, the errors, the results,
the response models a call returns and every Struct a request takes. The nested response types
(``Status``, ``Position``, …) live in :mod:`threecommas_async.models`; the fake server for tests in
:mod:`threecommas_async.testing`.
"""

from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _version

from ._client import ThreeCommasClient
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ClientClosedError,
    EventLoopMismatchError,
    IPBannedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RateLimitStorageError,
    ResponseDecodeError,
    ResponseTooLargeError,
    ServerError,
    ThreeCommasError,
    UnprocessableEntityError,
)
from ._events import ClientEvent
from ._ratelimit import EndpointLimit, RateLimit
from ._retry import RetryPolicy
from ._signing import SigningMiddleware
from .models import (
    AddFundsParams,
    ConditionalParams,
    LeverageParams,
    PositionParams,
    PriceParams,
    ReduceFundsInfo,
    ReduceFundsParams,
    SmartTrade,
    SmartTradeCreate,
    SmartTradeUpdate,
    StopLossParams,
    TakeProfitParams,
    TakeProfitStepParams,
    TimeoutParams,
    Trade,
    TrailingParams,
    UnitsParams,
)
from .resources.cancel import CancelResult

try:
    __version__ = _version("threecommas-async")
except _NotInstalled:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AddFundsParams",
    "AuthenticationError",
    "CancelResult",
    "ClientClosedError",
    "ClientEvent",
    "ConditionalParams",
    "EndpointLimit",
    "EventLoopMismatchError",
    "IPBannedError",
    "LeverageParams",
    "NotFoundError",
    "PermissionDeniedError",
    "PositionParams",
    "PriceParams",
    "RateLimit",
    "RateLimitError",
    "RateLimitStorageError",
    "ReduceFundsInfo",
    "ReduceFundsParams",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "RetryPolicy",
    "ServerError",
    "SigningMiddleware",
    "SmartTrade",
    "SmartTradeCreate",
    "SmartTradeUpdate",
    "StopLossParams",
    "TakeProfitParams",
    "TakeProfitStepParams",
    "ThreeCommasClient",
    "ThreeCommasError",
    "TimeoutParams",
    "Trade",
    "TrailingParams",
    "UnitsParams",
    "UnprocessableEntityError",
    "__version__",
]
