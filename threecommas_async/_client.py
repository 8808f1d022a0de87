"""The client: credentials, lifecycle, and the one request pipeline every call goes through.

sign once over exactly the bytes sent -> gate (rate limit, cool-down, ban; ``_gate.py``) -> admission (a
free pooled connection; ``_transport.py``) -> send -> read, bounded -> map the answer (2xx decoded by
msgspec from the body bytes; anything else to an exception, with 429/418 fed back to the gate). A failed
attempt, and only a failed one, enters the retry machinery in ``_retry.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final, Literal, TypeVar

import aiohttp
import msgspec
from yarl import URL

from ._encoding import encode_body, encode_query
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ClientClosedError,
    IPBannedError,
    RateLimitError,
    ResponseDecodeError,
    ResponseTooLargeError,
    ThreeCommasError,
    error_from_response,
    parse_retry_after,
)
from ._events import EventHook
from ._gate import Gate
from ._operation import current as current_operation
from ._ratelimit import RateLimit
from ._retry import RetryBudget, RetryPolicy, is_retryable, retry_after_failure
from ._routes import Endpoint, endpoint_template, raw_endpoint
from ._signing import (
    APIKEY_HEADER,
    DEFAULT_BASE_URL,
    SIGNATURE_HEADER,
    HMACSigner,
    RSASigner,
    check_api_key,
    make_signer,
    signed_message,
)
from ._storage import DEFAULT_STORAGE, fingerprint, open_storage
from ._transport import Transport
from .resources.smart_trades import SmartTrades

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MAX_RESPONSE_SIZE", "DEFAULT_TIMEOUT", "ThreeCommasClient"]

T = TypeVar("T")

DEFAULT_TIMEOUT: Final = 30.0
DEFAULT_RATE_LIMIT: Final = RateLimit()
DEFAULT_RETRY: Final = RetryPolicy()
DEFAULT_MAX_RESPONSE_SIZE: Final = 8 * 1024 * 1024
"""8 MiB: a page of 100 SmartTrades is about 300 KB."""
ERROR_BODY_LIMIT: Final = 64 * 1024
"""How much of an error answer is read: enough for any error JSON or an edge proxy's page title."""


class _Call:
    """One call, signed once: what every attempt of it sends. Shown to nobody: ``repr`` hides the headers,
    so a crash reporter recording frame locals records no key and no signature."""

    __slots__ = ("body", "endpoint", "headers", "key", "limiter_wait", "method", "path", "priority", "url")

    def __init__(
        self,
        endpoint: Endpoint[Any],
        path: str,
        url: URL,
        headers: tuple[tuple[str, str], ...],
        body: bytes | None,
        priority: int,
    ) -> None:
        self.endpoint = endpoint
        self.method = endpoint.method
        self.key = endpoint.key
        self.path = path
        self.url = url
        self.headers = headers
        self.body = body
        self.priority = priority
        self.limiter_wait = 0.0
        """Seconds spent waiting for the rate limit: not part of the retry deadline."""

    def __repr__(self) -> str:
        return f"<{self.method} {self.path}: signed headers hidden>"


