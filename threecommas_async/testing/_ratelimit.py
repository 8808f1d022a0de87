"""Server-side rate limiting of the fake, shaped like 3Commas': 429, a block, then 418 bans.

Algorithm (per client identity — the ``Apikey`` header, or the peer address without one — and per rule):

* ``"sliding"`` (default): a sliding log. A deque holds the arrival times of the admitted requests of
  the last ``period`` seconds (at most ``max_requests`` entries, so it stays tiny); a request is refused
  when ``max_requests`` of them are younger than ``period``. This is exactly "at most N requests in ANY
  window of T seconds", the contract the SDK's client-side limiter promises to honour.
* ``"fixed"``: a fixed window counter (cheaper still, and more lenient at window edges).

The first refused request answers 429 and blocks the identity for ``block`` seconds (for that rule:
the list rule blocks only the list endpoint, the global rule blocks everything). Any request sent
while blocked answers 418 and bans the identity from every endpoint; bans start at ``ban`` seconds and
grow by ``ban_growth`` per further ban up to ``max_ban`` (3Commas: 2 minutes to 3 days). A 418 always
carries ``Retry-After`` (the ban left); a 429 carries it only when ``retry_after`` is true, because
3Commas does not document one.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Final, Literal

__all__ = ["RateLimitRule", "RateLimits"]


@dataclass(frozen=True, slots=True)
class RateLimitRule:
    """At most ``max_requests`` per ``period`` seconds; exceeding it blocks for ``block`` seconds."""

    max_requests: int
    period: float
    block: float

    def __post_init__(self) -> None:
        if self.max_requests < 1:
            raise ValueError("max_requests must be >= 1")
        if self.period <= 0 or self.block < 0:
            raise ValueError("period must be > 0 and block >= 0")


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The fake's rate limits. Defaults are the documented 3Commas figures.

    ``global_rule`` applies to every request, ``list_rule`` to ``GET /v2/smart_trades`` on top of it;
    either may be ``None``. Pass ``rate_limit=None`` to ``FakeThreeCommas`` to turn limiting off.
    """

    global_rule: RateLimitRule | None = RateLimitRule(100, 60.0, 300.0)
    list_rule: RateLimitRule | None = RateLimitRule(40, 10.0, 10.0)
    ban: float = 120.0
    ban_growth: float = 2.0
    max_ban: float = 3 * 24 * 3600.0
    retry_after: bool = False
    algorithm: Literal["sliding", "fixed"] = "sliding"
    key_by: Literal["api_key", "ip"] = "api_key"

    @classmethod
    def scaled(cls, speedup: float, **changes: object) -> RateLimits:
        """The documented limits with every duration divided by ``speedup``.

        ``RateLimits.scaled(120)`` allows 200 requests/s (100 per 0.5 s) with a 2.5 s block and a 1 s
        first ban: the 3Commas shape at demo speed.
        """
        if speedup <= 0:
            raise ValueError("speedup must be > 0")
        base = cls()

        def s(rule: RateLimitRule | None) -> RateLimitRule | None:
            if rule is None:
                return None
            return RateLimitRule(rule.max_requests, rule.period / speedup, rule.block / speedup)

        scaled = replace(
            base,
            global_rule=s(base.global_rule),
            list_rule=s(base.list_rule),
            ban=base.ban / speedup,
            max_ban=base.max_ban / speedup,
        )
        return replace(scaled, **changes)  # type: ignore[arg-type]


@dataclass(slots=True)
class _Window:
    hits: deque[float] = field(default_factory=deque)
    window_start: float = -math.inf
    count: int = 0
    blocked_until: float = -math.inf


@dataclass(slots=True)
class _Ban:
    until: float = -math.inf
    count: int = 0


class _RuleState:
    __slots__ = ("fixed", "max_requests", "period", "rule", "windows")

    def __init__(self, rule: RateLimitRule, algorithm: str) -> None:
        self.rule = rule
        self.max_requests = rule.max_requests
        self.period = rule.period
        self.fixed = algorithm == "fixed"
        self.windows: dict[str, _Window] = {}

    def full(self, w: _Window, now: float) -> bool:
        if self.fixed:
            if now - w.window_start >= self.period:
                w.window_start = now
                w.count = 0
            return w.count >= self.max_requests
        hits = w.hits
        cutoff = now - self.period
        while hits and hits[0] <= cutoff:
            hits.popleft()
        return len(hits) >= self.max_requests

    def admit(self, w: _Window, now: float) -> None:
        if self.fixed:
            w.count += 1
        else:
            w.hits.append(now)


OK: Final = (0, 0.0)


class RateLimiter:
    """The mutable counters behind a :class:`RateLimits` configuration (one per server)."""

    __slots__ = ("_bans", "_global", "_list", "config")

    def __init__(self, config: RateLimits) -> None:
        self.config = config
        self._global = _RuleState(config.global_rule, config.algorithm) if config.global_rule else None
        self._list = _RuleState(config.list_rule, config.algorithm) if config.list_rule else None
        self._bans: dict[str, _Ban] = {}

    def reset(self) -> None:
        self._bans.clear()
        for rs in (self._global, self._list):
            if rs is not None:
                rs.windows.clear()

    def check(self, identity: str, is_list: bool, now: float) -> tuple[int, float]:
        """``(0, 0.0)`` to admit the request, else ``(429 or 418, seconds until retry makes sense)``."""
        ban = self._bans.get(identity)
        if ban is not None and now < ban.until:
            return 418, ban.until - now
        states = (self._global, self._list) if is_list else (self._global,)
        windows: list[tuple[_RuleState, _Window]] = []
        for rs in states:
            if rs is None:
                continue
            w = rs.windows.get(identity)
            if w is None:
                w = rs.windows[identity] = _Window()
            if now < w.blocked_until:
                return 418, self._ban(identity, now)
            if rs.full(w, now):
                w.blocked_until = now + rs.rule.block
                return 429, rs.rule.block
            windows.append((rs, w))
        for rs, w in windows:
            rs.admit(w, now)
        return OK

    def _ban(self, identity: str, now: float) -> float:
        cfg = self.config
        ban = self._bans.get(identity)
        if ban is None:
            ban = self._bans[identity] = _Ban()
        duration = min(cfg.ban * cfg.ban_growth**ban.count, cfg.max_ban)
        ban.count += 1
        ban.until = now + duration
        return duration
