"""From the options to a client: base URL, credentials, rate limit, time limit, event hook.

Every default is the SDK's own (``RateLimit()``, ``DEFAULT_TIMEOUT``, ``DEFAULT_BASE_URL``): the command
line changes only what an option asks for.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping
from typing import Final

from .._client import DEFAULT_TIMEOUT, ThreeCommasClient
from .._events import EventHook
from .._ratelimit import RateLimit
from ._credentials import Credentials, base_url
from ._exit import UsageError

__all__ = ["DOCUMENTED", "ENV_LIMITS_STORAGE", "limit_of", "limits_storage", "make_client", "rate_limit"]

DOCUMENTED: Final = RateLimit()
"""3Commas' documented limits: the client's defaults, and what every limit here is scaled from."""
ENV_LIMITS_STORAGE: Final = "THREECOMMAS_LIMITS_STORAGE"


def limits_storage(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    """``--limits-storage``, else ``$THREECOMMAS_LIMITS_STORAGE``, else a SQLite file in the user's state
    directory: every command of this user on this machine shares one allowance, so back-to-back
    commands never walk into a 429 or a ban that the one before provoked."""
    chosen = getattr(args, "limits_storage", None) or environ.get(ENV_LIMITS_STORAGE, "").strip()
    if chosen:
        return chosen
    state = environ.get("XDG_STATE_HOME", "").strip()
    if not state or not os.path.isabs(state):
        home = environ.get("HOME", "").strip() or os.path.expanduser("~")
        state = os.path.join(home, ".local", "state")
    return "sqlite:///" + os.path.join(state, "threecommas-async", "limits.db").lstrip("/")


def rate_limit(
    *,
    max_rate: float | None = None,
    max_wait: float | None = None,
    scale: float = 1.0,
    storage: str = DOCUMENTED.storage,
) -> RateLimit:
    """3Commas' documented limits (the client's defaults) with ``max_rate`` requests per minute and
    ``max_wait`` seconds of patience for a cool-down (``inf``: any), every duration divided by ``scale``
    (the twin of the fake's ``RateLimits.scaled(scale)``), kept in ``storage``."""
    changes: dict[str, object] = {"storage": storage}
    if max_rate is not None:
        changes["max_rate"] = max_rate
    if max_wait is not None:
        changes["max_wait"] = max_wait / scale
    return RateLimit.scaled(scale, **changes)


def limit_of(args: argparse.Namespace, scale: float, environ: Mapping[str, str]) -> RateLimit:
    """The client's rate limit for these options: only the client-wide window changes with --max-rate,
    only the patience for a cool-down with --wait / --max-wait, and where it is kept with
    --limits-storage."""
    max_wait = math.inf if args.wait else args.max_wait
    try:
        return rate_limit(
            max_rate=args.max_rate, max_wait=max_wait, scale=scale, storage=limits_storage(args, environ)
        )
    except ValueError as exc:
        raise UsageError(f"--limits-storage: {exc}") from None


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