class ThreeCommasClient:
    """Async client for the 3Commas API.

    Use it as ``async with ThreeCommasClient(key, secret) as client: ...`` or call :meth:`close`.
    One aiohttp session (one connection pool) serves every request for the client's life; it is created
    lazily inside the running loop. A session passed in is used as-is and never closed by the client
    (but see ``_transport``: its silent resend is switched off). :meth:`with_credentials` makes a client
    for another API key that shares this one's pool.
    """

    __slots__ = (
        "_base_path",
        "_budget",
        "_closed",
        "_gate",
        "_headers",
        "_hook",
        "_max_response_size",
        "_origin",
        "_owns_transport",
        "_signer",
        "_timeout",
        "_transport",
        "base_url",
        "forced_mode",
        "rate_limit",
        "retry",
        "smart_trades",
    )

    def __init__(
        self,
        api_key: str,
        api_secret: str | None = None,
        private_key: str | bytes | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        forced_mode: Literal["real", "paper"] | None = None,
        rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        timeout: float | aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        session: aiohttp.ClientSession | None = None,
        event_hook: EventHook | None = None,
        connection_limit: int = 100,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        check_api_key(api_key)
        signer = make_signer(api_secret, private_key)
        if forced_mode not in (None, "real", "paper"):
            raise ValueError(f"forced_mode must be 'real', 'paper' or None, got {forced_mode!r}")
        base = URL(base_url)
        if not base.is_absolute() or base.scheme not in ("http", "https"):
            raise ValueError("base_url must be an absolute http(s) URL")
        if base.query_string or base.fragment:
            raise ValueError("base_url must not carry a query or fragment")
        if base.user is not None or base.password is not None:
            raise ValueError("base_url must not carry credentials (user:password@)")
        if isinstance(timeout, int | float):
            if not timeout > 0:
                raise ValueError(f"timeout must be positive, got {timeout!r}")
            timeout = aiohttp.ClientTimeout(total=timeout, connect=min(10.0, float(timeout)))
        if not isinstance(max_response_size, int) or max_response_size < 1024:
            raise ValueError(f"max_response_size must be an integer >= 1024 bytes, got {max_response_size!r}")
        self.base_url = str(base).rstrip("/")
        self._origin = str(base.origin())
        self._base_path = base.raw_path.rstrip("/")
        self.forced_mode = forced_mode
        self._timeout = timeout
        self._max_response_size = max_response_size
        self._hook = event_hook
        self.rate_limit = rate_limit
        self.retry = retry
        self._transport = Transport(session, connection_limit=connection_limit, timeout=timeout)
        self._owns_transport = True
        self._setup(api_key, signer)

    def _setup(self, api_key: str, signer: HMACSigner | RSASigner) -> None:
        """What belongs to one API key: signer, headers, gate, retry budget, resources."""
        self._signer = signer
        headers = {APIKEY_HEADER: api_key, "Accept": "application/json"}
        if self.forced_mode is not None:
            headers["Forced-Mode"] = self.forced_mode
        self._headers = tuple(headers.items())
        rate_limit = self.rate_limit
        if rate_limit is None:
            storage = open_storage(DEFAULT_STORAGE)
        else:
            fallback = rate_limit.expected_processes if rate_limit.fallback == "local" else None
            storage = open_storage(rate_limit.storage, fallback_processes=fallback)
        # A slot in flight is released in a finally; in a storage shared with other processes it also
        # lapses after the longest an attempt can take, in case this process dies mid-request.
        lease = (self._timeout.total or 300.0) + 5.0
        self._gate = Gate(rate_limit, storage, fingerprint(api_key), lease=lease, hook=self._hook)
        retry = self.retry
        self._budget = RetryBudget(retry.budget) if retry is not None else None
        self._closed = False
        self.smart_trades = SmartTrades(self)

    def with_credentials(
        self, api_key: str, api_secret: str | None = None, private_key: str | bytes | None = None
    ) -> ThreeCommasClient:
        """A client for another API key (another tenant) that shares this client's connection pool.

        Everything else is copied: base URL, mode, limits (with the key's own allowance in the same
        storage), retry policy (with its own budget), timeout, event hook. Closing this client closes the
        pool for every sibling; closing a sibling only stops that sibling. Made in microseconds, so a
        service can hold one per user.
        """
        check_api_key(api_key)
        signer = make_signer(api_secret, private_key)
        sibling = object.__new__(ThreeCommasClient)
        for name in ("base_url", "_origin", "_base_path", "forced_mode", "_timeout", "_max_response_size"):
            setattr(sibling, name, getattr(self, name))
        sibling._hook = self._hook
        sibling.rate_limit = self.rate_limit
        sibling.retry = self.retry
        sibling._transport = self._transport
        sibling._owns_transport = False
        sibling._setup(api_key, signer)
        return sibling

    def __repr__(self) -> str:
        signer = getattr(self, "_signer", None)
        # getattr: a repr must work on a client whose __init__ raised half-way (a debugger shows it).
        base_url = getattr(self, "base_url", None)
        mode = getattr(self, "forced_mode", None)
        scheme = getattr(signer, "scheme", None)
        return f"ThreeCommasClient(base_url={base_url!r}, signing={scheme!r}, forced_mode={mode!r})"

    # -- lifecycle ------------------------------------------------------------------------------------
    async def __aenter__(self) -> ThreeCommasClient:
        if self.closed:
            raise ClientClosedError("the ThreeCommasClient is closed; create a new one")
        self._transport.bind()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop: requests waiting for the rate limit fail at once with :class:`ClientClosedError`, and the
        session the client made is closed (never one passed in; a sibling leaves the shared pool open).
        Safe to call twice."""
        self._closed = True
        self._gate.close()
        if self._owns_transport:
            await self._transport.close()

    @property
    def closed(self) -> bool:
        return self._closed or self._transport.closed

    async def warm_up(self, connections: int | None = None) -> int:
        """Open pooled connections to 3Commas now (default: as many as the pool holds, at most 32), and
        the rate limiter's storage (the SQLite file; the Redis connection and its scripts), so the first
        burst of a panic does not wait for TCP and TLS set-up. Sends no request. Returns how many
        connections to 3Commas were opened."""
        if self.closed:
            raise ClientClosedError("the ThreeCommasClient is closed; create a new one")
        n = min(self._transport.limit, 32) if connections is None else connections
        opened, _ = await asyncio.gather(self._transport.warm_up(self.base_url, n), self._gate.warm_up())
        return opened

    # -- public low-level entry point -----------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Send a signed, rate-limited, retried request; return the decoded JSON (None for an empty body).

        ``path`` is relative to ``base_url``, e.g. ``"/ver1/users/change_mode"``.
        """
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        method = method.upper()
        body = None if json is None else encode_body(json)
        endpoint = raw_endpoint(method, endpoint_template(path))
        return await self._send(endpoint, path, query=encode_query(params), body=body)

    # -- the pipeline ---------------------------------------------------------------------------------
    def _sign(
        self, endpoint: Endpoint[Any], path: str, query: str, body: bytes | None, priority: int
    ) -> _Call:
        raw_path = self._base_path + path
        signature = self._signer.sign(signed_message(self._signer.scheme, raw_path, query, body))
        headers = (*self._headers, (SIGNATURE_HEADER, signature))
        if body is not None:
            headers = (*headers, ("Content-Type", "application/json"))
        url = URL(f"{self._origin}{raw_path}?{query}" if query else f"{self._origin}{raw_path}", encoded=True)
        return _Call(endpoint, path, url, headers, body, priority)

    async def _send(
        self,
        endpoint: Endpoint[T],
        path: str,
        *,
        query: str = "",
        body: bytes | None = None,
        priority: int | None = None,
    ) -> T:
        """Send one declared endpoint: the narrow verb every resource speaks (``_resource.Sender``)."""
        call = self._sign(endpoint, path, query, body, endpoint.priority if priority is None else priority)
        # The loop's clock, like the limiter's: deadlines and waits are on one clock (tests drive it).
        clock = asyncio.get_running_loop().time
        started = clock()
        operation = current_operation()
        limits = self._timeout
        if operation is not None and operation.deadline is not None:
            limits = self._cut(call, limits, operation.left(started))
        try:
            result: T = await self._attempt(call, limits)
            return result
        except ThreeCommasError as exc:
            policy = self.retry
            max_wait = (self.rate_limit or DEFAULT_RATE_LIMIT).max_wait
            if (
                policy is None
                or policy.max_attempts < 2
                or not is_retryable(exc, call.method, policy, max_wait)
            ):
                raise
            assert self._budget is not None

            def deadline() -> float:
                at = started + policy.deadline + call.limiter_wait
                if operation is not None and operation.deadline is not None:
                    at = min(at, operation.deadline + operation.waited)
                return at

            def again() -> Any:
                # Attempts and back-off together stay within the deadline: a retry gets what is left.
                return self._attempt(call, self._cut(call, self._timeout, deadline() - clock()))

            retried: T = await retry_after_failure(
                exc,
                again,
                policy=policy,
                budget=self._budget,
                method=call.method,
                path=path,
                deadline=deadline,
                clock=clock,
                max_wait=max_wait,
                hook=self._hook,
            )
            return retried

    @staticmethod
    def _cut(call: _Call, limits: aiohttp.ClientTimeout, left: float | None) -> aiohttp.ClientTimeout:
        """The attempt's timeouts, shortened to the time ``left``; raises when none is left."""
        if left is None or (limits.total is not None and left >= limits.total):
            return limits
        if left <= 0:
            raise APITimeoutError(
                f"{call.method} {call.path} not sent: its time was up",
                method=call.method,
                url=str(call.url),
                maybe_sent=False,
            )
        connect = None if limits.connect is None else min(limits.connect, left)
        return aiohttp.ClientTimeout(total=left, connect=connect)

    async def _attempt(self, call: _Call, limits: aiohttp.ClientTimeout) -> Any:
        if self._closed:
            raise ClientClosedError(f"{call.method} {call.path} not sent: the ThreeCommasClient is closed")
        session, admission = self._transport.bind()
        gate = self._gate
        clock = asyncio.get_running_loop().time
        waited_from = clock()
        token = await gate.acquire(call.key, call.priority, call.method, call.path)
        waited = clock() - waited_from
        call.limiter_wait += waited
        operation = current_operation()
        if operation is not None:
            operation.waited += waited
        method, path, url = call.method, call.path, call.url
        # The SDK error is raised after the except blocks, not inside them: raised inside, it would keep
        # the aiohttp exception as __context__, and some of those carry the request headers (Signature).
        failure: ThreeCommasError | None = None
        status = 0
        content = b""
        try:
            async with admission:
                if self._transport.closed:
                    raise ClientClosedError(f"{method} {path} not sent: the ThreeCommasClient was closed")
                if operation is not None:
                    operation.sent = True
                async with session.request(
                    method,
                    url,
                    data=call.body,
                    headers=call.headers,
                    timeout=limits,
                    # A redirect would carry Apikey and Signature to whatever host it names, and turn a POST
                    # into a GET; 3Commas does not redirect API calls, so one is an error, never followed.
                    allow_redirects=False,
                    # A session passed in may raise on 4xx/5xx by itself; the answer must reach the mapping.
                    raise_for_status=False,
                ) as resp:
                    status = resp.status
                    if 200 <= status < 300:
                        content = await _read(resp, self._max_response_size, method, path, str(url))
                    else:
                        content = await _read_error(resp)
                        retry_after = parse_retry_after(resp.headers.getall("Retry-After", ()))
            if not 200 <= status < 300:
                failure = await self._error(call, status, content, retry_after)
        except ThreeCommasError as exc:  # ours (too large, closed): no aiohttp context to shed
            failure = exc
        except aiohttp.ConnectionTimeoutError:
            failure = APITimeoutError(
                f"{method} {path}: timed out connecting to {self._origin}",
                method=method,
                url=str(url),
                maybe_sent=False,
            )
        except TimeoutError:
            failure = APITimeoutError(
                f"{method} {path}: timed out waiting for the answer", method=method, url=str(url)
            )
        except aiohttp.ClientConnectorError as exc:
            failure = APIConnectionError(
                f"{method} {path}: cannot connect to {self._origin}: {exc.os_error}",
                method=method,
                url=str(url),
                maybe_sent=False,
            )
        except (aiohttp.ClientError, OSError) as exc:
            failure = APIConnectionError(
                f"{method} {path}: connection broke before the answer was complete ({type(exc).__name__})",
                method=method,
                url=str(url),
            )
        finally:
            gate.release(call.key, token, status != 0 and status not in (429, 418))
        if failure is not None:
            raise failure
        if self._budget is not None:
            self._budget.earn()
        gate.succeeded()
        endpoint = call.endpoint
        if not content and endpoint.allow_empty:
            return None
        try:
            return endpoint.decoder.decode(content)
        except (msgspec.DecodeError, RecursionError) as exc:
            # ValidationError is a DecodeError; its message names the JSON path ("at `$.position...`").
            what = "an empty body" if not content else f"a body that does not match {endpoint.what}"
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            decode_error = ResponseDecodeError(
                f"{method} {path} -> {status}: {what}: {reason}",
                status=status,
                method=method,
                url=str(url),
                body=content.decode("utf-8", "replace"),
            )
        raise decode_error

    async def _error(self, call: _Call, status: int, content: bytes, retry_after: float | None) -> APIError:
        error = error_from_response(call.method, str(call.url), call.path, status, content, retry_after)
        if status == 429:
            # Every 429 pauses the bucket, the subscription-plan kind included: to 3Commas' ban logic
            # a 429 is a 429, and sending on into it is what earns a 418.
            wait = await self._gate.on_rate_limited(call.key, retry_after, call.method, call.path)
            if isinstance(error, RateLimitError):
                error.retry_after = wait
        elif isinstance(error, IPBannedError):
            error.retry_after = await self._gate.on_banned(retry_after, call.method, call.path)
        return error


async def _read(resp: aiohttp.ClientResponse, limit: int, method: str, path: str, url: str) -> bytes:
    """The whole 2xx body, never more than ``limit`` bytes after decompression."""
    length = resp.content_length
    if length is not None and length > limit:
        raise _too_large(method, path, url, resp.status, limit)
    if length is not None and not resp.headers.get("Content-Encoding"):
        return await resp.read()  # aiohttp reads exactly Content-Length bytes
    body = bytearray()
    async for chunk in resp.content.iter_any():
        body += chunk
        if len(body) > limit:
            raise _too_large(method, path, url, resp.status, limit)
    return bytes(body)


async def _read_error(resp: aiohttp.ClientResponse) -> bytes:
    """The start of an error answer: all a mapping needs, however much the server sends."""
    body = bytearray()
    async for chunk in resp.content.iter_any():
        body += chunk
        if len(body) >= ERROR_BODY_LIMIT:
            break
    return bytes(body[:ERROR_BODY_LIMIT])


def _too_large(method: str, path: str, url: str, status: int, limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"{method} {path} -> {status}: the answer is larger than max_response_size={limit:,} bytes "
        "(decompressed); nothing of it was decoded",
        status=status,
        method=method,
        url=url,
        body="",
        limit=limit,
    )
