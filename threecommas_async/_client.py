"""The client: session lifecycle and the one request pipeline every call goes through.

prepare (path, query, body bytes) -> sign once over exactly those bytes -> gate (rate limit, cool-down, ban)
-> send -> map the answer (2xx decoded by msgspec from the body bytes, anything else to an exception).
A failed attempt, and only a failed one, enters the retry machinery in ``_retry.py``.
"""

from __future__ import annotations

import time
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
    IPBannedError,
    RateLimitError,
    ResponseDecodeError,
    ThreeCommasError,
    error_from_response,
    parse_retry_after,
)
from ._events import EventHook
from ._ratelimit import Gate, RateLimit
from ._retry import RetryBudget, RetryPolicy, is_retryable, retry_after_failure
from ._routes import Endpoint, endpoint_template, raw_endpoint
from ._signing import APIKEY_HEADER, DEFAULT_BASE_URL, SIGNATURE_HEADER, make_signer, signed_message
from .resources.smart_trades import SmartTrades

__all__ = ["DEFAULT_BASE_URL", "ThreeCommasClient"]

T = TypeVar("T")

DEFAULT_TIMEOUT: Final = 30.0
DEFAULT_RATE_LIMIT: Final = RateLimit()
DEFAULT_RETRY: Final = RetryPolicy()


class ThreeCommasClient:
    """Async client for the 3Commas API.

    Use it as ``async with ThreeCommasClient(key, secret) as client: ...`` or call :meth:`close`.
    One aiohttp session (one connection pool) serves every request for the client's life; it is created
    lazily inside the running loop. A session passed in is used as-is and never closed by the client.
    """

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
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        self._signer = make_signer(api_secret, private_key)
        if forced_mode not in (None, "real", "paper"):
            raise ValueError(f"forced_mode must be 'real', 'paper' or None, got {forced_mode!r}")
        base = URL(base_url)
        if not base.is_absolute() or base.scheme not in ("http", "https"):
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        if base.query_string or base.fragment:
            raise ValueError(f"base_url must not carry a query or fragment, got {base_url!r}")
        if base.user is not None or base.password is not None:
            raise ValueError("base_url must not carry credentials (user:password@)")
        self.base_url = str(base).rstrip("/")
        self._origin = str(base.origin())
        self._base_path = base.raw_path.rstrip("/")
        if isinstance(timeout, int | float):
            if timeout <= 0:
                raise ValueError(f"timeout must be positive, got {timeout!r}")
            timeout = aiohttp.ClientTimeout(total=timeout, connect=min(10.0, float(timeout)))
        self._timeout = timeout
        self._headers: dict[str, str] = {APIKEY_HEADER: api_key, "Accept": "application/json"}
        if forced_mode is not None:
            self._headers["Forced-Mode"] = forced_mode
        self.forced_mode = forced_mode
        self._session = session
        self._owns_session = session is None
        self._connection_limit = connection_limit
        self._closed = False
        self._hook = event_hook
        self.rate_limit = rate_limit
        self.retry = retry
        self._gate = Gate(rate_limit, hook=event_hook)
        self._budget = RetryBudget(retry.budget) if retry is not None else None
        self.smart_trades = SmartTrades(self)

    def __repr__(self) -> str:
        return (
            f"ThreeCommasClient(base_url={self.base_url!r}, signing={self._signer.scheme!r}, "
            f"forced_mode={self.forced_mode!r})"
        )

    # -- lifecycle ------------------------------------------------------------------------------------
    async def __aenter__(self) -> ThreeCommasClient:
        self._ensure_session()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session the client created (never one passed in). Safe to call twice."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _ensure_session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None:
            if self._closed:
                raise RuntimeError("ThreeCommasClient is closed; create a new one")
            connector = aiohttp.TCPConnector(limit=self._connection_limit, ttl_dns_cache=300)
            session = self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, raise_for_status=False
            )
            # aiohttp silently re-sends an idempotent request once when a kept-alive connection drops.
            # That second request would bypass the rate limiter, the retry budget and the logs, so the
            # client's own retry policy must be the only one. (Private attribute: no public switch yet.)
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
        return session

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
        method = endpoint.method
        raw_path = self._base_path + path
        headers = self._headers.copy()
        headers[SIGNATURE_HEADER] = self._signer.sign(
            signed_message(self._signer.scheme, raw_path, query, body)
        )
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = URL(f"{self._origin}{raw_path}?{query}" if query else f"{self._origin}{raw_path}", encoded=True)
        if priority is None:
            priority = endpoint.priority
        started = time.monotonic()
        try:
            return await self._attempt(endpoint, path, url, headers, body, priority)
        except ThreeCommasError as exc:
            policy = self.retry
            if policy is None or policy.max_attempts < 2 or not is_retryable(exc, method, policy):
                raise
            assert self._budget is not None
            return await retry_after_failure(
                exc,
                lambda: self._attempt(endpoint, path, url, headers, body, priority),
                policy=policy,
                budget=self._budget,
                method=method,
                path=path,
                started=started,
                hook=self._hook,
            )

    async def _attempt(
        self,
        endpoint: Endpoint[T],
        path: str,
        url: URL,
        headers: dict[str, str],
        body: bytes | None,
        priority: int,
    ) -> T:
        method = endpoint.method
        key = endpoint.key
        session = self._ensure_session()
        holds_slot = await self._gate.acquire(key, priority, method, path)
        # The SDK error is raised after the except blocks, not inside them: raised inside, it would keep
        # the aiohttp exception as __context__, and some of those carry the request headers (Signature).
        failure: ThreeCommasError | None = None
        try:
            if session.closed:
                raise RuntimeError("ThreeCommasClient was closed while this request waited")
            async with session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=self._timeout,
                # A redirect would carry Apikey and Signature to whatever host it names, and turn a POST
                # into a GET; 3Commas does not redirect API calls, so one is an error, never followed.
                allow_redirects=False,
                # A session passed in may raise on 4xx/5xx by itself; the answer must reach _error().
                raise_for_status=False,
            ) as resp:
                content = await resp.read()
                status = resp.status
                if not 200 <= status < 300:
                    raise self._error(method, path, str(url), status, content, resp.headers, key)
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
            if holds_slot:
                self._gate.release(key)
        if failure is not None:
            raise failure
        if self._budget is not None:
            self._budget.earn()
        if self._gate.ban_strikes:
            self._gate.ban_strikes = 0
        if not content and endpoint.allow_empty:
            return None  # type: ignore[return-value]
        try:
            return endpoint.decoder.decode(content)
        except msgspec.DecodeError as exc:
            # ValidationError is a DecodeError; its message names the JSON path ("at `$.position...`").
            what = "an empty body" if not content else f"a body that does not match {endpoint.what}"
            raise ResponseDecodeError(
                f"{method} {path} -> {status}: {what}: {exc}",
                status=status,
                method=method,
                url=str(url),
                body=content.decode("utf-8", "replace"),
            ) from None

    def _error(
        self,
        method: str,
        path: str,
        url: str,
        status: int,
        content: bytes,
        headers: Mapping[str, str],
        endpoint: str,
    ) -> APIError:
        error = error_from_response(method, url, path, status, content, headers)
        if status == 429:
            # Every 429 pauses the bucket, the subscription-plan kind included: to 3Commas' ban logic
            # a 429 is a 429, and sending on into it is what earns a 418.
            wait = self._gate.on_rate_limited(
                endpoint, parse_retry_after(headers.get("Retry-After")), method, path
            )
            if isinstance(error, RateLimitError):
                error.retry_after = wait
        elif isinstance(error, IPBannedError):
            self._gate.on_banned(error, method, path)
        return error
