"""``client.smart_trades``: the SmartTrade v2 endpoints, typed."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from .._encoding import encode_body, encode_query
from .._errors import (
    PermissionDeniedError,
    ThreeCommasError,
    UnprocessableEntityError,
    may_have_acted,
)
from .._ratelimit import NORMAL, RISK_REDUCING
from ..models import (
    AddFundsParams,
    ReduceFundsInfo,
    ReduceFundsParams,
    SmartTrade,
    SmartTradeCreate,
    SmartTradeUpdate,
    Trade,
)
from ..models._decoders import (
    REDUCE_FUNDS_INFO_DECODER,
    SMART_TRADE_DECODER,
    SMART_TRADE_LIST_DECODER,
    TRADE_LIST_DECODER,
)
from .cancel import CANCELLING, DEFAULT_CONCURRENCY, CancelResult, cancel_many, status_of

if TYPE_CHECKING:
    from .._client import ThreeCommasClient

__all__ = ["SmartTrades"]

_BASE: Final = "/v2/smart_trades"
MAX_PER_PAGE: Final = 100
MAX_NOTE: Final = 300


def _check_id(name: str, value: object) -> int:
    # bool is an int subclass; True as an id is always a bug in the caller.
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class SmartTrades:
    """SmartTrade v2 endpoints. Reached as ``client.smart_trades``; every method is signed, rate-limited,
    retried per the client's policy and decoded into msgspec Structs."""

    __slots__ = ("_client",)

    def __init__(self, client: ThreeCommasClient) -> None:
        self._client = client

    # -- reads ----------------------------------------------------------------------------------------
    async def get(self, id: int) -> SmartTrade:
        """GET /v2/smart_trades/{id}."""
        return await self._get(id, NORMAL)

    async def _get(self, id: int, priority: int) -> SmartTrade:
        # Cancels check their outcome with a GET; it waits with them, not behind the reads they overtake.
        path = f"{_BASE}/{_check_id('id', id)}"
        return await self._client._call(
            "GET", path, "", None, "GET /v2/smart_trades/{id}", priority, SMART_TRADE_DECODER
        )

    async def list(
        self,
        *,
        account_id: int | None = None,
        pair: str | None = None,
        type: str | None = None,
        status: str | None = None,
        page: int | None = None,
        per_page: int | None = None,
        order_by: str | None = None,
        order_direction: str | None = None,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        base: str | None = None,
        quote: str | None = None,
    ) -> builtins.list[SmartTrade]:
        """GET /v2/smart_trades: one page (3Commas answers a bare array with no total)."""
        if page is not None and (not isinstance(page, int) or page < 1):
            raise ValueError(f"page must be an integer >= 1, got {page!r}")
        if per_page is not None and (not isinstance(per_page, int) or not 1 <= per_page <= MAX_PER_PAGE):
            raise ValueError(f"per_page must be an integer in 1..{MAX_PER_PAGE}, got {per_page!r}")
        if order_direction is not None and order_direction.upper() not in ("ASC", "DESC"):
            raise ValueError(f"order_direction must be 'ASC' or 'DESC', got {order_direction!r}")
        params = {
            "account_id": account_id,
            "pair": pair,
            "type": type,
            "status": status,
            "page": page,
            "per_page": per_page,
            "order_by": order_by,
            "order_direction": order_direction,
            "from": from_,
            "to": to,
            "base": base,
            "quote": quote,
        }
        return await self._client._call(
            "GET", _BASE, encode_query(params), None, "GET /v2/smart_trades", NORMAL, SMART_TRADE_LIST_DECODER
        )

    async def iterate(
        self,
        *,
        account_id: int | None = None,
        pair: str | None = None,
        type: str | None = None,
        status: str | None = None,
        per_page: int = MAX_PER_PAGE,
        order_by: str | None = None,
        order_direction: str | None = None,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        base: str | None = None,
        quote: str | None = None,
    ) -> AsyncIterator[SmartTrade]:
        """Every SmartTrade matching the filters, page after page, until a page shorter than ``per_page``."""
        page = 1
        while True:
            batch = await self.list(
                account_id=account_id,
                pair=pair,
                type=type,
                status=status,
                page=page,
                per_page=per_page,
                order_by=order_by,
                order_direction=order_direction,
                from_=from_,
                to=to,
                base=base,
                quote=quote,
            )
            for trade in batch:
                yield trade
            if len(batch) < per_page:
                return
            page += 1

    async def trades(self, id: int) -> builtins.list[Trade]:
        """GET /v2/smart_trades/{id}/trades: the orders of a SmartTrade."""
        path = f"{_BASE}/{_check_id('id', id)}/trades"
        return await self._client._call(
            "GET", path, "", None, "GET /v2/smart_trades/{id}/trades", NORMAL, TRADE_LIST_DECODER
        )

    async def reduce_funds_info(self, id: int) -> ReduceFundsInfo:
        """GET /v2/smart_trades/{id}/reduce_funds_info: how much can be taken out."""
        path = f"{_BASE}/{_check_id('id', id)}/reduce_funds_info"
        return await self._client._call(
            "GET",
            path,
            "",
            None,
            "GET /v2/smart_trades/{id}/reduce_funds_info",
            NORMAL,
            REDUCE_FUNDS_INFO_DECODER,
        )

    # -- writes ---------------------------------------------------------------------------------------
    async def create(self, params: SmartTradeCreate | Mapping[str, Any]) -> SmartTrade:
        """POST /v2/smart_trades. Not idempotent: retried only when it provably never reached 3Commas."""
        return await self._write("POST", _BASE, params, "POST /v2/smart_trades")

    async def update(self, id: int, params: SmartTradeUpdate | Mapping[str, Any]) -> SmartTrade:
        """PATCH /v2/smart_trades/{id}: edit a SmartTrade that is still waiting."""
        path = f"{_BASE}/{_check_id('id', id)}"
        return await self._write("PATCH", path, params, "PATCH /v2/smart_trades/{id}")

    async def add_funds(self, id: int, params: AddFundsParams | Mapping[str, Any]) -> SmartTrade:
        """POST /v2/smart_trades/{id}/add_funds. Not idempotent."""
        path = f"{_BASE}/{_check_id('id', id)}/add_funds"
        return await self._write("POST", path, params, "POST /v2/smart_trades/{id}/add_funds")

    async def reduce_funds(self, id: int, params: ReduceFundsParams | Mapping[str, Any]) -> SmartTrade:
        """POST /v2/smart_trades/{id}/reduce_funds. Not idempotent."""
        path = f"{_BASE}/{_check_id('id', id)}/reduce_funds"
        return await self._write("POST", path, params, "POST /v2/smart_trades/{id}/reduce_funds")

    async def set_note(self, id: int, note: str) -> SmartTrade:
        """POST /v2/smart_trades/{id}/set_note (1 to 300 characters)."""
        if not isinstance(note, str) or not 1 <= len(note) <= MAX_NOTE:
            got = f"{len(note)} characters" if isinstance(note, str) else repr(note)
            raise ValueError(f"note must be a string of 1..{MAX_NOTE} characters, got {got}")
        path = f"{_BASE}/{_check_id('id', id)}/set_note"
        return await self._write("POST", path, {"note": note}, "POST /v2/smart_trades/{id}/set_note")

    async def force_start(self, id: int) -> SmartTrade:
        """POST /v2/smart_trades/{id}/force_start."""
        return await self._action("POST", id, "/force_start", NORMAL)

    async def force_process(self, id: int) -> SmartTrade:
        """POST /v2/smart_trades/{id}/force_process (found in older docs only)."""
        return await self._action("POST", id, "/force_process", NORMAL)

    # -- risk-reducing: served first when requests wait for the rate limit ------------------------------
    async def cancel(self, id: int) -> SmartTrade:
        """DELETE /v2/smart_trades/{id}. The answer shows ``cancellation_pending``; GET later sees
        ``cancelled``. An empty answer (older API versions sent 204) is followed by a GET.

        When a first attempt's answer was lost and the retry is refused (403/422) because the trade is
        already cancelling, the first attempt did the work: a GET confirms it and the trade is returned.
        """
        path = f"{_BASE}/{_check_id('id', id)}"
        try:
            trade: SmartTrade | None = await self._client._call(
                "DELETE",
                path,
                "",
                None,
                "DELETE /v2/smart_trades/{id}",
                RISK_REDUCING,
                SMART_TRADE_DECODER,
                allow_empty=True,
            )
        except (PermissionDeniedError, UnprocessableEntityError) as exc:
            if not any(may_have_acted(e) for e in exc.attempts()[:-1]):
                raise
            try:
                trade = await self._get(id, RISK_REDUCING)
            except ThreeCommasError:
                raise exc from None
            if status_of(trade) not in CANCELLING:
                raise
        return trade if trade is not None else await self._get(id, RISK_REDUCING)

    async def close_by_market(self, id: int) -> SmartTrade:
        """POST /v2/smart_trades/{id}/close_by_market: the panic close."""
        return await self._action("POST", id, "/close_by_market", RISK_REDUCING)

    async def close_trade_by_market(self, id: int, trade_id: int) -> SmartTrade:
        """POST /v2/smart_trades/{id}/trades/{trade_id}/close_by_market."""
        suffix = f"/trades/{_check_id('trade_id', trade_id)}/close_by_market"
        return await self._action("POST", id, suffix, RISK_REDUCING, template="/trades/{id}/close_by_market")

    async def cancel_trade(self, id: int, trade_id: int) -> SmartTrade:
        """DELETE /v2/smart_trades/{id}/trades/{trade_id}: cancel one order of a SmartTrade."""
        suffix = f"/trades/{_check_id('trade_id', trade_id)}"
        return await self._action("DELETE", id, suffix, RISK_REDUCING, template="/trades/{id}")

    def cancel_many(
        self, ids: Iterable[int], *, concurrency: int = DEFAULT_CONCURRENCY
    ) -> AsyncIterator[CancelResult]:
        """Cancel many SmartTrades concurrently; yield one :class:`CancelResult` per distinct id as each
        finishes. In-flight requests are bounded by ``concurrency`` and by the client's rate limit; one id's
        failure is reported in its result, never raised. Bad ids raise ``ValueError`` before anything is sent.
        """
        return cancel_many(self, ids, concurrency=concurrency)

    # -- plumbing -------------------------------------------------------------------------------------
    async def _action(
        self, method: str, id: int, suffix: str, priority: int, *, template: str | None = None
    ) -> SmartTrade:
        path = f"{_BASE}/{_check_id('id', id)}{suffix}"
        endpoint = f"{method} {_BASE}/{{id}}{suffix if template is None else template}"
        return await self._client._call(method, path, "", None, endpoint, priority, SMART_TRADE_DECODER)

    async def _write(self, method: str, path: str, params: Any, endpoint: str) -> SmartTrade:
        if params is None:
            raise ValueError(f"{method} {path} needs params (a Struct or a mapping), got None")
        return await self._client._call(
            method, path, "", encode_body(params), endpoint, NORMAL, SMART_TRADE_DECODER
        )
