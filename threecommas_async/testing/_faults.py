"""Faults the fake injects on demand: 5xx, HTML edge pages, latency, resets, truncation, bad JSON, 429.

Usage (``server.faults`` is a :class:`Faults`)::

    server.faults.add("http_503", method="DELETE", route="cancel", times=2)   # next 2 cancels get 503
    server.faults.add(FaultKind.RESET_AFTER, path="/v2/smart_trades/42")       # every request on that path
    server.faults.add("latency", delay=0.05)                                   # every request, +50 ms
    server.faults.random(0.05, kinds=["http_502", "reset_before"], seed=1)    # 5 % of requests, seeded
    server.faults.clear()

A request gets at most one fault: the first explicit rule that matches and still has ``times`` left
(rules are consulted in the order they were added), else the random rule if it fires. What each kind
does, and whether the request is processed (state changed) before the client sees the fault:

============== ========================================================================= =========
kind           what the client observes                                                  processed
============== ========================================================================= =========
http_500..504  that status with a JSON body ``{"error": "unknown_error", ...}``          no
html_error     an nginx-like HTML error page (``status``, default 502, text/html)          no
latency        the normal answer, ``delay`` seconds later (default 0.1 s)                yes
reset_before   the connection is aborted before the request is looked at                 no
reset_after    the request is fully processed, then the connection is aborted unanswered yes
truncated      status line, headers and part of the body, Content-Length promising more  yes
malformed_json 200 with a body that is not JSON                                          yes
rate_limit     429 ``rate_limit_exceeded``, with ``Retry-After`` when ``retry_after`` set no
============== ========================================================================= =========

An injected ``rate_limit`` is a real 429: like one from the rate limiter, it blocks the client's identity
(its API key by default, see ``RateLimits.key_by``) from every endpoint for ``block`` seconds if given, else
``retry_after`` if given, else the global rule's block (``rate_limit=None`` or no global rule: 300 s,
3Commas' documented block). Requests arriving within ``RateLimits.ban_grace`` of the 429 (in flight, the
client could not recall them) answer 429 too; later ones, while the block lasts, answer 418 and start a
ban. With ``rate_limit=None`` the grace, ban and growth are those of ``RateLimits()`` (1 s grace, 2 min
first ban); for other figures pass e.g. ``RateLimits.scaled(120, global_rule=None, list_rule=None)``.

Faults come after the rate limiter: a request refused with 429 or 418 consumes no fault, and every
request that gets a fault counted toward the limits (the client sent it).
"""

from __future__ import annotations

import enum
import fnmatch
import random as _random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["FaultKind", "FaultRule", "Faults"]


class FaultKind(enum.StrEnum):
    HTTP_500 = "http_500"
    HTTP_502 = "http_502"
    HTTP_503 = "http_503"
    HTTP_504 = "http_504"
    HTML_ERROR = "html_error"
    LATENCY = "latency"
    RESET_BEFORE = "reset_before"
    RESET_AFTER = "reset_after"
    TRUNCATED = "truncated"
    MALFORMED_JSON = "malformed_json"
    RATE_LIMIT = "rate_limit"


#: Kinds that act after the request was processed (the server's state already changed).
AFTER_PROCESSING = frozenset(
    {FaultKind.RESET_AFTER, FaultKind.TRUNCATED, FaultKind.MALFORMED_JSON, FaultKind.LATENCY}
)


