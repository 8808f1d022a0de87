"""Guards the public surface: renaming or dropping any of these breaks users."""

from __future__ import annotations

from types import ModuleType

import pytest

import threecommas_async

pytestmark = pytest.mark.unit

CONTRACT = {
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


def test_all_is_exactly_what_the_package_defines() -> None:
    """``__all__`` is derived from the module (httpx's test): nothing public that is not exported, nothing
    exported that is not there, sorted."""
    public = [
        name
        for name, value in vars(threecommas_async).items()
        if (not name.startswith("_") or name == "__version__") and not isinstance(value, ModuleType)
    ]
    assert threecommas_async.__all__ == sorted(public)


def test_the_documented_contract_is_exported() -> None:
    """The names ``API.md`` fixes: dropping or renaming one breaks users."""
    assert set(threecommas_async.__all__) >= CONTRACT
    for name in CONTRACT:
        assert hasattr(threecommas_async, name), name


def test_the_version_comes_from_the_installed_metadata() -> None:
    from importlib.metadata import version

    assert threecommas_async.__version__ == version("threecommas-async")


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
