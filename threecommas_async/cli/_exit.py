"""Exit statuses of the command line, and the one line it prints for each expected failure.

The SDK's exception messages carry method, path, status and the server's error text, never a key, a
secret or a signature, so they can be shown as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from .._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    IPBannedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    ThreeCommasError,
    UnprocessableEntityError,
)
from ._output import plural, seconds

__all__ = [
    "EXIT_AUTH",
    "EXIT_BANNED",
    "EXIT_CODES_HELP",
    "EXIT_CONNECTION",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_RATE_LIMITED",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "UsageError",
    "describe_error",
    "describe_failures",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_AUTH: Final = 3
EXIT_BANNED: Final = 4
EXIT_RATE_LIMITED: Final = 5
EXIT_CONNECTION: Final = 6
EXIT_INTERRUPTED: Final = 130
EXIT_TERMINATED: Final = 143

EXIT_CODES_HELP: Final = """\
exit status:
  0    done (a cancel: every SmartTrade cancelled or already final)
  1    failed: some SmartTrade not cancelled (or still active after cancel-all, or with
       --wait-final not final within --final-timeout), confirmation declined, not found,
       refused by 3Commas (403/422), 3Commas server error, or a bulk cancel whose failures
       had different causes
  2    usage: bad arguments, missing or unusable credentials, no --yes without a terminal,
       --max-rate above 3Commas' limit without --force, fake-server's port in use
  3    authentication failed (401: bad key, secret, signature or IP whitelist)
  4    IP banned by 3Commas (418): send nothing until the ban is over
  5    rate limited (429): 3Commas' cool-down was longer than the client waits (--max-wait, --wait)
  6    3Commas unreachable: connection refused or broken, timeout
  130  interrupted (Ctrl-C); a cancel first prints the ids settled, sent but not
       settled, and never sent (with --json, one "kind": "interrupted" line too)
  143  terminated (SIGTERM), with the same report
A bulk cancel exits 3 or 4 when any id failed that way, else 5 or 6 when every
failure had that cause; stderr has one line per distinct cause."""


class UsageError(Exception):
    """A problem with how the command was called or configured (exit status 2)."""


def _for(value: float | None) -> str:
    return f" for {seconds(value)}" if value is not None else ""


_PLAIN: Final[tuple[tuple[type[Exception], int, str], ...]] = (
    # Most specific first: APITimeoutError is an APIConnectionError, every *Error here an APIError.
    (NotFoundError, EXIT_FAILED, "not found"),
    (PermissionDeniedError, EXIT_FAILED, "refused (the key's permissions or the SmartTrade's state)"),
    (UnprocessableEntityError, EXIT_FAILED, "rejected by 3Commas"),
    (ServerError, EXIT_FAILED, "3Commas server error"),
    (APITimeoutError, EXIT_CONNECTION, "timed out"),
    (APIConnectionError, EXIT_CONNECTION, "connection failed"),
    (ResponseDecodeError, EXIT_FAILED, "unexpected answer from 3Commas"),
    (APIError, EXIT_FAILED, "3Commas error"),
)
"""The failures whose line is a label and the SDK's message."""


def describe_error(exc: ThreeCommasError | ValueError, *, hint: str | None = None) -> tuple[int, str]:
    """The exit status and the one line (without the program name) for an expected failure. ``hint``:
    what to do about a rate limit the command could have waited out (default: try again later)."""
    if isinstance(exc, ValueError):
        return EXIT_USAGE, f"bad input: {exc}"
    if isinstance(exc, AuthenticationError):
        return EXIT_AUTH, (
            f"authentication failed: {exc} (check the API key and its secret or private key, "
            "the key's IP whitelist, and --base-url)"
        )
    if isinstance(exc, IPBannedError):
        return EXIT_BANNED, (
            f"IP banned by 3Commas{_for(exc.retry_after)}: {exc}. "
            "Send nothing from this IP until the ban is over; every request meanwhile makes it longer"
        )
    if isinstance(exc, RateLimitError):
        return (
            EXIT_RATE_LIMITED,
            f"rate limited by 3Commas{_for(exc.retry_after)}: {exc}; {hint or 'try again later'}",
        )
    for cls, code, what in _PLAIN:
        if isinstance(exc, cls):
            return code, f"{what}: {exc}"
    return EXIT_FAILED, f"{type(exc).__name__}: {exc}"


def describe_failures(
    errors: Sequence[ThreeCommasError], *, hint: str | None = None
) -> tuple[int, list[str]]:
    """The exit status and the lines (one per distinct cause, in order of first appearance) for the
    failed ids of a bulk cancel. A bad key or a ban wins whatever else happened; a rate limit or an
    unreachable server gives its own status only when every failure had that cause."""
    groups: dict[type[ThreeCommasError], list[ThreeCommasError]] = {}
    for error in errors:
        groups.setdefault(type(error), []).append(error)
    codes: set[int] = set()
    lines: list[str] = []
    for group in groups.values():
        code, message = describe_error(group[0], hint=hint)
        codes.add(code)
        lines.append(f"{plural(len(group))} failed: {message}")
    if not codes:
        return EXIT_OK, lines
    for code in (EXIT_AUTH, EXIT_BANNED):
        if code in codes:
            return code, lines
    return (codes.pop() if len(codes) == 1 else EXIT_FAILED), lines
