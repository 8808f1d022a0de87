"""How fast a client may send: :class:`RateLimit` and :class:`EndpointLimit`, plain immutable settings.

Why a sliding log and not a leaky bucket (aiolimiter's ``AsyncLimiter``): a bucket that starts empty lets
``max_rate`` through at once and then refills while the first window is still open, so the first
``time_period`` can carry nearly twice the limit, and 3Commas answers the excess with 429 and then a ban.
A sliding log states the rule exactly ("at most N in ANY window of T seconds") and lets a burst up to N out
at once. The log itself is ``_ledger.py``; where it lives (this process, this machine, many machines) is
the ``storage`` (``_storage.py``); the waiting room in front of it is ``_gate.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

from ._storage import redact

__all__ = ["LIST_ENDPOINT", "MAX_BAN", "EndpointLimit", "RateLimit"]

MAX_BAN: Final = 3 * 24 * 3600.0
"""3Commas' longest documented ban."""


def _check_limit(owner: str, max_rate: float, time_period: float, cooldown: float) -> None:
    # int(max_rate) < 1 would make a window that never admits anything: a silent, endless wait.
    if not max_rate >= 1:
        raise ValueError(f"{owner}: max_rate must be at least 1, got {max_rate!r}")
    if not time_period >= 0 or not cooldown >= 0:
        raise ValueError(f"{owner}: time_period and cooldown must not be negative")


@dataclass(frozen=True, slots=True)
class EndpointLimit:
    """A limit of its own for one endpoint, on top of the client-wide one."""

    max_rate: float
    time_period: float
    cooldown: float
    """How long 3Commas blocks this endpoint after a 429 it caused (used when no Retry-After comes)."""

    def __post_init__(self) -> None:
        _check_limit("EndpointLimit", self.max_rate, self.time_period, self.cooldown)


LIST_ENDPOINT: Final = "GET /v2/smart_trades"

DEFAULT_ENDPOINT_LIMITS: Final[Mapping[str, EndpointLimit]] = MappingProxyType(
    {LIST_ENDPOINT: EndpointLimit(max_rate=40, time_period=10.0, cooldown=10.0)}
)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """How fast the client may send. Defaults are 3Commas' documented limits. Immutable, so one
    instance can be shared by many clients.

    :param max_rate: at most this many requests in any window of ``time_period`` seconds, client-wide.
    :param time_period: the window, in seconds.
    :param cooldown: after a 429 without ``Retry-After``, how long every request waits (3Commas blocks
        for 300 s).
    :param endpoints: extra per-endpoint limits keyed ``"METHOD /path"`` (numeric path segments written
        ``{id}``, e.g. ``"GET /v2/smart_trades/{id}/trades"``); the list endpoint defaults to 40 per 10 s
        with a 10 s cool-down.
    :param max_wait: a request that would have to wait longer than this for a cool-down raises
        :class:`RateLimitError` (with ``retry_after``) at once instead of sleeping.
    :param ban_duration: after a 418 without ``Retry-After``, how long the client refuses to send; it
        doubles with each further 418 that follows without a success in between (3Commas' bans grow).
    :param margin: fraction of ``time_period`` added to each window, for servers that count in coarser
        windows than they document. Not needed for network delay: see ``_ledger``.
    :param storage: where the limiter's state lives, by URL: ``"memory://"`` (every client of this
        process; ``memory://NAME`` is a separate one), ``"sqlite:///ABSOLUTE/PATH.db"`` (every process of
        this machine), ``"redis://[:password@]host:port/db"``, ``rediss://``, ``unix://`` (every process
        of every machine using that Redis; extra ``threecommas-async[redis]``). Clients with the same API
        key and storage share one allowance and its 429 cool-downs; a 418 ban holds for every key of the
        storage (3Commas bans the IP). Keys are stored as a fingerprint, never in clear.
    :param reserve: the share of the global window that only risk-reducing requests (cancels, closes at
        market) may use, so that reads and writes of other processes never take the last slots a panic
        needs. Within one client, risk-reducing requests also go first when requests wait.
    :param max_cooldown: a 429's ``Retry-After`` is obeyed up to this many seconds (3Commas documents a
        300 s block; a larger value would lock every call out, cancels included).
    :param adaptive: when a 429 arrives although this key's windows were not full, the server allows the
        key less than configured (a smaller plan, another program on the key): send at most what provably
        passed, for ``learn_for`` seconds (default: 60 windows), then try the configured rate again. Never
        more than configured.
    :param storage_timeout: how long to keep trying a storage that cannot be reached before requests fail
        with :class:`~threecommas_async.RateLimitStorageError` (fail closed: nothing is sent unlimited).
    :param fallback: ``"local"``: while the storage is out of reach, limit in this process instead, to
        ``max_rate / expected_processes`` (said once in the log), rather than fail.
    """

    max_rate: float = 100
    time_period: float = 60.0
    _: KW_ONLY
    cooldown: float = 300.0
    endpoints: Mapping[str, EndpointLimit] = field(default_factory=lambda: DEFAULT_ENDPOINT_LIMITS)
    max_wait: float = 60.0
    ban_duration: float = 120.0
    margin: float = 0.0
    storage: str = field(default="memory://", repr=False)
    reserve: float = 0.05
    max_cooldown: float = 600.0
    adaptive: bool = True
    learn_for: float | None = None
    storage_timeout: float = 5.0
    fallback: Literal["local"] | None = None
    expected_processes: int = 4

    def __post_init__(self) -> None:
        _check_limit("RateLimit", self.max_rate, self.time_period, self.cooldown)
        if not self.max_wait >= 0 or not self.ban_duration >= 0:
            raise ValueError("RateLimit: max_wait and ban_duration must not be negative")
        if not 0 <= self.margin < 1:
            raise ValueError(f"RateLimit: margin must be in [0, 1), got {self.margin!r}")
        if not 0 <= self.reserve < 1:
            raise ValueError(f"RateLimit: reserve must be in [0, 1), got {self.reserve!r}")
        if not self.max_cooldown > 0 or not self.storage_timeout > 0:
            raise ValueError("RateLimit: max_cooldown and storage_timeout must be positive")
        if self.fallback not in (None, "local"):
            raise ValueError(f"RateLimit: fallback must be None or 'local', got {self.fallback!r}")
        if not isinstance(self.expected_processes, int) or self.expected_processes < 1:
            raise ValueError("RateLimit: expected_processes must be a positive integer")
        if not isinstance(self.storage, str) or "://" not in self.storage:
            shown = redact(self.storage) if isinstance(self.storage, str) else self.storage
            raise ValueError(f"RateLimit: storage must be a URL such as 'memory://', got {shown!r}")
        if self.learn_for is None:
            object.__setattr__(self, "learn_for", 60 * self.time_period)
        elif not (self.learn_for >= 0 and math.isfinite(self.learn_for)):
            raise ValueError("RateLimit: learn_for must be a finite number of seconds >= 0")
        for key, limit in self.endpoints.items():
            if not isinstance(limit, EndpointLimit):
                raise TypeError(f"RateLimit: endpoints[{key!r}] must be an EndpointLimit, got {limit!r}")
        object.__setattr__(self, "endpoints", MappingProxyType(dict(self.endpoints)))

    @classmethod
    def scaled(cls, speedup: float, **changes: Any) -> RateLimit:
        """3Commas' documented limits with every duration divided by ``speedup``: the client-side twin of
        the fake server's ``RateLimits.scaled(speedup)`` (``scaled(120)``: 100 requests per 0.5 s, a 2.5 s
        cool-down, 1 s bans), for demos and tests. ``changes`` are applied as given (not scaled)."""
        if not speedup > 0:
            raise ValueError(f"RateLimit.scaled: speedup must be positive, got {speedup!r}")
        base = cls()
        settings: dict[str, Any] = {
            "time_period": base.time_period / speedup,
            "cooldown": base.cooldown / speedup,
            "endpoints": {
                key: EndpointLimit(limit.max_rate, limit.time_period / speedup, limit.cooldown / speedup)
                for key, limit in base.endpoints.items()
            },
            "max_wait": base.max_wait / speedup,
            "ban_duration": base.ban_duration / speedup,
            "max_cooldown": base.max_cooldown / speedup,
        }
        settings.update(changes)
        return cls(**settings)
