"""From the options to a client: base URL, credentials, rate limit, time limit, event hook.

Every default is the SDK's own (``RateLimit()``, ``DEFAULT_TIMEOUT``, ``DEFAULT_BASE_URL``): the command
line changes only what an option asks for.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from typing import Final

from .._client import DEFAULT_TIMEOUT, ThreeCommasClient
from .._events import EventHook
from .._ratelimit import EndpointLimit, RateLimit
from ._credentials import Credentials, base_url
from ._exit import UsageError

__all__ = ["DOCUMENTED", "limit_of", "make_client", "rate_limit"]

DOCUMENTED: Final = RateLimit()
"""3Commas' documented limits: the client's defaults, and what every limit here is scaled from."""


def rate_limit(
    *, max_rate: float | None = None, max_wait: float | None = None, scale: float = 1.0
) -> RateLimit:
    """3Commas' documented limits (the client's defaults) with ``max_rate`` requests per minute and
    ``max_wait`` seconds of patience for a cool-down (``inf``: any), every duration divided by ``scale``
    (the twin of the fake's ``RateLimits.scaled(scale)``)."""
    return RateLimit(
        max_rate=DOCUMENTED.max_rate if max_rate is None else max_rate,
        time_period=DOCUMENTED.time_period / scale,
        cooldown=DOCUMENTED.cooldown / scale,
        endpoints={
            key: EndpointLimit(limit.max_rate, limit.time_period / scale, limit.cooldown / scale)
            for key, limit in DOCUMENTED.endpoints.items()
        },
        max_wait=(DOCUMENTED.max_wait if max_wait is None else max_wait) / scale,
        ban_duration=DOCUMENTED.ban_duration / scale,
        margin=DOCUMENTED.margin,
    )


def limit_of(args: argparse.Namespace, scale: float) -> RateLimit:
    """The client's rate limit for these options: only the client-wide window changes with --max-rate,
    and only the patience for a cool-down with --wait / --max-wait."""
    max_wait = math.inf if args.wait else args.max_wait
    return rate_limit(max_rate=args.max_rate, max_wait=max_wait, scale=scale)


def make_client(
    args: argparse.Namespace,
    credentials: Credentials,
    environ: Mapping[str, str],
    limit: RateLimit,
    hook: EventHook,
) -> ThreeCommasClient:
    try:
        return ThreeCommasClient(
            credentials.api_key,
            credentials.api_secret,
            credentials.private_key,
            base_url=base_url(args, environ),
            forced_mode=args.forced_mode,
            rate_limit=limit,
            timeout=DEFAULT_TIMEOUT if args.timeout is None else args.timeout,
            event_hook=hook,
        )
    except ValueError as exc:
        # The client's message may quote the base URL; the output's Secrets filter hides it.
        if credentials.private_key_source is not None and "private_key" in str(exc):
            raise UsageError(
                f"the private key file named by {credentials.private_key_source} is not usable: {exc}"
            ) from None
        raise UsageError(f"unusable settings: {exc}") from None
