"""FakeThreeCommas: the embedded, stateful fake 3Commas server (aiohttp.web on loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import socket
import struct
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, Literal, NamedTuple, Self

import msgspec
from aiohttp import web

from threecommas_async import RateLimit, ThreeCommasClient

from ._auth import HMACKey, RSAKey, load_rsa_public_key
from ._errors import ApiError
from ._errors import error_answer as _error
from ._fault_answers import (
    ENDLESS_CHUNK,
    JSON_TYPE,
    REASONS,
    deep_json,
    gzip_bomb,
    html_page,
    respond_body,
    respond_headers,
)
from ._faults import DEFAULT_BOMB_SIZE, DEFAULT_DEPTH, FaultKind, FaultRule, Faults
from ._ratelimit import DEFAULT_BLOCK, NO_RULES, RateLimiter, RateLimits, client_rate_limit
from ._routes import PREFIX, ROUTES, UNKNOWN, Ids, Route, resolve
from ._store import TradeStore, Transition
from ._traffic import KeyStats, RecordedRequest, Stats

__all__ = ["PREFIX", "ROUTES", "FakeThreeCommas"]

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_JSON_HEADERS: Final = {"Content-Type": JSON_TYPE}
_LINGER_RST: Final = struct.pack("ii", 1, 0)
_EMPTY_QUERY: Final[Mapping[str, str]] = {}

_HANG_POLL: Final = 0.05
"""How often a hanging request looks whether its client has gone."""


class _Exchange(NamedTuple):
    """What a faulted answer needs to know of its request."""

    request: web.BaseRequest
    rec: RecordedRequest | None
    ks: KeyStats
    api_key: str | None
    trade_id: int
    now: float


def _is_json(content_type: str | None) -> bool:
    """``application/json``, parameters (``; charset=utf-8``) allowed, case-insensitive."""
    return content_type is not None and content_type.partition(";")[0].strip().lower() == "application/json"


class FakeThreeCommas:
    """A stateful fake of the 3Commas SmartTrade v2 API, served by aiohttp.web on loopback.

    ::

        async with FakeThreeCommas() as server:              # a free 127.0.0.1 port
            ids = server.seed_trades(100)                    # SmartTrades without HTTP
            ...  # point the SDK at server.base_url with server.api_key / server.api_secret
            assert server.trade_status(ids[0]) == "cancelled"

    Every endpoint of the SmartTrade v2 table is served under ``/public/api/v2/smart_trades`` (route
    names, used by faults, stats and the traffic record: ``list``, ``create``, ``get``, ``update``,
    ``cancel``, ``add_funds``, ``reduce_funds_info``, ``reduce_funds``, ``close_by_market``,
    ``force_start``, ``force_process``, ``set_note``, ``trades``, ``close_trade_by_market``,
    ``cancel_trade``; anything else is ``unknown`` and answers 404).

    Options: ``host``/``port`` to listen on (port 0: a free one, kept across restarts); ``api_key`` /
    ``api_secret``, the HMAC pair it accepts (default: generated per instance; more with
    :meth:`add_key` / :meth:`new_key`); ``rate_limit``, a :class:`RateLimits` (default: 3Commas'
    documented limits, per API key, bans per IP) or ``None`` for none; ``cancel_delay`` and
    ``conflict_status`` (below); ``strict_content_type`` (below); ``record_requests`` (the traffic
    record, ``server.requests``; turn it off for long benchmarks — ``server.stats``, ``busiest_window``
    and ``history`` work regardless); ``clock`` (below).

    List filters: ``account_id``, ``pair``, ``type`` (``data.type``), ``base``, ``quote``, ``from``/``to``
    (ISO 8601 or epoch seconds, on ``created_at``), ``status`` (``all``; ``active`` = not yet cancelled,
    finished or failed; ``finished`` = closed in any of those ways; ``successfully_finished`` /
    ``successfully_finish`` = finished; ``cancelled``; ``failed``; nothing else, not even an exact status
    type such as ``waiting_targets``: 400 ``Wrong param(s)``), ``order_by`` (default ``status``) and
    ``order_direction`` (default ``DESC``; ties by id), ``page`` (from 1) and ``per_page`` (1..100,
    default 10). The answer is a bare array; a short page is the last.

    Each request goes through, in order: the traffic record; the rate limiter (``rate_limit``; 429, then
    418 bans; see below); fault injection (``server.faults``); signature check (401
    ``api_key_invalid_or_expired`` or ``signature_invalid``); the route (404 if unknown); the
    Content-Type check; the endpoint.

    Rate limits are counted as 3Commas counts them: each API key the server knows has its own windows
    and its own 429 block (requests without a known key are counted per client IP), and a 418 ban hits
    the client IP, every key used from it (``RateLimits(key_by="ip")``: windows and blocks per IP too).
    The first request over a limit answers 429 and blocks the key (for ``RateLimitRule.block`` s; an
    injected 429 blocks likewise, see :mod:`threecommas_async.testing._faults`). Requests that were
    already in flight when that 429 went out cannot be recalled, so for ``RateLimits.ban_grace`` seconds
    (1 s; ``RateLimits.scaled(k)``: 1/k s, at least 0.1 s) requests still answer 429; a request that
    arrives after the grace while the block lasts is "keeping on sending": 418 and a ban of the IP (2
    minutes, growing). :meth:`client_rate_limit` is the SDK ``RateLimit`` that stays within these
    limits, :meth:`client` a ``ThreeCommasClient`` that uses it.

    Clock: ``clock`` (default ``time.monotonic``) is read once per request; rate-limit windows, blocks
    and bans, delayed transitions, ``RecordedRequest.time``, :meth:`busiest_window` and :meth:`history`
    all use it. Pass a :class:`~threecommas_async.testing.ManualClock` to test without sleeping (it must
    never go backwards). Timestamps in answers (``created_at``, …) stay wall-clock time; the ``latency``
    fault sleeps for real.

    Content-Type: a request with a non-empty body must say ``Content-Type: application/json``
    (parameters such as ``; charset=utf-8`` allowed), otherwise it answers 400 ``invalid_request``, as a
    JSON body sent as text or a form is not read as JSON by 3Commas. ``strict_content_type=False``
    accepts any Content-Type.

    Answers follow the official docs: a SmartTrade (201 for POST actions, 200 otherwise), errors as
    ``{"error", "error_description"[, "error_attributes"]}``; unknown ids answer 404
    ``{"error": "Not found", "error_description": "Smart Trade not found"}`` (the docs' spelling); create
    validation answers 422 ``record_invalid`` with ``error_attributes``; bad list parameters (per_page
    outside 1..100, unknown status, …) answer 400 ``Wrong param(s)``.

    Acting on a SmartTrade whose status forbids it (cancelling one that is ``cancellation_pending``,
    ``cancelled``, ``finished``, ``failed`` or ``panic_sell_pending``; PATCH outside ``waiting_position`` /
    ``waiting_targets``; …) answers ``conflict_status``: 403 ``Forbidden`` by default, because the
    official error page lists exactly this case ("the operation is not allowed for this resource in its
    current state") under 403; pass ``conflict_status=422`` to get 422 ``unprocessable_entity`` instead.

    A cancel answers 200 with the trade in ``cancellation_pending``; it becomes ``cancelled``
    ``cancel_delay`` seconds later (``panic_sell_pending`` → ``finished`` after a close by market likewise).
    Transitions are stored deadlines applied lazily when the next request (or inspection method) runs,
    never timers: ``cancel_delay=0`` means the next request sees ``cancelled``; ``None`` means never on
    its own (``complete_pending()`` applies them). A created trade shows ``created`` in the 201 answer and
    ``waiting_targets`` (market) / ``waiting_position`` (limit, conditional) / ``finished`` (instant
    market) from the next request on.

    Speed: ~10,900 DELETE cancels/s on one core (9,500-11,200 over runs on a shared machine; server
    pinned to CPU 0 with ``taskset -c 0``, rate limit off, traffic record on, signatures checked; load
    from a separate process on CPU 1 sending pre-signed keep-alive HTTP/1.1 requests over 64
    connections, a generator that reaches 26,000/s against a bare asyncio server, so the fake is the
    bottleneck). For scale, an aiohttp.web app answering a constant body does ~10,800/s on the same
    machine: requests are served by aiohttp's low-level server with a precompiled route table, and the
    fake's own work is a few microseconds. With aiohttp's client and ``SigningMiddleware`` as the load:
    ~7,100/s, client-bound.
    Reproduce with ``python -m threecommas_async.testing._bench [--client aiohttp]``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        api_secret: str | None = None,
        rate_limit: RateLimits | None = RateLimits(),  # noqa: B008 - frozen dataclass
        cancel_delay: float | None = 0.05,
        conflict_status: Literal[403, 422] = 403,
        record_requests: bool = True,
        strict_content_type: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if conflict_status not in (403, 422):
            raise ValueError("conflict_status must be 403 or 422")
        self.host = host
        self._port = port
        self.api_key: str = api_key or "fake-" + secrets.token_hex(16)
        self.api_secret: str = api_secret or secrets.token_hex(32)
        self._keys: dict[str, HMACKey | RSAKey] = {self.api_key: HMACKey(self.api_secret)}
        self._limits = rate_limit
        self._limiter = RateLimiter(rate_limit if rate_limit is not None else NO_RULES)
        self.strict_content_type = strict_content_type
        self._clock = clock
        self._store = TradeStore(cancel_delay=cancel_delay, conflict_status=conflict_status, clock=clock)
        self.faults = Faults()
        self.stats = Stats()
        self.record_requests = record_requests
        self._requests: list[RecordedRequest] = []
        self._runner: web.ServerRunner | None = None
        self._lingerers: set[asyncio.Task[Any]] = set()  # hang / endless handlers
        self._shutdown_timeout = 0.5  # how long stop() lets requests in progress finish

    def __repr__(self) -> str:
        where = self.base_url if self._runner is not None else "not started"
        return f"FakeThreeCommas({where}, api_key={self.api_key!r}, api_secret=<hidden>)"

    # ---------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen on ``host:port`` (port 0: a free one). Idempotent."""
        if self._runner is not None:
            return
        # The low-level server with a precompiled route table: no Application, router or middlewares.
        server = web.Server(self._handle, access_log=None)
        runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port, backlog=1024)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        """Close the listener and every connection. Idempotent."""
        runner, self._runner = self._runner, None
        for task in list(self._lingerers):
            task.cancel()  # else the shutdown would wait for them to time out
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._runner is None:
            raise RuntimeError("FakeThreeCommas is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/public/api`` — the SDK's ``base_url``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{PREFIX}"

    # --------------------------------------------------------------------------------------- settings

    @property
    def rate_limit(self) -> RateLimits | None:
        return self._limits

    @rate_limit.setter
    def rate_limit(self, value: RateLimits | None) -> None:
        """Replace the limits; counters, blocks and bans start afresh."""
        self._limits = value
        self._limiter = RateLimiter(value if value is not None else NO_RULES)

    def client_rate_limit(self, **changes: Any) -> RateLimit | None:
        """The SDK's ``RateLimit`` that keeps a client within this server's limits.

        The client-side twin of ``rate_limit``: the global rule gives ``max_rate`` / ``time_period`` /
        ``cooldown``, the list rule the ``"GET /v2/smart_trades"`` endpoint limit, ``ban`` the
        ``ban_duration``; ``None`` when the server limits nothing. ``changes`` are further ``RateLimit``
        arguments (``max_wait=...``). A client whose limits disagree with the server's waits for
        cool-downs it need not (or gets banned); this one does neither.

        The limiter's state lives in a ``memory://`` storage of this server's own, so that a 429 or a
        418 a test provokes here never pauses the clients of another server in the same process (the
        default ``memory://`` is shared by every client of the process, as one IP would be).
        """
        changes.setdefault("storage", f"memory://FakeThreeCommas-{id(self):x}")
        return client_rate_limit(self._limits, **changes)

    def client(self, **overrides: Any) -> ThreeCommasClient:
        """A ``ThreeCommasClient`` for this server: its ``base_url``, its own key pair and
        :meth:`client_rate_limit`; ``overrides`` go to the constructor (``retry=...``, another
        ``api_key`` / ``api_secret`` from :meth:`new_key`, or a ``private_key`` for an RSA key added
        with :meth:`add_key`). The server must be started. Use it as
        ``async with server.client() as client:``.
        """
        kwargs: dict[str, Any] = {
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "base_url": self.base_url,
            "rate_limit": self.client_rate_limit(),
        }
        if "private_key" in overrides and "api_secret" not in overrides:
            del kwargs["api_secret"]
        kwargs.update(overrides)
        return ThreeCommasClient(**kwargs)

    @property
    def clock(self) -> Callable[[], float]:
        """The server's clock (see the class doc), e.g. the :class:`ManualClock` it was given."""
        return self._clock

    @property
    def cancel_delay(self) -> float | None:
        return self._store.cancel_delay

    @cancel_delay.setter
    def cancel_delay(self, value: float | None) -> None:
        self._store.cancel_delay = value

    # ------------------------------------------------------------------------------------------- keys

    def add_key(
        self, api_key: str, *, secret: str | bytes | None = None, public_key: str | bytes | None = None
    ) -> None:
        """Accept ``api_key`` signed with HMAC ``secret``, or with the RSA key of ``public_key`` (PEM).

        ``public_key`` may also be a PEM private key: only its public half is kept.
        """
        if not api_key:
            raise ValueError("api_key is empty")
        if (secret is None) == (public_key is None):
            raise ValueError("pass exactly one of secret (HMAC) or public_key (RSA)")
        if secret is not None:
            self._keys[api_key] = HMACKey(secret)
        else:
            assert public_key is not None
            self._keys[api_key] = RSAKey(load_rsa_public_key(public_key))

    def new_key(self) -> tuple[str, str]:
        """Make a fresh HMAC key pair, accept it, and return it: ``(api_key, api_secret)``.

        Each key has its own rate-limit windows and 429 block (bans are per IP, see the class doc).
        """
        api_key = "fake-" + secrets.token_hex(16)
        api_secret = secrets.token_hex(32)
        self.add_key(api_key, secret=api_secret)
        return api_key, api_secret

    def remove_key(self, api_key: str) -> None:
        """Stop accepting ``api_key`` (its requests then answer 401 ``api_key_invalid_or_expired``)."""
        self._keys.pop(api_key, None)

    # ------------------------------------------------------------------------------------------ state

    def add_trade(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        status: str = "waiting_targets",
        created_at: datetime | float | None = None,
        note: str | None = None,
    ) -> int:
        """Add one SmartTrade without HTTP and return its id. See :meth:`seed_trades`."""
        return self._store.seed(1, params, status, created_at, note)[0]

    def seed_trades(
        self,
        n: int,
        params: Mapping[str, Any] | None = None,
        *,
        status: str = "waiting_targets",
        created_at: datetime | float | None = None,
        note: str | None = None,
    ) -> list[int]:
        """Add ``n`` SmartTrades in ``status`` without HTTP and return their ids (increasing).

        ``params`` is a create body (``account_id``, ``pair``, ``position``, ``take_profit``, …) whose
        top-level keys replace the defaults (account 1, ``USDT_BTC``, market buy of 0.01, one limit take
        profit at +5 %); it is validated like ``POST /v2/smart_trades`` (``ValueError`` if invalid).
        Trades seeded with the same params share their parameters (and take-profit step ids), which
        keeps 100 000 of them cheap. ``created_at``: a datetime or epoch seconds, default now.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        return self._store.seed(n, params, status, created_at, note)

    def get_trade(self, trade_id: int) -> dict[str, Any]:
        """The SmartTrade as ``GET`` would answer it now (an independent copy); ``KeyError`` if unknown."""
        return self._store.snapshot(trade_id)

    def trade_status(self, trade_id: int) -> str:
        """The current ``status.type`` of a SmartTrade; ``KeyError`` if unknown."""
        return self._store.status_of(trade_id)

    def history(self, trade_id: int) -> list[Transition]:
        """Every status change of a SmartTrade, oldest first, with its cause; ``KeyError`` if unknown.

        The first entry is its birth (``from_=None``, cause ``"seed"`` or ``"create"``). So a test can
        tell a trade cancelled by a DELETE it sent (a ``cancel`` transition to
        ``cancellation_pending`` after the test started) from one that was final before. Kept with
        ``record_requests=False`` too. See :class:`~threecommas_async.testing.Transition`.
        """
        return self._store.history(trade_id)

    def delete_count(self, trade_id: int) -> int:
        """How many DELETE requests (``cancel`` and ``cancel_trade``) for this SmartTrade reached the
        server, whatever they were answered (refused, faulted and dropped ones included)."""
        return self.stats.deletes.get(trade_id, 0)

    def set_trade_status(self, trade_id: int, status: str) -> None:
        """Force a SmartTrade into ``status`` (e.g. ``"finished"``, ``"failed"``)."""
        self._store.set_status(trade_id, status)

    def trade_ids(self) -> list[int]:
        """Ids of every SmartTrade, in creation order."""
        return self._store.ids()

    def complete_pending(self) -> None:
        """Apply every scheduled transition now (``cancellation_pending`` → ``cancelled``, …)."""
        self._store.complete_pending()

    @property
    def requests(self) -> list[RecordedRequest]:
        """The traffic record (the live list, oldest first); see ``record_requests``."""
        return self._requests

    def clear_requests(self) -> None:
        self._requests.clear()

    def busiest_window(self, api_key: str | None = None, period: float | None = None) -> int:
        """How many requests ``api_key`` sent in its busiest window of ``period`` seconds.

        Every request that arrived since start or :meth:`reset` counts, whatever it was answered
        (refused, faulted, dropped); windows are half-open, like the limiter's, so with the limits
        obeyed the answer is at most ``max_requests``. ``api_key``: default the server's own key;
        ``period``: default the global rule's (60 s without one). Exact, from the arrival times kept in
        ``stats.by_key`` (8 bytes a request, kept with ``record_requests=False`` too).
        """
        if period is None:
            rule = self._limits.global_rule if self._limits is not None else None
            period = rule.period if rule is not None else 60.0
        return self.stats.key(self.api_key if api_key is None else api_key).busiest_window(period)

    def reset(self) -> None:
        """Forget trades, traffic, stats, faults, and rate-limit counters, blocks and bans."""
        self._store.clear()
        self._requests.clear()
        self.stats.reset()
        self.faults.clear()
        self._limiter.reset()

    # ------------------------------------------------------------------------------------------- HTTP

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        now = self._clock()
        method = request.method
        path, _, query = request.raw_path.partition("?")
        route, ids = resolve(method, path)
        api_key = request.headers.get("Apikey")
        stats = self.stats
        stats.requests += 1
        by_route = stats.by_route
        by_route[route.name] = by_route.get(route.name, 0) + 1
        ks = stats.by_key.get(api_key)
        if ks is None:
            ks = stats.by_key[api_key] = KeyStats()
        ks.requests += 1
        ks.arrivals.append(now)
        if method == "DELETE" and route is not UNKNOWN:
            deletes = stats.deletes
            deletes[ids[0]] = deletes.get(ids[0], 0) + 1
        rec: RecordedRequest | None = None
        if self.record_requests:
            rec = RecordedRequest(method, path, query, now, route.name, api_key, ids[0] or None)
            self._requests.append(rec)

        limiter = self._limiter
        if not limiter.idle:
            ip = request.remote or "?"
            code, wait, retry_after = limiter.check(
                self._identity(api_key, ip), ip, route.name == "list", now
            )
            if code:
                return self._refused(code, wait, retry_after, rec, ks)

        fault: FaultRule | None = None
        if self.faults.active:
            rel = path[len(PREFIX) :] if path.startswith(PREFIX) else path
            fault = self.faults.pick(method, route.name, rel)
            if fault is not None:
                kind = fault.kind
                stats.faults[kind] = stats.faults.get(kind, 0) + 1
                if rec is not None:
                    rec.fault = kind.value
                if kind is FaultKind.LATENCY:
                    await asyncio.sleep(fault.delay if fault.delay is not None else 0.1)
                    fault = None
                elif not fault.processes:
                    return await self._faulted(fault, _Exchange(request, rec, ks, api_key, ids[0], now))

        status, body = await self._process(route, ids, request, path, query, api_key, now)

        if fault is not None:
            return await self._faulted(fault, _Exchange(request, rec, ks, api_key, ids[0], now), status, body)
        self._count(status, rec, ks)
        return web.Response(body=body, status=status, headers=_JSON_HEADERS)

    def _count(self, status: int, rec: RecordedRequest | None, ks: KeyStats) -> None:
        """Count an answer: in the record, the stats and the key's stats."""
        if rec is not None:
            rec.status = status
        by_status = self.stats.by_status
        by_status[status] = by_status.get(status, 0) + 1
        by_status = ks.by_status
        by_status[status] = by_status.get(status, 0) + 1

    def _drop(self, ks: KeyStats) -> None:
        """Count a connection closed without a complete answer."""
        self.stats.dropped += 1
        ks.dropped += 1

    def _identity(self, api_key: str | None, ip: str) -> str:
        """Whom rate-limit windows and blocks count: a known API key (``key_by="api_key"``), else the IP."""
        if api_key is not None and self._limiter.per_key and api_key in self._keys:
            return api_key
        return ip

    def _refused(
        self,
        code: int,
        wait: float,
        retry_after: float | None,
        rec: RecordedRequest | None,
        ks: KeyStats,
    ) -> web.StreamResponse:
        if code == 429:
            status, body = _error(
                429, "rate_limit_exceeded", f"Rate limit exceeded, access blocked for {wait:g} s"
            )
        else:
            status, body = _error(418, "ip_banned", f"Too many requests after 429, banned for {wait:g} s")
        self._count(status, rec, ks)
        if retry_after is None:
            return web.Response(body=body, status=status, headers=_JSON_HEADERS)
        return web.Response(
            body=body,
            status=status,
            headers={**_JSON_HEADERS, "Retry-After": str(math.ceil(retry_after))},
        )

    async def _process(
        self,
        route: Route,
        ids: Ids,
        request: web.BaseRequest,
        path: str,
        query: str,
        api_key: str | None,
        now: float,
    ) -> tuple[int, bytes]:
        raw_body = await request.read() if request.body_exists else b""

        if api_key is None or (key := self._keys.get(api_key)) is None:
            return _error(401, "api_key_invalid_or_expired", "Unauthorized. Invalid or expired api key.")
        signature = request.headers.get("Signature")
        if not signature or not key.verify(path, query, raw_body, signature):
            return _error(401, "signature_invalid", "Provided signature is invalid")

        if route is UNKNOWN:
            return _error(404, "Not found", "Route not found")

        if raw_body and self.strict_content_type:
            content_type = request.headers.get("Content-Type")
            if not _is_json(content_type):
                return _error(
                    400,
                    "invalid_request",
                    f"Unsupported Content-Type {content_type or '(none)'!r}: "
                    "send the JSON body as application/json",
                )

        payload: dict[str, Any] = {}
        if route.takes_body:
            if raw_body:
                try:
                    decoded = _decode(raw_body)
                except msgspec.DecodeError:
                    return _error(400, "invalid_request", "Request body is not valid JSON")
                if not isinstance(decoded, dict):
                    return _error(400, "invalid_request", "Request body must be a JSON object")
                payload = decoded
            else:
                payload = dict(request.query)
        store = self._store
        try:
            store.resolve(now)
            query_args = request.query if route.name == "list" else _EMPTY_QUERY
            result = route.fn(store, ids, query_args, payload, (now, route.name, api_key))
        except ApiError as exc:
            return exc.status, _encode(exc.body())
        return route.status, _encode(result)

    async def _faulted(
        self, fault: FaultRule, ex: _Exchange, status: int | None = None, body: bytes | None = None
    ) -> web.StreamResponse:
        """Answer with ``fault``; ``status`` / ``body`` are the processed answer (``None``: not processed)."""
        kind = fault.kind
        if kind is FaultKind.RESET_BEFORE or kind is FaultKind.RESET_AFTER:
            self._reset(ex.request)
            self._drop(ex.ks)
            return web.Response()
        if kind is FaultKind.TRUNCATED:
            assert status is not None and body is not None
            return self._truncated(ex, status, body)
        if kind is FaultKind.HANG:
            return await self._hang(ex)
        if kind is FaultKind.ENDLESS:
            return await self._endless(fault, ex)
        headers: Mapping[str, str]
        if kind is FaultKind.MALFORMED_JSON:
            assert body is not None
            status = 200
            body = body[: max(1, len(body) // 2)] + b"<!-- upstream sent an invalid JSON -->"
            headers = _JSON_HEADERS
        elif kind is FaultKind.HTML_ERROR:
            status = fault.status or 502
            body = html_page(status)
            headers = {"Content-Type": "text/html", "Server": "nginx"}
        elif kind is FaultKind.RATE_LIMIT:
            status = 429
            body = _encode({"error": "rate_limit_exceeded", "error_description": "Too many requests"})
            headers = _JSON_HEADERS
            if fault.retry_after is not None:
                headers = {**_JSON_HEADERS, "Retry-After": str(math.ceil(fault.retry_after))}
        elif kind is FaultKind.RESPOND:
            status = fault.status or status or 200
            body = respond_body(fault.body, body)
            headers = respond_headers(fault.headers, body)
        elif kind is FaultKind.DEEP_JSON:
            status = fault.status or status or 200
            body = deep_json(body, fault.depth or DEFAULT_DEPTH, ex.trade_id)
            headers = _JSON_HEADERS
        elif kind is FaultKind.GZIP_BOMB:
            status = fault.status or 200
            body = gzip_bomb(DEFAULT_BOMB_SIZE if fault.size is None else fault.size)
            headers = {"Content-Type": JSON_TYPE, "Content-Encoding": "gzip"}
        else:  # http_5xx
            status = int(kind.value.removeprefix("http_"))
            body = _encode({"error": "unknown_error", "error_description": REASONS[status]})
            headers = _JSON_HEADERS
        if status == 429 and fault.block != 0:
            # An injected 429 is a real one: the key is blocked (and banned if it keeps sending).
            self._limiter.block(
                self._identity(ex.api_key, ex.request.remote or "?"),
                self._fault_block(fault),
                ex.now,
                retry_after=fault.retry_after is not None,
            )
        self._count(status, ex.rec, ex.ks)
        return web.Response(body=body, status=status, headers=headers)

    def _fault_block(self, fault: FaultRule) -> float:
        """How long an injected 429 blocks: the fault's ``block``, its ``retry_after``, the global rule's
        block, or 3Commas' documented 300 s."""
        if fault.block is not None:
            return fault.block
        if fault.retry_after is not None:
            return fault.retry_after
        limits = self._limits
        if limits is not None and limits.global_rule is not None:
            return limits.global_rule.block
        return DEFAULT_BLOCK

    def _truncated(self, ex: _Exchange, status: int, body: bytes) -> web.StreamResponse:
        """Status line, headers and half the body, with a Content-Length promising one byte more."""
        self._drop(ex.ks)
        transport = ex.request.transport
        if transport is not None and not transport.is_closing():
            head = (
                f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                f"Content-Type: {JSON_TYPE}\r\n"
                f"Content-Length: {len(body) + 1}\r\n\r\n"
            ).encode()
            transport.write(head + body[: len(body) // 2])
            transport.close()
        return web.Response()

    @contextlib.contextmanager
    def _lingering(self) -> Iterator[None]:
        """Mark the running handler as one that never ends on its own: :meth:`stop` cancels it."""
        task = asyncio.current_task()
        assert task is not None
        self._lingerers.add(task)
        try:
            yield
        finally:
            self._lingerers.discard(task)

    async def _hang(self, ex: _Exchange) -> web.StreamResponse:
        """Never answer: wait until the client closes the connection (or the server stops)."""
        self._drop(ex.ks)
        with self._lingering():
            # aiohttp tells a handler nothing when its client leaves (no handler cancellation, which
            # would also cut short the latency fault): no event to wait for, so look now and then.
            while (transport := ex.request.transport) is not None and not transport.is_closing():  # noqa: ASYNC110
                await asyncio.sleep(_HANG_POLL)
        return web.Response()

    async def _endless(self, fault: FaultRule, ex: _Exchange) -> web.StreamResponse:
        """A chunked answer that never ends: chunks until the client goes away (or the server stops)."""
        self._drop(ex.ks)
        response = web.StreamResponse(status=fault.status or 200, headers={"Content-Type": JSON_TYPE})
        response.enable_chunked_encoding()
        pause = fault.delay or 0.0
        with self._lingering(), contextlib.suppress(ConnectionError):
            await response.prepare(ex.request)
            await response.write(b"[")
            while True:
                await response.write(ENDLESS_CHUNK)
                await asyncio.sleep(pause)  # also lets the loop breathe when the client reads fast
        return response

    @staticmethod
    def _reset(request: web.BaseRequest) -> None:
        """Abort the connection with a TCP RST, writing nothing."""
        transport = request.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        transport.abort()
