"""``client.smart_trades``: the SmartTrade v2 endpoints, typed."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Coroutine, Iterable, Mapping
from datetime import datetime
from typing import Any, Final, TypedDict, Unpack

from .. import _routes as routes
from .._encoding import encode_body, encode_query
from .._errors import ThreeCommasError
from .._resource import Resource
from .._routes import BACKGROUND, RISK_REDUCING
from .._status import NOTHING_TO_CANCEL, status_of
from ..models import (
    AddFundsParams,
    ReduceFundsInfo,
    ReduceFundsParams,
    SmartTrade,
    SmartTradeCreate,
    SmartTradeUpdate,
    Trade,
)
from ..models._state import Seen
from .cancel import DEFAULT_CONCURRENCY, CancelStream, acted_before, cancel_many, refused, settle, unproven
from .final import FinalState, wait_final

__all__ = ["ListFilters", "SmartTrades"]

MAX_PER_PAGE: Final = 100
MAX_NOTE: Final = 300


class ListFilters(TypedDict, total=False):
    """The filters of ``GET /v2/smart_trades`` (``from_`` is sent as ``from``)."""

    account_id: int | None
    pair: str | None
    type: str | None
    status: str | None
    order_by: str | None
    order_direction: str | None
    from_: datetime | str | None
    to: datetime | str | None
    base: str | None
    quote: str | None


_FILTER_NAMES: Final = frozenset(ListFilters.__annotations__)


def _list_query(filters: Mapping[str, Any], page: int | None, per_page: int | None) -> str:
    unknown = filters.keys() - _FILTER_NAMES
    if unknown:
        raise TypeError(f"unknown SmartTrade list filter(s): {', '.join(sorted(unknown))}")
    if page is not None and (not isinstance(page, int) or page < 1):
        raise ValueError(f"page must be an integer >= 1, got {page!r}")
    if per_page is not None and (not isinstance(per_page, int) or not 1 <= per_page <= MAX_PER_PAGE):
        raise ValueError(f"per_page must be an integer in 1..{MAX_PER_PAGE}, got {per_page!r}")
    direction = filters.get("order_direction")
    if direction is not None and direction.upper() not in ("ASC", "DESC"):
        raise ValueError(f"order_direction must be 'ASC' or 'DESC', got {direction!r}")
    params = {("from" if k == "from_" else k): v for k, v in filters.items()}
    params["page"] = page
    params["per_page"] = per_page
    return encode_query(params)


def _body(params: Any, what: str) -> bytes:
    if params is None:
        raise ValueError(f"{what} needs params (a Struct or a mapping), got None")
    return encode_body(params)


class SmartTrades(Resource):
    """SmartTrade v2 endpoints. Reached as ``client.smart_trades``; every method is signed, rate-limited,
    retried per the client's policy and decoded into msgspec Structs."""

    __slots__ = ()

    # -- reads ----------------------------------------------------------------------------------------
    async def get(self, id: int) -> SmartTrade:
        """GET /v2/smart_trades/{id}."""
        return await self._request(routes.GET, id)

    async def list(
        self, *, page: int | None = None, per_page: int | None = None, **filters: Unpack[ListFilters]
    ) -> builtins.list[SmartTrade]:
        """GET /v2/smart_trades: one page (3Commas answers a bare array with no total).

        Filters: ``account_id``, ``pair``, ``type``, ``status``, ``order_by``, ``order_direction``,
        ``from_``, ``to``, ``base``, ``quote`` (see :class:`ListFilters`); ``None`` leaves one out.
        """
        return await self._request(routes.LIST, query=_list_query(filters, page, per_page))

    async def iterate(
        self, *, per_page: int = MAX_PER_PAGE, **filters: Unpack[ListFilters]
    ) -> AsyncIterator[SmartTrade]:
        """Every SmartTrade matching the filters, page after page, until a page shorter than ``per_page``."""
        page = 1
        while True:
            batch = await self.list(page=page, per_page=per_page, **filters)
            for trade in batch:
                yield trade
            if len(batch) < per_page:
                return
            page += 1

    async def trades(self, id: int) -> builtins.list[Trade]:
        """GET /v2/smart_trades/{id}/trades: the orders of a SmartTrade."""
        return await self._request(routes.TRADES, id)

    async def reduce_funds_info(self, id: int) -> ReduceFundsInfo:
        """GET /v2/smart_trades/{id}/reduce_funds_info: how much can be taken out."""
        return await self._request(routes.REDUCE_FUNDS_INFO, id)

    # -- writes ---------------------------------------------------------------------------------------
    async def create(self, params: SmartTradeCreate | Mapping[str, Any]) -> SmartTrade:
        """POST /v2/smart_trades. Not idempotent: retried only when it provably never reached 3Commas."""
        return await self._request(routes.CREATE, body=_body(params, "create"))

    async def update(self, id: int, params: SmartTradeUpdate | Mapping[str, Any]) -> SmartTrade:
        """PATCH /v2/smart_trades/{id}: edit a SmartTrade that is still waiting."""
        return await self._request(routes.UPDATE, id, body=_body(params, "update"))

    async def add_funds(self, id: int, params: AddFundsParams | Mapping[str, Any]) -> SmartTrade:
        """POST /v2/smart_trades/{id}/add_funds. Not idempotent."""
        return await self._request(routes.ADD_FUNDS, id, body=_body(params, "add_funds"))

    async def reduce_funds(self, id: int, params: ReduceFundsParams | Mapping[str, Any]) -> SmartTrade:
        """POST /v2/smart_trades/{id}/reduce_funds. Not idempotent."""
        return await self._request(routes.REDUCE_FUNDS, id, body=_body(params, "reduce_funds"))

    async def set_note(self, id: int, note: str) -> SmartTrade:
        """POST /v2/smart_trades/{id}/set_note (1 to 300 characters)."""
        if not isinstance(note, str) or not 1 <= len(note) <= MAX_NOTE:
            got = f"{len(note)} characters" if isinstance(note, str) else repr(note)
            raise ValueError(f"note must be a string of 1..{MAX_NOTE} characters, got {got}")
        return await self._request(routes.SET_NOTE, id, body=encode_body({"note": note}))

    async def force_start(self, id: int) -> SmartTrade:
        """POST /v2/smart_trades/{id}/force_start."""
        return await self._request(routes.FORCE_START, id)

    async def force_process(self, id: int) -> SmartTrade:
        """POST /v2/smart_trades/{id}/force_process (found in older docs only)."""
        return await self._request(routes.FORCE_PROCESS, id)

    # -- risk-reducing: served first when requests wait for the rate limit ------------------------------
    async def cancel(self, id: int) -> SmartTrade:
        """DELETE /v2/smart_trades/{id}. The answer shows ``cancellation_pending``; GET later sees
        ``cancelled``. An empty answer (older API versions sent 204) is followed by a GET.

        When a first attempt's answer was lost and the retry is refused (403/422) because the trade is
        already cancelling, the first attempt did the work: a GET confirms it and the trade is returned.
        """
        try:
            trade = await self._request(routes.CANCEL, id)
        except ThreeCommasError as exc:
            if not (refused(exc) and acted_before(exc)):
                raise
            result = await settle(self, id, exc)
            if result.outcome != "final" or result.trade is None:
                raise
            return result.trade
        if trade is None:
            return await self._request(routes.GET, id, priority=RISK_REDUCING)
        if trade.id != id or status_of(trade) not in NOTHING_TO_CANCEL:
            # A 2xx that is another trade, {}, or the trade still active: only a look can tell.
            result = await settle(self, id, unproven(id, trade.id, status_of(trade)))
            if not result.ok or result.trade is None:
                assert result.error is not None
                raise result.error
            return result.trade
        return trade

    async def close_by_market(self, id: int) -> SmartTrade:
        """POST /v2/smart_trades/{id}/close_by_market: the panic close."""
        return await self._request(routes.CLOSE_BY_MARKET, id)

    async def close_trade_by_market(self, id: int, trade_id: int) -> SmartTrade:
        """POST /v2/smart_trades/{id}/trades/{trade_id}/close_by_market."""
        return await self._request(routes.CLOSE_TRADE_BY_MARKET, id, trade_id)

    async def cancel_trade(self, id: int, trade_id: int) -> SmartTrade:
        """DELETE /v2/smart_trades/{id}/trades/{trade_id}: cancel one order of a SmartTrade."""
        trade = await self._request(routes.CANCEL_TRADE, id, trade_id)
        return trade if trade is not None else await self._request(routes.GET, id, priority=RISK_REDUCING)

    def cancel_many(
        self,
        ids: Iterable[int],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float | None = None,
        wait: bool = False,
        wait_timeout: float = 120.0,
    ) -> CancelStream:
        """Cancel many SmartTrades concurrently; yield one :class:`CancelResult` per distinct id as each
        settles (see :mod:`~threecommas_async.resources.cancel` for what each outcome proves). In-flight
        requests are bounded by ``concurrency`` and by the client's rate limit; one id's failure is reported
        in its result, never raised. Bad ids raise ``ValueError`` before anything is sent. ``timeout`` bounds
        each id's whole operation (its DELETE's attempts and back-off and the GET that checks it), not
        counting waits for the rate limit. With ``wait=True`` a cancelled trade is yielded once it is
        final (``cancelled``, not just ``cancellation_pending``), confirmed as :meth:`wait_final` does, for
        at most ``wait_timeout`` seconds; ``result.final`` says whether it got there.
        """
        return cancel_many(
            self, ids, concurrency=concurrency, timeout=timeout, wait=wait, wait_timeout=wait_timeout
        )

    def wait_final(
        self, ids: Iterable[int], *, timeout: float = 120.0, poll: float = 2.0, max_poll: float = 30.0
    ) -> AsyncIterator[FinalState]:
        """Wait until SmartTrades are final (cancelled, finished or failed): yield one :class:`FinalState`
        per distinct id as it is seen final, and the rest, not final, after ``timeout`` seconds. Cheap in
        3Commas' allowance: the list endpoint confirms up to 100 ids a request, polls back off from
        ``poll`` to ``max_poll`` seconds, and they wait behind every other request of the client."""
        return wait_final(self, ids, timeout=timeout, poll=poll, max_poll=max_poll)

    # -- what bulk cancel and the wait for final states need (CancelTarget, FinalTarget) ------------------
    def _delete_seen(self, id: int) -> Coroutine[Any, Any, Seen | None]:
        return self._request(routes.CANCEL_SEEN, id)

    def _look_seen(self, id: int, priority: int = RISK_REDUCING) -> Coroutine[Any, Any, Seen]:
        return self._request(routes.GET_SEEN, id, priority=priority)

    async def _list_closed(self, page: int) -> builtins.list[Seen]:
        query = _list_query(
            {"status": "finished", "order_by": "closed_at", "order_direction": "DESC"}, page, MAX_PER_PAGE
        )
        return await self._request(routes.LIST_SEEN, query=query, priority=BACKGROUND)
