"""threecommas_async: the asyncio-first, typed SDK for the 3Commas API."""

import logging as _logging

from ._client import ThreeCommasClient
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    IPBannedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
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
    ReduceFundsInfo,
    ReduceFundsParams,
    SmartTrade,
    SmartTradeCreate,
    SmartTradeUpdate,
    Trade,
)
from .resources.cancel import CancelResult

__version__ = "0.1.0"

# A library logs; the application decides where it goes. Without this, Python's last-resort handler
# would print our warnings to stderr in every program that has not configured logging.
_logging.getLogger("threecommas_async").addHandler(_logging.NullHandler())

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AddFundsParams",
    "AuthenticationError",
    "CancelResult",
    "ClientEvent",
    "EndpointLimit",
    "IPBannedError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "ReduceFundsInfo",
    "ReduceFundsParams",
    "ResponseDecodeError",
    "RetryPolicy",
    "ServerError",
    "SigningMiddleware",
    "SmartTrade",
    "SmartTradeCreate",
    "SmartTradeUpdate",
    "ThreeCommasClient",
    "ThreeCommasError",
    "Trade",
    "UnprocessableEntityError",
    "__version__",
]
