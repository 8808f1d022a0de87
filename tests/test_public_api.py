"""Guards the public surface: renaming or dropping any of these breaks users."""

from __future__ import annotations

import threecommas_async

EXPECTED = {
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
}


def test_exported_names_are_exactly_the_contract() -> None:
    assert set(threecommas_async.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(threecommas_async, name), name


def test_error_hierarchy() -> None:
    t = threecommas_async
    for name in (
        "APIError",
        "APIConnectionError",
        "ResponseDecodeError",
    ):
        assert issubclass(getattr(t, name), t.ThreeCommasError)
    for name in (
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "UnprocessableEntityError",
        "RateLimitError",
        "IPBannedError",
        "ServerError",
    ):
        assert issubclass(getattr(t, name), t.APIError)
    assert issubclass(t.APITimeoutError, t.APIConnectionError)


def test_package_ships_py_typed() -> None:
    from importlib.resources import files

    assert files("threecommas_async").joinpath("py.typed").is_file()
