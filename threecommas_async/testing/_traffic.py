"""What reached the fake: a per-request record and aggregate counters. Never a secret or a signature."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RecordedRequest", "Stats"]


@dataclass(slots=True)
class RecordedRequest:
    """One request as the fake saw it.

    ``path`` is the raw path (with ``/public/api``), ``query`` the raw query string, ``time`` a
    ``time.monotonic()`` reading at arrival, ``route`` the route name (``"cancel"``, ``"list"``, …,
    ``"unknown"``), ``api_key`` the ``Apikey`` header (a public identifier, not a secret). ``status`` is
    the status sent, or ``None`` when the connection was dropped without an answer (``reset_*`` faults).
    ``fault`` is the injected fault kind, if any. ``trade_id`` is the SmartTrade id of the path, if any.
    """

    method: str
    path: str
    query: str
    time: float
    route: str
    api_key: str | None
    trade_id: int | None = None
    status: int | None = None
    fault: str | None = None


@dataclass(slots=True)
class Stats:
    """Counters since start (or the last :meth:`reset`)."""

    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    by_route: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    dropped: int = 0  # connections closed without a complete answer

    @property
    def status_429(self) -> int:
        return self.by_status.get(429, 0)

    @property
    def status_418(self) -> int:
        return self.by_status.get(418, 0)

    @property
    def status_401(self) -> int:
        return self.by_status.get(401, 0)

    def count(self, status: int) -> int:
        """How many answers had ``status``."""
        return self.by_status.get(status, 0)

    def reset(self) -> None:
        self.requests = 0
        self.dropped = 0
        self.by_status.clear()
        self.by_route.clear()
        self.faults.clear()
