"""The route table of the fake: the SmartTrade v2 endpoints, their names and their store methods.

Route names (used by faults, stats and the traffic record) are the SDK's method names. Resolving a path
is one dict lookup on the path with its numeric segments replaced by ``#``: no regex, no router.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ._store import Origin, TradeStore

__all__ = ["PREFIX", "ROUTES", "UNKNOWN", "Ids", "Route", "resolve"]

PREFIX: Final = "/public/api"
_SMART: Final = PREFIX + "/v2/smart_trades"

Ids = tuple[int, int]
RouteFn = Callable[[TradeStore, Ids, Mapping[str, str], dict[str, Any], Origin], Any]
"""``(store, ids, query, body, origin)`` -> the answer's JSON."""


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # below /public/api/v2/smart_trades; {id} and {trade_id} are decimal ids
    name: str
    status: int
    fn: RouteFn
    takes_body: bool = False


ROUTES: Final[tuple[Route, ...]] = (
    Route("GET", "", "list", 200, lambda s, i, q, b, o: s.list_trades(q)),
    Route("POST", "", "create", 201, lambda s, i, q, b, o: s.create(b, o), True),
    Route("GET", "/{id}", "get", 200, lambda s, i, q, b, o: s.get(i[0])),
    Route("PATCH", "/{id}", "update", 200, lambda s, i, q, b, o: s.update(i[0], b), True),
    Route("DELETE", "/{id}", "cancel", 200, lambda s, i, q, b, o: s.cancel(i[0], o)),
    Route("POST", "/{id}/add_funds", "add_funds", 201, lambda s, i, q, b, o: s.add_funds(i[0], b), True),
    Route(
        "GET",
        "/{id}/reduce_funds_info",
        "reduce_funds_info",
        200,
        lambda s, i, q, b, o: s.reduce_funds_info(i[0]),
    ),
    Route(
        "POST",
        "/{id}/reduce_funds",
        "reduce_funds",
        201,
        lambda s, i, q, b, o: s.reduce_funds(i[0], b),
        True,
    ),
    Route(
        "POST",
        "/{id}/close_by_market",
        "close_by_market",
        201,
        lambda s, i, q, b, o: s.close_by_market(i[0], o),
    ),
    Route("POST", "/{id}/force_start", "force_start", 201, lambda s, i, q, b, o: s.force_start(i[0], o)),
    Route(
        "POST", "/{id}/force_process", "force_process", 201, lambda s, i, q, b, o: s.force_process(i[0], o)
    ),
    Route("POST", "/{id}/set_note", "set_note", 201, lambda s, i, q, b, o: s.set_note(i[0], b), True),
    Route("GET", "/{id}/trades", "trades", 200, lambda s, i, q, b, o: s.trades(i[0])),
    Route(
        "POST",
        "/{id}/trades/{trade_id}/close_by_market",
        "close_trade_by_market",
        201,
        lambda s, i, q, b, o: s.close_trade_by_market(i[0], i[1]),
    ),
    Route(
        "DELETE",
        "/{id}/trades/{trade_id}",
        "cancel_trade",
        200,
        lambda s, i, q, b, o: s.cancel_trade(i[0], i[1], o),
    ),
)
UNKNOWN: Final = Route("*", "", "unknown", 404, lambda s, i, q, b, o: None)
_NO_IDS: Final = (0, 0)

# The precompiled route table: (method, path template with ids replaced by "#") -> route.
_TABLE: Final[dict[tuple[str, str], Route]] = {
    (r.method, r.path.replace("{id}", "#").replace("{trade_id}", "#")): r for r in ROUTES
}


def _is_id(segment: str) -> bool:
    return segment.isdecimal() and segment.isascii() and len(segment) < 19


def resolve(method: str, path: str) -> tuple[Route, Ids]:
    """The route of a raw path and its ``(id, trade_id)`` (0 where absent); :data:`UNKNOWN` if none."""
    if not path.startswith(_SMART):
        return UNKNOWN, _NO_IDS
    rest = path[len(_SMART) :]
    if not rest:
        return _TABLE.get((method, ""), UNKNOWN), _NO_IDS
    parts = rest.split("/")  # rest starts with "/": parts[0] == ""
    n = len(parts)
    if n < 2 or parts[0] or not _is_id(parts[1]):
        return UNKNOWN, _NO_IDS
    tid = int(parts[1])
    if n == 2:
        return _TABLE.get((method, "/#"), UNKNOWN), (tid, 0)
    if n == 3:
        return _TABLE.get((method, "/#/" + parts[2]), UNKNOWN), (tid, 0)
    if parts[2] == "trades" and _is_id(parts[3]):
        sub = int(parts[3])
        if n == 4:
            return _TABLE.get((method, "/#/trades/#"), UNKNOWN), (tid, sub)
        if n == 5:
            return _TABLE.get((method, "/#/trades/#/" + parts[4]), UNKNOWN), (tid, sub)
    return UNKNOWN, _NO_IDS
