"""Faults the fake injects on demand: 5xx, edge pages, latency, resets, truncation, bad JSON, 429, and
hostile answers (any status, body and headers; deep JSON; gzip bombs; endless bodies; no answer at all).

Usage (``server.faults`` is a :class:`Faults`)::

    server.faults.add("http_503", method="DELETE", route="cancel", times=2)   # next 2 cancels get 503
    server.faults.add(FaultKind.RESET_AFTER, path="/v2/smart_trades/42")       # every request on that path
    server.faults.add("latency", delay=0.05)                                   # every request, +50 ms
    server.faults.add("respond", route="cancel", status=429, headers=[("Retry-After", "-5")])
    server.faults.add("respond", route="cancel", process=True, body=lambda t: {**t, "id": 999})
    server.faults.random(0.05, kinds=["http_502", "reset_before"], seed=1)    # 5 % of requests, seeded
    server.faults.clear()

A request gets at most one fault: the first explicit rule that matches and still has ``times`` left
(rules are consulted in the order they were added), else the random rule if it fires. What each kind
does, and whether the request is processed (state changed) before the client sees the fault; kinds
marked "no*" / "yes*" take ``process=True`` / ``process=False`` to do the other:

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
respond        exactly ``status`` (default 200; processed: the real one), ``body`` and    no*
               ``headers`` (below). A 429 starts a real block, unless ``block=0``
deep_json      the answer (processed: the real status and JSON; else ``status`` or 200,  yes*
               ``{"id": <trade id>}``) with a key ``"x"`` nesting ``depth`` arrays
               (default 1,000): ``{"id": 57, ..., "x": [[[...]]]}``
gzip_bomb      ``status`` (default 200), ``Content-Encoding: gzip``: a ~2 MiB body that  no*
               inflates to ``size`` zero bytes (default 2 GiB)
endless        ``status`` (default 200), a chunked JSON-looking body that never ends: a  no*
               chunk every ``delay`` s (default: as fast as the client reads), until the
               client goes away or the server stops
hang           nothing: the request is read and never answered, until the client closes no*
               the connection or the server stops
============== ========================================================================= =========

``respond``: ``body`` is bytes (sent as they are), anything JSON-encodable (encoded), or, with
``process=True``, a callable given the processed answer's JSON (``None`` if it had no body) that
returns either; ``None``: the processed body, or nothing. ``headers`` is a list of ``(name, value)``
pairs, sent in that order, duplicates allowed (two ``Retry-After``); ``Content-Type: application/json``
is added when the body is not empty and the list names no Content-Type. E.g. a cancel answered with
another trade (``process=True, body=lambda t: {**t, "id": 999}``), with ``{}``, with the trade
unchanged (``body=server.get_trade(id)``), ``status=400, body={"error": "Not found"}``, ``status=204``
with no body, a 429 whose ``Retry-After`` is ``0``, ``-5``, a past HTTP date, ``1e308`` or a year-9999
date.

An injected 429 (``rate_limit``, or ``respond`` with ``status=429``) is a real 429: like one from the
rate limiter, it blocks the client's identity (its API key by default, see ``RateLimits.key_by``) from
every endpoint for ``block`` seconds if given, else (``rate_limit`` only) ``retry_after`` if given, else
the global rule's block (``rate_limit=None`` or no global rule: 300 s, 3Commas' documented block); a
``respond`` 429 never reads its block from its own (hostile) headers, and ``block=0`` starts none.
Requests arriving within ``RateLimits.ban_grace`` of the 429 (in flight, the client could not recall
them) answer 429 too; later ones, while the block lasts, answer 418 and start a ban of the IP. With
``rate_limit=None`` the grace, ban and growth are those of ``RateLimits()`` (1 s grace, 2 min first
ban); for other figures pass e.g. ``RateLimits.scaled(120, global_rule=None, list_rule=None)``.

Faults come after the rate limiter: a request refused with 429 or 418 consumes no fault, and every
request that gets a fault counted toward the limits (the client sent it). Each kind reads only the
options of its row; :meth:`Faults.add` refuses an option no kind given uses.
"""

from __future__ import annotations

import enum
import fnmatch
import random as _random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Final

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
    RESPOND = "respond"
    DEEP_JSON = "deep_json"
    GZIP_BOMB = "gzip_bomb"
    ENDLESS = "endless"
    HANG = "hang"


#: Kinds that act after the request was processed (the server's state already changed), by default.
AFTER_PROCESSING: Final = frozenset(
    {
        FaultKind.RESET_AFTER,
        FaultKind.TRUNCATED,
        FaultKind.MALFORMED_JSON,
        FaultKind.LATENCY,
        FaultKind.DEEP_JSON,
    }
)

# Which kinds read which option (an option given for none of the kinds of a rule is a mistake).
_K = FaultKind
_USES: Final[dict[str, frozenset[FaultKind]]] = {
    "status": frozenset({_K.HTML_ERROR, _K.RESPOND, _K.DEEP_JSON, _K.GZIP_BOMB, _K.ENDLESS}),
    "delay": frozenset({_K.LATENCY, _K.ENDLESS}),
    "retry_after": frozenset({_K.RATE_LIMIT}),
    "block": frozenset({_K.RATE_LIMIT, _K.RESPOND}),
    "body": frozenset({_K.RESPOND}),
    "headers": frozenset({_K.RESPOND}),
    "process": frozenset({_K.RESPOND, _K.DEEP_JSON, _K.GZIP_BOMB, _K.ENDLESS, _K.HANG}),
    "depth": frozenset({_K.DEEP_JSON}),
    "size": frozenset({_K.GZIP_BOMB}),
}

