"""Server-side rate limiting of the fake, shaped like 3Commas': 429, a block, then 418 bans.

Who is counted: 3Commas gives each API key its own allowance and bans the IP. So by default
(``key_by="api_key"``) the windows and the 429 blocks are kept per API key (the ``Apikey`` header of a
key the server knows; requests without a known key are counted per client IP), and the 418 bans per
client IP: a ban earned by one key refuses every key used from that address. ``key_by="ip"`` counts
windows and blocks per client IP as well (every key used from one address shares one allowance).

Algorithm (per identity and per rule):

* ``"sliding"`` (default): a sliding log. A deque holds the arrival times of the admitted requests of
  the last ``period`` seconds (at most ``max_requests`` entries, so it stays tiny); a request is refused
  when ``max_requests`` of them are younger than ``period``. This is exactly "at most N requests in ANY
  window of T seconds", the contract the SDK's client-side limiter promises to honour.
* ``"fixed"``: a fixed window counter (cheaper still, and more lenient at window edges).

The first refused request answers 429 and blocks the identity for ``block`` seconds (for that rule:
the list rule blocks only the list endpoint, the global rule blocks everything). An injected 429 (a
``rate_limit`` or ``respond`` fault) blocks the identity the same way (globally; see :mod:`._faults`).

Requests that were already in flight when the 429 went out cannot be recalled by the client, so they
are not "keeping on sending": during the first ``ban_grace`` seconds of a block, requests answer 429
(the block goes on unchanged, they are counted as 429s). A request that arrives later while the block
lasts answers 418 and bans the client IP from every endpoint, for every key; bans start at ``ban``
seconds and grow by ``ban_growth`` per further ban up to ``max_ban`` (3Commas: 2 minutes to 3 days). A
418 always carries ``Retry-After`` (the ban left); a 429 carries it (the block left) only when
``retry_after`` is true (for an injected fault: when the fault has a ``retry_after``), because 3Commas
does not document one.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, TypeAlias

from threecommas_async import EndpointLimit, RateLimit

__all__ = ["RateLimitRule", "RateLimits", "client_rate_limit"]

LIST_ENDPOINT: Final = "GET /v2/smart_trades"
"""The SDK's name of the endpoint the list rule limits (``RateLimit.endpoints`` key)."""
_UNLIMITED: Final = 1_000_000


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


MIN_SCALED_GRACE: Final = 0.1
"""The shortest ``ban_grace`` :meth:`RateLimits.scaled` gives. Measured with the demo (32 concurrent
cancels, fake in another process, 2 cores): requests sent before the client saw an injected 429 reached
the fake up to 13 ms after it when idle and up to 60 ms with the CPUs busy."""


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The fake's rate limits. Defaults are the documented 3Commas figures.

    ``global_rule`` applies to every request, ``list_rule`` to ``GET /v2/smart_trades`` on top of it;
    either may be ``None``. Pass ``rate_limit=None`` to ``FakeThreeCommas`` to turn limiting off.

    ``ban_grace``: for this long after the 429 that starts a block, further requests answer 429 rather
    than 418 (they were in flight; a client cannot recall them). 1 s by default; :meth:`scaled` divides
    it by the speedup but keeps at least :data:`MIN_SCALED_GRACE` (0.1 s). A grace as long as a block
    means that block never ends in a ban (at 120x the list rule's 1/12 s block).

    ``key_by``: whom windows and 429 blocks are counted for. ``"api_key"`` (default, as 3Commas does):
    each API key the server knows has its own allowance, requests without a known key are counted per
    client IP. ``"ip"``: per client IP, every key used from one address sharing one allowance. Either
    way 418 bans are per client IP (3Commas bans the IP): a ban refuses every key used from it.
    """

    global_rule: RateLimitRule | None = RateLimitRule(100, 60.0, 300.0)
    list_rule: RateLimitRule | None = RateLimitRule(40, 10.0, 10.0)
    ban: float = 120.0
    ban_growth: float = 2.0
    max_ban: float = 3 * 24 * 3600.0
    retry_after: bool = False
    algorithm: Literal["sliding", "fixed"] = "sliding"
    key_by: Literal["api_key", "ip"] = "api_key"
    ban_grace: float = 1.0

    def __post_init__(self) -> None:
        if self.key_by not in ("api_key", "ip"):
            raise ValueError("key_by must be 'api_key' or 'ip'")
        if self.algorithm not in ("sliding", "fixed"):
            raise ValueError("algorithm must be 'sliding' or 'fixed'")
        if not self.ban_grace >= 0 or not self.ban >= 0:
            raise ValueError("ban_grace and ban must be >= 0")

    @classmethod
    def scaled(cls, speedup: float, **changes: object) -> RateLimits:
        """The documented limits with every duration divided by ``speedup``.

        ``RateLimits.scaled(120)`` allows 200 requests/s (100 per 0.5 s) with a 2.5 s block and a 1 s
        first ban: the 3Commas shape at demo speed. The grace is the exception: ``1 s / speedup`` but at
        least :data:`MIN_SCALED_GRACE`, because what it covers (network and queueing delays, the time
        the client takes to see the 429) does not shrink with the speedup. At 120x, 1/120 s is less than
        the time 32 concurrent requests take to be read by the fake, and a correct client was banned.
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
            ban_grace=max(base.ban_grace / speedup, MIN_SCALED_GRACE),
        )
        return replace(scaled, **changes)  # type: ignore[arg-type]


