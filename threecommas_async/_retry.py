"""Retries: which failures may be repeated, how long to back off, and when to give up.

The client makes the first attempt without any of this; only a failed attempt enters
:func:`retry_after_failure`, which replays the failure as tenacity's attempt 1 so that tenacity's
counting, stop and wait logic apply unchanged from there on.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass
from typing import Final, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

from ._errors import (
    APIConnectionError,
    APITimeoutError,
    IPBannedError,
    RateLimitError,
    ResponseDecodeError,
    ResponseTooLargeError,
    ServerError,
    ThreeCommasError,
)
from ._events import ClientEvent, EventHook, emit
from ._log import log

__all__ = ["IDEMPOTENT_METHODS", "RetryBudget", "RetryPolicy", "is_retryable", "retry_after_failure"]

T = TypeVar("T")

IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PATCH", "PUT"})
"""PATCH here sets fields to given values, so repeating it cannot do the work twice."""
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing: an answer lost or garbled can simply be asked for again."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how the client repeats a failed request.

    :param max_attempts: attempts in all, the first included; ``1`` means no retry.
    :param backoff_base: the first retry waits up to this many seconds; each further one doubles it
        (full jitter: a uniform random wait between 0 and the cap, so many clients do not retry in step).
    :param backoff_max: no single wait is longer than this.
    :param deadline: no retry starts after this many seconds since the first attempt began.
    :param budget: retry tokens shared by every request of one client. A retry spends ``retry_cost``
        (``timeout_cost`` after a timeout), a success earns one back; an empty budget means failures are
        raised at once, so a storm of errors cannot multiply traffic (botocore's "standard" mode).
    :param retry_statuses: 5xx statuses worth repeating for idempotent methods.
    :param retry_rate_limited: repeat after a 429 once its cool-down is over. A 429 proves the server did
        nothing, so this applies to POST too.

    Immutable, so one instance can be shared by many clients.
    """

    max_attempts: int = 3
    _: KW_ONLY
    backoff_base: float = 0.25
    backoff_max: float = 8.0
    deadline: float = 60.0
    budget: int = 500
    retry_cost: int = 5
    timeout_cost: int = 10
    retry_statuses: frozenset[int] = frozenset({500, 502, 503, 504})
    retry_rate_limited: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"RetryPolicy: max_attempts must be an integer >= 1, got {self.max_attempts!r}")
        if not (self.backoff_base >= 0 and self.backoff_max >= 0 and self.deadline >= 0):
            raise ValueError("RetryPolicy: backoff_base, backoff_max and deadline must not be negative")
        if self.budget < 0 or self.retry_cost < 0 or self.timeout_cost < 0:
            raise ValueError("RetryPolicy: budget and costs must not be negative")
        object.__setattr__(self, "retry_statuses", frozenset(self.retry_statuses))


class RetryBudget:
    """Tokens shared by every request of a client; see :class:`RetryPolicy`."""

    __slots__ = ("capacity", "tokens")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.tokens = capacity

    def spend(self, cost: int) -> bool:
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True

    def earn(self) -> None:
        if self.tokens < self.capacity:
            self.tokens += 1


def is_retryable(exc: BaseException, method: str, policy: RetryPolicy, max_wait: float = math.inf) -> bool:
    """The one rule for what may be repeated without risk of doing the work twice (and with a chance)."""
    if isinstance(exc, IPBannedError):
        return False
    if isinstance(exc, RateLimitError):
        # A refusal by our own gate (nothing was sent) means the cool-down is longer than max_wait, and
        # so is a 429 whose cool-down is: the retry would only be refused.
        return policy.retry_rate_limited and exc.sent and (exc.retry_after or 0.0) <= max_wait
    if isinstance(exc, ServerError):
        return method in IDEMPOTENT_METHODS and exc.status in policy.retry_statuses
    if isinstance(exc, ResponseDecodeError):
        # A garbled answer to a read is worth reading again; to a write it already did its work (2xx),
        # and an answer too large will be as large again.
        return method in SAFE_METHODS and not isinstance(exc, ResponseTooLargeError)
    if isinstance(exc, APIConnectionError):
        return method in IDEMPOTENT_METHODS or not exc.maybe_sent
    return False


async def retry_after_failure(
    first: Exception,
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    budget: RetryBudget,
    method: str,
    path: str,
    deadline: Callable[[], float],
    clock: Callable[[], float],
    max_wait: float,
    hook: EventHook | None,
) -> T:
    """Repeat ``attempt`` after ``first`` failed, as the policy allows; raise the last failure otherwise.

    ``deadline()`` is the time on ``clock`` (the loop's) after which no attempt may start; it moves later
    while the call waits for the rate limit, which is not the call's own time.
    """

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.max_attempts:
            return True
        upcoming = state.upcoming_sleep
        if clock() + upcoming >= deadline():
            return True
        exc = state.outcome.exception() if state.outcome else None
        return not budget.spend(
            policy.timeout_cost if isinstance(exc, APITimeoutError) else policy.retry_cost
        )

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        status = getattr(exc, "status", None)
        wait = state.upcoming_sleep
        if isinstance(exc, RateLimitError) and exc.retry_after:
            # The rate limiter holds the retry until the cool-down is over: that is the real wait.
            wait = max(wait, exc.retry_after)
        log.warning(
            "retrying %s %s: attempt %d failed (%s, status %s), next in %.2fs",
            method,
            path,
            state.attempt_number,
            type(exc).__name__,
            status,
            wait,
        )
        emit(
            hook,
            ClientEvent(
                "retry",
                method,
                path,
                attempt=state.attempt_number,
                wait=wait,
                status=status,
                error=type(exc).__name__,
            ),
        )

    last: Exception = first

    async def tracked() -> T:
        nonlocal last
        try:
            return await attempt()
        except ThreeCommasError as exc:
            if isinstance(last, ThreeCommasError) and exc is not last:
                exc.previous = last
            last = exc
            raise

    retrying = AsyncRetrying(
        stop=stop,
        wait=wait_random_exponential(multiplier=policy.backoff_base, max=policy.backoff_max),
        retry=retry_if_exception(lambda e: is_retryable(e, method, policy, max_wait)),
        before_sleep=before_sleep,
        reraise=True,
    )
    async for attempt_state in retrying:
        with attempt_state:
            if attempt_state.retry_state.attempt_number == 1:
                raise first
            return await tracked()
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover
