"""The exception hierarchy and the one place that turns an HTTP answer into an exception.

No exception carries request headers, so neither the ``Apikey``'s secret counterpart nor the
``Signature`` can leak through ``str()``, ``repr()`` or a traceback.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import msgspec

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "ClientClosedError",
    "EventLoopMismatchError",
    "IPBannedError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimitStorageError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "ServerError",
    "ThreeCommasError",
    "UnprocessableEntityError",
    "error_from_response",
    "may_have_acted",
    "parse_retry_after",
]

BODY_LIMIT = 2000
"""How much of a body an exception keeps: enough to read an HTML error page's title, not a novel."""


def _truncate(text: str) -> str:
    return text if len(text) <= BODY_LIMIT else text[:BODY_LIMIT] + "…[truncated]"


class ThreeCommasError(Exception):
    """Base of every exception this SDK raises on purpose.

    ``previous`` is the failure of the attempt before this one when the client retried, so a caller can
    see the whole story (e.g. a refused DELETE after a first attempt whose answer was lost).
    """

    previous: ThreeCommasError | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own pickling calls cls(*args), which fails for keyword-only attributes: rebuild
        # without __init__ and restore every attribute (``previous`` included), so errors cross
        # ProcessPoolExecutor and multiprocessing.Pool intact.
        return (_rebuild, (type(self), self.args), self.__dict__)

    def attempts(self) -> list[ThreeCommasError]:
        """This failure and every earlier one of the same call, oldest first."""
        chain: list[ThreeCommasError] = []
        err: ThreeCommasError | None = self
        while err is not None:
            chain.append(err)
            err = err.previous
        return chain[::-1]


def _rebuild(cls: type[ThreeCommasError], args: tuple[Any, ...]) -> ThreeCommasError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    return error


class APIError(ThreeCommasError):
    """The server answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        url: str,
        error: str | None = None,
        error_description: str | None = None,
        error_attributes: Mapping[str, Any] | None = None,
        body: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.url = url
        self.error = error
        self.error_description = error_description
        self.error_attributes: Mapping[str, Any] = error_attributes or {}
        self.body = _truncate(body)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class AuthenticationError(APIError):
    """401: bad or expired key, bad signature, or IP not whitelisted."""


class PermissionDeniedError(APIError):
    """403, and the 429 whose body says the subscription plan forbids the request."""


class NotFoundError(APIError):
    """404."""


class UnprocessableEntityError(APIError):
    """422 and 400: the request was understood and refused."""


class RateLimitError(APIError):
    """429 that did not clear within the retry policy or the maximum wait.

    ``sent`` is False when the client refused to send at all because a cool-down was still running.
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, sent: bool = True, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after
        self.sent = sent


class IPBannedError(APIError):
    """418: 3Commas banned this IP. Never retried; the client refuses to send until it should be over."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx (or another unexpected status) still failing after retries."""


class APIConnectionError(ThreeCommasError):
    """The server could not be reached, or the connection broke before an answer arrived.

    ``maybe_sent`` is False only when the request provably never left: then even a non-idempotent
    request can be sent again without risk of doing its work twice.
    """

    def __init__(self, message: str, *, method: str, url: str, maybe_sent: bool = True) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.maybe_sent = maybe_sent


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class ClientClosedError(ThreeCommasError, RuntimeError):
    """The client was closed: before this request was sent, or while it waited for the rate limit."""


class EventLoopMismatchError(ThreeCommasError, RuntimeError):
    """The client is used from an event loop other than the one it started on (a second ``asyncio.run``,
    another thread). Its connection pool belongs to the first loop: create one client per loop."""


class RateLimitStorageError(ThreeCommasError):
    """The rate-limit storage (SQLite file, Redis) could not be reached in time. Nothing was sent: without
    the shared allowance a request could walk into a 429 or a ban (fail closed)."""

    def __init__(self, message: str, *, storage: str) -> None:
        super().__init__(message)
        self.storage = storage
        """The storage's URL, without its password."""