#: No rules: only blocks started by injected 429 faults (``FakeThreeCommas(rate_limit=None)``).
NO_RULES: Final = RateLimits(global_rule=None, list_rule=None)
#: How long an injected 429 blocks when neither the fault nor the global rule says: 3Commas' 300 s.
DEFAULT_BLOCK: Final = 300.0


@dataclass(slots=True)
class _Block:
    until: float
    grace_until: float
    advertise: bool  # whether its 429s carry Retry-After


@dataclass(slots=True)
class _Window:
    hits: deque[float] = field(default_factory=deque)
    window_start: float = -math.inf
    count: int = 0
    block: _Block | None = None


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


Verdict: TypeAlias = tuple[int, float, float | None]
"""``(status, seconds, retry_after)``: status 0 admits; 429/418 refuse, ``seconds`` until a retry makes
sense, ``retry_after`` the ``Retry-After`` to send (``None``: no header)."""

OK: Final[Verdict] = (0, 0.0, None)


class RateLimiter:
    """The mutable counters behind a :class:`RateLimits` configuration (one per server)."""

    __slots__ = ("_bans", "_blocks", "_global", "_list", "config", "idle", "per_key")

    def __init__(self, config: RateLimits) -> None:
        self.config = config
        self._global = _RuleState(config.global_rule, config.algorithm) if config.global_rule else None
        self._list = _RuleState(config.list_rule, config.algorithm) if config.list_rule else None
        self._bans: dict[str, _Ban] = {}  # per client IP
        self._blocks: dict[str, _Block] = {}  # global-scope blocks: the global rule's and injected ones
        #: True when windows and blocks are counted per API key (``key_by="api_key"``).
        self.per_key = config.key_by == "api_key"
        #: True while there is nothing to enforce (no rule, no block, no ban): the server skips check().
        self.idle = self._global is None and self._list is None

    def reset(self) -> None:
        self._bans.clear()
        self._blocks.clear()
        for rs in (self._global, self._list):
            if rs is not None:
                rs.windows.clear()
        self.idle = self._global is None and self._list is None

    def check(self, identity: str, ip: str, is_list: bool, now: float) -> Verdict:
        """Admit the request (:data:`OK`) or refuse it with 429 or 418.

        ``identity`` is whom windows and blocks count (an API key or an IP, see ``key_by``); ``ip`` is
        the client address, whom bans hit.
        """
        ban = self._bans.get(ip)
        if ban is not None and now < ban.until:
            return 418, ban.until - now, ban.until - now
        block = self._blocks.get(identity)
        if block is not None and now < block.until:
            return self._blocked(ip, block, now)
        lw: _Window | None = None
        ls = self._list if is_list else None
        if ls is not None:
            lw = ls.windows.get(identity)
            if lw is None:
                lw = ls.windows[identity] = _Window()
            if lw.block is not None and now < lw.block.until:
                return self._blocked(ip, lw.block, now)
        gs = self._global
        gw: _Window | None = None
        if gs is not None:
            gw = gs.windows.get(identity)
            if gw is None:
                gw = gs.windows[identity] = _Window()
            if gs.full(gw, now):
                return self._start(self._blocks, identity, gs.rule.block, now)
        if ls is not None and lw is not None:
            if ls.full(lw, now):
                lw.block = self._new_block(ls.rule.block, now, self.config.retry_after)
                return self._refused_first(lw.block, ls.rule.block)
            ls.admit(lw, now)
        if gs is not None and gw is not None:
            gs.admit(gw, now)
        return OK

    def block(self, identity: str, duration: float, now: float, *, retry_after: bool) -> None:
        """Block ``identity`` everywhere for ``duration`` s from ``now``, as after a 429 (injected faults).

        Within a block's grace this extends it, keeping its grace; otherwise a fresh block starts.
        """
        self.idle = False
        current = self._blocks.get(identity)
        if current is not None and now < current.until:
            current.until = max(current.until, now + duration)
            current.advertise = current.advertise or retry_after
            return
        self._blocks[identity] = self._new_block(duration, now, retry_after)

    def _new_block(self, duration: float, now: float, advertise: bool) -> _Block:
        return _Block(now + duration, now + self.config.ban_grace, advertise)

    def _start(self, blocks: dict[str, _Block], identity: str, duration: float, now: float) -> Verdict:
        block = blocks[identity] = self._new_block(duration, now, self.config.retry_after)
        return self._refused_first(block, duration)

    @staticmethod
    def _refused_first(block: _Block, duration: float) -> Verdict:
        return 429, duration, duration if block.advertise else None

    def _blocked(self, ip: str, block: _Block, now: float) -> Verdict:
        if now < block.grace_until:
            left = block.until - now
            return 429, left, left if block.advertise else None
        duration = self._ban(ip, now)
        return 418, duration, duration

    def _ban(self, ip: str, now: float) -> float:
        cfg = self.config
        ban = self._bans.get(ip)
        if ban is None:
            ban = self._bans[ip] = _Ban()
        duration = min(cfg.ban * cfg.ban_growth**ban.count, cfg.max_ban)
        ban.count += 1
        ban.until = now + duration
        return duration


