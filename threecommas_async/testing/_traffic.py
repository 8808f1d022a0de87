"""What reached the fake: a per-request record and aggregate counters. Never a secret or a signature."""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["KeyStats", "RecordedRequest", "Stats", "busiest"]


@dataclass(slots=True)
class RecordedRequest:
    """One request as the fake saw it.

    ``path`` is the raw path (with ``/public/api``), ``query`` the raw query string, ``time`` a reading
    of the server's clock at arrival (``time.monotonic()`` unless the server was given a ``clock``),
    ``route`` the route name (``"cancel"``, ``"list"``, …, ``"unknown"``), ``api_key`` the ``Apikey``
    header (a public identifier, not a secret). ``status`` is the status sent, or ``None`` when the
    connection was dropped without a complete answer (``reset_*``, ``truncated``, ``hang`` and
    ``endless`` faults). ``fault`` is the injected fault kind, if any.
    ``trade_id`` is the SmartTrade id of the path, if any.
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


def busiest(times: Iterable[float], period: float) -> int:
    """The most of ``times`` that fit in one window of ``period`` seconds.

    Windows are half-open, like the fake's limiter counts them: two arrivals share a window when they
    are less than ``period`` apart. Exact (two pointers over the sorted times), O(n).
    """
    if not period > 0:
        raise ValueError("period must be > 0")
    ts = sorted(times)
    best = left = 0
    for right, t in enumerate(ts):
        cutoff = t - period
        while ts[left] <= cutoff:
            left += 1
        if right - left + 1 > best:
            best = right - left + 1
    return best


class _ByStatus:
    """Answers counted by status (``by_status``), and the counts tests ask for most."""

    __slots__ = ()
    by_status: dict[int, int]

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


@dataclass(slots=True)
class KeyStats(_ByStatus):
    """Counters of one ``Apikey`` header value (``None``: requests without one).

    ``arrivals`` holds the arrival time (server clock) of every request of the key since start or
    reset, 8 bytes each, whatever ``record_requests`` says: :meth:`busiest_window` reads it.
    """

    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    dropped: int = 0
    arrivals: array[float] = field(default_factory=lambda: array("d"), repr=False, compare=False)

    def busiest_window(self, period: float) -> int:
        """How many requests this key sent in its busiest window of ``period`` seconds."""
        return busiest(self.arrivals, period)


@dataclass(slots=True)
class Stats(_ByStatus):
    """Counters since start (or the last :meth:`reset`).

    ``by_key`` has one :class:`KeyStats` per ``Apikey`` header value seen (``None`` for requests
    without one), known to the server or not. ``deletes`` counts, per SmartTrade id, the DELETE requests
    (``cancel`` and ``cancel_trade``) that reached the server, whatever they were answered.
    """

    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    by_route: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    dropped: int = 0  # connections closed without a complete answer
    by_key: dict[str | None, KeyStats] = field(default_factory=dict)
    deletes: dict[int, int] = field(default_factory=dict)

    def key(self, api_key: str | None) -> KeyStats:
        """The counters of ``api_key`` (zeros if it sent nothing)."""
        return self.by_key.get(api_key) or KeyStats()

    def reset(self) -> None:
        self.requests = 0
        self.dropped = 0
        self.by_status.clear()
        self.by_route.clear()
        self.faults.clear()
        self.by_key.clear()
        self.deletes.clear()