@dataclass(slots=True)
class FaultRule:
    """One fault rule; ``remaining`` is ``None`` for "forever", ``hits`` counts the requests it hit."""

    kind: FaultKind
    method: str | None = None
    route: str | None = None
    path: str | None = None
    remaining: int | None = 1
    status: int | None = None
    delay: float | None = None
    retry_after: float | None = None
    block: float | None = None
    hits: int = 0
    _path_re: re.Pattern[str] | None = field(default=None, repr=False)

    def matches(self, method: str, route: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method is not None and self.method != method:
            return False
        if self.route is not None and self.route != route:
            return False
        return self._path_re is None or self._path_re.match(path) is not None


@dataclass(slots=True)
class _RandomRule:
    ratio: float
    kinds: tuple[FaultKind, ...]
    rng: _random.Random
    method: str | None
    route: str | None
    delay: float | None
    retry_after: float | None
    block: float | None


def _check_block(retry_after: float | None, block: float | None) -> None:
    if (retry_after is not None and not retry_after >= 0) or (block is not None and not block >= 0):
        raise ValueError("retry_after and block must be >= 0")


class Faults:
    """The fault injector of one server. All methods are synchronous and cheap."""

    __slots__ = ("_random", "_rules", "active")

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._random: _RandomRule | None = None
        #: False when no rule is installed: the server skips fault matching entirely.
        self.active = False

    def add(
        self,
        kind: FaultKind | str,
        *,
        method: str | None = None,
        route: str | None = None,
        path: str | None = None,
        times: int | None = 1,
        status: int | None = None,
        delay: float | None = None,
        retry_after: float | None = None,
        block: float | None = None,
    ) -> FaultRule:
        """Inject ``kind`` into the next ``times`` matching requests (``times=None``: every one).

        ``method`` is an HTTP method (``"DELETE"``); ``route`` a route name (``"cancel"``, ``"get"``,
        ``"list"``, ``"create"``, … — the SDK's method names, see ``ROUTES``); ``path`` a glob matched
        against the path below ``/public/api`` (``"/v2/smart_trades/4*"``). ``status`` overrides the
        status of ``html_error``; ``delay`` is the latency of ``latency``; ``retry_after`` the header
        of ``rate_limit`` and ``block`` how long its block lasts (see the module docstring).
        """
        fk = FaultKind(kind)
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        _check_block(retry_after, block)
        rule = FaultRule(
            fk,
            method=method.upper() if method else None,
            route=route,
            path=path,
            remaining=times,
            status=status,
            delay=delay,
            retry_after=retry_after,
            block=block,
            _path_re=re.compile(fnmatch.translate(path)) if path is not None else None,
        )
        self._rules.append(rule)
        self.active = True
        return rule

    def random(
        self,
        ratio: float,
        *,
        kinds: Iterable[FaultKind | str] = (FaultKind.HTTP_500, FaultKind.HTTP_502, FaultKind.HTTP_503),
        seed: int | None = None,
        method: str | None = None,
        route: str | None = None,
        delay: float | None = None,
        retry_after: float | None = None,
        block: float | None = None,
    ) -> None:
        """Hit a seeded-random ``ratio`` (0..1) of the matching requests with one of ``kinds``.

        Replaces any previous random rule; ``ratio=0`` removes it.
        """
        if not 0.0 <= ratio <= 1.0:
            raise ValueError("ratio must be within 0..1")
        ks = tuple(FaultKind(k) for k in kinds)
        if not ks:
            raise ValueError("kinds is empty")
        _check_block(retry_after, block)
        self._random = (
            _RandomRule(
                ratio,
                ks,
                _random.Random(seed),
                method.upper() if method else None,
                route,
                delay,
                retry_after,
                block,
            )
            if ratio > 0
            else None
        )
        self.active = bool(self._rules) or self._random is not None

    def clear(self) -> None:
        """Remove every rule, explicit and random."""
        self._rules.clear()
        self._random = None
        self.active = False

    @property
    def rules(self) -> list[FaultRule]:
        """The explicit rules still in force (a copy), in matching order; spent ones are dropped."""
        return list(self._rules)

    def pick(self, method: str, route: str, path: str) -> FaultRule | None:
        """The fault for one request, consuming one of its ``times``; ``None`` for no fault."""
        for rule in self._rules:
            if rule.matches(method, route, path):
                rule.hits += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                        self.active = bool(self._rules) or self._random is not None
                return rule
        rnd = self._random
        if (
            rnd is not None
            and (rnd.method is None or rnd.method == method)
            and (rnd.route is None or rnd.route == route)
            and rnd.rng.random() < rnd.ratio
        ):
            return FaultRule(
                rnd.rng.choice(rnd.kinds),
                remaining=None,
                delay=rnd.delay,
                retry_after=rnd.retry_after,
                block=rnd.block,
                hits=1,
            )
        return None