def client_rate_limit(limits: RateLimits | None, **changes: Any) -> RateLimit | None:
    """The SDK's :class:`~threecommas_async.RateLimit` that keeps a client within ``limits``.

    The global rule gives ``max_rate`` / ``time_period`` / ``cooldown``; the list rule the
    ``"GET /v2/smart_trades"`` endpoint limit; ``ban`` the ``ban_duration``. Without a global rule the
    client gets no global limit to speak of, and the cool-down of an injected 429 (3Commas' 300 s).
    ``None`` when ``limits`` limit nothing. ``changes`` are further ``RateLimit`` arguments.
    """
    if limits is None or (limits.global_rule is None and limits.list_rule is None):
        return None
    g = limits.global_rule
    lr = limits.list_rule
    kwargs: dict[str, Any] = {
        "max_rate": g.max_requests if g is not None else _UNLIMITED,
        "time_period": g.period if g is not None else 1.0,
        "cooldown": g.block if g is not None else DEFAULT_BLOCK,
        "endpoints": (
            {LIST_ENDPOINT: EndpointLimit(max_rate=lr.max_requests, time_period=lr.period, cooldown=lr.block)}
            if lr is not None
            else {}
        ),
        "ban_duration": limits.ban,
    }
    kwargs.update(changes)
    return RateLimit(**kwargs)
