"""What the benchmarks ask of the fake's process beyond ``testing._process.COMMANDS``: key pairs for many
tenants, and what one key sent (arrival times, answers by status), read on the server's side.

Commands run in the fake's child and are pickled by reference, so they are module-level functions here.
"""

from __future__ import annotations

from typing import Any, Final

from threecommas_async.testing._process import Command


def new_keys(server: Any, n: int) -> list[tuple[str, str]]:
    """``n`` fresh HMAC key pairs the fake accepts, each with its own rate-limit windows."""
    pairs: list[tuple[str, str]] = [server.new_key() for _ in range(n)]
    return pairs


def arrivals(server: Any, api_key: str) -> list[float]:
    """When each request of ``api_key`` arrived, on the server's clock (``time.monotonic``)."""
    return list(server.stats.key(api_key).arrivals)


def busiest(server: Any, api_key: str, period: float) -> int:
    """The most requests of ``api_key`` in any window of ``period`` seconds (the fake counts them)."""
    most: int = server.busiest_window(api_key, period)
    return most


def set_limits(server: Any, limits: Any) -> None:
    """Replace the fake's rate limits (``RateLimits`` or None); windows, blocks and bans start afresh."""
    server.rate_limit = limits


def key_statuses(server: Any, api_key: str) -> dict[int, int]:
    """How the fake answered ``api_key``'s requests: status -> count."""
    return dict(server.stats.key(api_key).by_status)


COMMANDS: Final[dict[str, Command]] = {
    "new_keys": new_keys,
    "arrivals": arrivals,
    "busiest": busiest,
    "key_statuses": key_statuses,
    "set_limits": set_limits,
}