class ResponseDecodeError(ThreeCommasError):
    """A 2xx answer whose body is not the JSON expected; the message names the field path."""

    def __init__(self, message: str, *, status: int, method: str, url: str, body: str) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.url = url
        self.body = _truncate(body)


class ResponseTooLargeError(ResponseDecodeError):
    """A 2xx answer larger than the client's ``max_response_size`` (counted after decompression)."""

    def __init__(self, message: str, *, limit: int, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.limit = limit


class _ErrorBody(msgspec.Struct):
    error: Any = None
    error_description: Any = None
    error_attributes: Any = None


_error_body_decoder = msgspec.json.Decoder(_ErrorBody)
_TITLE = re.compile(rb"<title>\s*(.*?)\s*</title>", re.IGNORECASE | re.DOTALL)
_PLAN = re.compile(r"\b(plan|subscription)\b", re.IGNORECASE)
_NOT_FOUND = re.compile(r"\bnot[ _]found\b", re.IGNORECASE)

_BY_STATUS: dict[int, type[APIError]] = {
    400: UnprocessableEntityError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    418: IPBannedError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def may_have_acted(error: ThreeCommasError) -> bool:
    """Could the server have done the work although this attempt failed?"""
    if isinstance(error, APIConnectionError):
        return error.maybe_sent
    return isinstance(error, ServerError | ResponseDecodeError)


def parse_retry_after(values: Iterable[str]) -> float | None:
    """Seconds from ``Retry-After`` headers (delta-seconds or an HTTP date), the largest if several.

    A value that is not a positive, finite number of seconds, or a date that is not in the future, means
    "not given" (None): the caller falls back to its configured pause. Caps are the caller's (a 429's and
    a 418's differ).
    """
    best: float | None = None
    for raw in values:
        value = raw.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError, IndexError, OverflowError):
                continue
        if math.isfinite(seconds) and seconds > 0 and (best is None or seconds > best):
            best = seconds
    return best


def _is_json(body: bytes) -> bool:
    try:
        msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return False
    return True


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def error_from_response(
    method: str,
    url: str,
    path: str,
    status: int,
    body: bytes,
    retry_after: float | None = None,
) -> APIError:
    """Map one error answer to its exception. The only place that knows the status table."""
    error = description = None
    attributes: Mapping[str, Any] | None = None
    kind = "empty body"
    try:
        parsed = _error_body_decoder.decode(body) if body else None
        if parsed is not None:
            kind = "JSON body without an error field"
    except (msgspec.DecodeError, RecursionError):
        parsed = None
        kind = "JSON body without an error field" if _is_json(body) else "non-JSON body"
    if parsed is not None:
        error = _text(parsed.error)
        description = _text(parsed.error_description)
        if isinstance(parsed.error_attributes, Mapping):
            attributes = parsed.error_attributes
    text = body.decode("utf-8", "replace")
    if parsed is None:
        # An edge proxy's HTML page: its title is the most useful single line it has.
        match = _TITLE.search(body[:4096])
        description = match.group(1).decode("utf-8", "replace")[:200] if match else None
    cls = _BY_STATUS.get(status)
    if cls is None:
        # 3xx: a redirect is never followed (it would carry the signature elsewhere), so it is an error.
        cls = ServerError if status >= 500 else APIError if status < 400 else UnprocessableEntityError
    said = f"{error or ''} {description or ''}"
    if status == 429 and _PLAN.search(said):
        cls = PermissionDeniedError
    elif cls in (UnprocessableEntityError, NotFoundError) and _NOT_FOUND.search(said):
        # The official get and cancel pages show {"error": "Not found"} under a 400.
        cls = NotFoundError
    detail = ": ".join(p for p in (error, description) if p) or kind
    message = f"{method} {path} -> {status} {detail}"
    kw: dict[str, Any] = {
        "status": status,
        "method": method,
        "url": url,
        "error": error,
        "error_description": description,
        "error_attributes": attributes,
        "body": text,
    }
    if cls is RateLimitError or cls is IPBannedError:
        kw["retry_after"] = retry_after
    return cls(message, **kw)
