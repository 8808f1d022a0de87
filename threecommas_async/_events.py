"""What the client tells a user's hook about retries, cool-downs and bans (for counting and metrics)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ._log import log

__all__ = ["ClientEvent", "EventHook", "emit"]


@dataclass(frozen=True, slots=True)
class ClientEvent:
    """One retry, 429 cool-down, 418 ban, or a wait for the rate limit. Carries no header, key or signature.

    ``kind``: ``"retry"`` (an attempt failed; the next one starts in ``wait`` s), ``"cooldown"`` (a 429:
    every request of the bucket pauses ``wait`` s), ``"ban"`` (a 418: nothing is sent for ``wait`` s),
    ``"throttle"`` (requests queue for the client's own rate limit; the next slot frees in ``wait`` s;
    once per stall, not per request).
    """

    kind: Literal["retry", "cooldown", "ban", "throttle"]
    method: str
    path: str
    attempt: int
    wait: float
    status: int | None = None
    error: str | None = None


EventHook = Callable[[ClientEvent], None]


def emit(hook: EventHook | None, event: ClientEvent) -> None:
    """Call the user's hook; a bug in it must not break the request that reported the event."""
    if hook is None:
        return
    try:
        hook(event)
    except Exception:
        log.exception("event_hook raised on %s event", event.kind)