DEFAULT_DEPTH: Final = 1_000
DEFAULT_BOMB_SIZE: Final = 2 << 30

Headers = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class FaultRule:
    """One fault rule; ``remaining`` is ``None`` for "forever", ``hits`` counts the requests it hit.

    The options are those of :meth:`Faults.add`; ``process`` is ``None`` for the kind's default.
    """

    kind: FaultKind
    method: str | None = None
    route: str | None = None
    path: str | None = None
    remaining: int | None = 1
    status: int | None = None
    delay: float | None = None
    retry_after: float | None = None
    block: float | None = None
    body: Any = None
    headers: Headers | None = None
    process: bool | None = None
    depth: int | None = None
    size: int | None = None
    hits: int = 0
    _path_re: re.Pattern[str] | None = field(default=None, repr=False)

    @property
    def processes(self) -> bool:
        """Whether the request is processed (its state changes) before the client sees the fault."""
        return self.kind in AFTER_PROCESSING if self.process is None else self.process

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
    template: FaultRule  # kind, method, route and options; copied with the chosen kind when it fires


def _headers(headers: Iterable[tuple[str, str]] | None) -> Headers | None:
    if headers is None:
        return None
    if isinstance(headers, dict):
        raise TypeError("headers must be a list of (name, value) pairs (duplicates allowed), not a dict")
    out = tuple((str(name), str(value)) for name, value in headers)
    for name, value in out:
        if not name or any(c in name for c in ":\r\n \t"):
            raise ValueError(f"headers: invalid header name {name!r}")
        if "\r" in value or "\n" in value:
            raise ValueError(f"headers: the value of {name!r} holds a line break")
    return out


def _rule(kinds: tuple[FaultKind, ...], **given: Any) -> FaultRule:
    """A rule template for ``kinds``, its options checked: every option given is read by one of them."""
    unknown = set(given) - set(_USES)
    if unknown:
        raise TypeError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
    options: dict[str, Any] = dict.fromkeys(_USES) | given
    for name, value in options.items():
        if value is not None and not _USES[name] & set(kinds):
            users = ", ".join(sorted(_USES[name]))
            raise ValueError(f"{name} applies to {users}, not to {', '.join(kinds)}")
    status = options["status"]
    if status is not None and not (isinstance(status, int) and 100 <= status <= 599):
        raise ValueError(f"status must be an HTTP status 100..599, got {status!r}")
    for name in ("retry_after", "block", "delay"):
        value = options[name]
        if value is not None and not value >= 0:
            raise ValueError(f"{name} must be >= 0")
    if options["depth"] is not None and not options["depth"] >= 1:
        raise ValueError("depth must be >= 1")
    if options["size"] is not None and not options["size"] >= 0:
        raise ValueError("size must be >= 0")
    if callable(options["body"]) and options["process"] is not True:
        raise ValueError("a callable body is given the processed answer: it needs process=True")
    options["headers"] = _headers(options["headers"])
    return FaultRule(kinds[0], **options)


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
        body: bytes | Callable[[Any], Any] | Any = None,
        headers: Iterable[tuple[str, str]] | None = None,
        process: bool | None = None,
        depth: int | None = None,
        size: int | None = None,
    ) -> FaultRule:
        """Inject ``kind`` into the next ``times`` matching requests (``times=None``: every one).

        ``method`` is an HTTP method (``"DELETE"``); ``route`` a route name (``"cancel"``, ``"get"``,
        ``"list"``, ``"create"``, … — the SDK's method names, see ``ROUTES``); ``path`` a glob matched
        against the path below ``/public/api`` (``"/v2/smart_trades/4*"``). The other options belong to
        the kinds of the module's table: ``status`` (html_error, respond, deep_json, gzip_bomb,
        endless), ``delay`` (latency; endless: between chunks), ``retry_after`` (rate_limit's header),
        ``block`` (how long an injected 429 blocks), ``body`` and ``headers`` (respond), ``process``
        (respond, deep_json, gzip_bomb, endless, hang: processed first or not), ``depth`` (deep_json),
        ``size`` (gzip_bomb). ``ValueError`` for an unknown kind or an option the kind does not read.
        """
        fk = FaultKind(kind)
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        rule = _rule(
            (fk,),
            status=status,
            delay=delay,
            retry_after=retry_after,
            block=block,
            body=body,
            headers=headers,
            process=process,
            depth=depth,
            size=size,
        )
        rule.method = method.upper() if method else None
        rule.route = route
        rule.path = path
        rule.remaining = times
        rule._path_re = re.compile(fnmatch.translate(path)) if path is not None else None
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
        **options: Any,
    ) -> None:
        """Hit a seeded-random ``ratio`` (0..1) of the matching requests with one of ``kinds``.

        ``options`` are :meth:`add`'s (``status``, ``delay``, ``retry_after``, ``block``, ``body``,
        ``headers``, ``process``, ``depth``, ``size``), each read by the kinds it belongs to, e.g.
        ``kinds=["hang", "deep_json", "gzip_bomb"], depth=50_000``. Replaces any previous random rule;
        ``ratio=0`` removes it.
        """
        if not 0.0 <= ratio <= 1.0:
            raise ValueError("ratio must be within 0..1")
        ks = tuple(FaultKind(k) for k in kinds)
        if not ks:
            raise ValueError("kinds is empty")
        template = _rule(ks, **options)
        template.method = method.upper() if method else None
        template.route = route
        template.remaining = None
        self._random = _RandomRule(ratio, ks, _random.Random(seed), template) if ratio > 0 else None
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
        if rnd is not None and rnd.template.matches(method, route, path) and rnd.rng.random() < rnd.ratio:
            return replace(rnd.template, kind=rnd.rng.choice(rnd.kinds), hits=1)
        return None
