"""Output of the command line: aligned tables for people, JSON lines for scripts, tqdm progress on stderr.

Rules: data goes to stdout (a table, or one JSON object per line); everything meant for a person only
(prompts, hints, the progress bar, the summary in ``--json`` mode, errors) goes to stderr, so
``threecommas-async --json ... | jq`` always reads clean JSON. Nothing here ever prints a credential.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, TextIO

import msgspec
from tqdm import tqdm

from ._errors import APIError, ThreeCommasError
from .models import SmartTrade
from .resources.cancel import CancelResult

__all__ = [
    "Output",
    "detail_rows",
    "outcome",
    "result_row",
    "result_to_builtins",
    "trade_row",
    "trade_status",
]

TRADE_HEADERS: Final = ("ID", "PAIR", "STATUS", "ACCOUNT", "TYPE", "CREATED (UTC)", "PROFIT USD", "PROFIT %")
TRADE_RIGHT: Final = frozenset({0, 3, 6, 7})
RESULT_HEADERS: Final = ("ID", "PAIR", "RESULT", "STATUS", "ERROR")
RESULT_RIGHT: Final = frozenset({0})
EMPTY: Final = "-"


def _text(value: object) -> str:
    if value is None:
        return EMPTY
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _money(value: Decimal | None) -> str:
    if value is None or not value.is_finite():
        return EMPTY if value is None else str(value)
    return f"{value:,.2f}"


def trade_status(trade: SmartTrade | None) -> str | None:
    """``status.type`` (or ``basic_type``) of a SmartTrade, narrowed through the nullable parts."""
    if trade is None or trade.status is None:
        return None
    return trade.status.type or trade.status.basic_type


def trade_row(trade: SmartTrade) -> list[str]:
    """One line of the SmartTrade table, in :data:`TRADE_HEADERS` order."""
    account = trade.account.id if trade.account is not None else None
    data = trade.data
    profit = trade.profit
    return [
        _text(trade.id),
        _text(trade.pair),
        _text(trade_status(trade)),
        _text(account),
        _text(data.type if data is not None else None),
        _text(data.created_at if data is not None else None),
        _money(profit.usd if profit is not None else None),
        _money(profit.percent if profit is not None else None),
    ]


def detail_rows(trade: SmartTrade) -> list[tuple[str, str]]:
    """``get``'s view of one SmartTrade: label / value pairs, the most useful fields first."""
    rows: list[tuple[str, str]] = [("id", _text(trade.id)), ("pair", _text(trade.pair))]
    status = trade.status
    if status is not None:
        shown = _text(status.type)
        if status.title and status.title != status.type:
            shown += f" ({status.title})"
        if status.error:
            shown += f" error: {status.error}"
        rows.append(("status", shown))
    account = trade.account
    if account is not None:
        shown = _text(account.id)
        if account.name:
            shown += f" ({account.name})"
        rows.append(("account", shown))
    data = trade.data
    position = trade.position
    if position is not None:
        side = " ".join(p for p in (position.type, position.order_type) if p) or EMPTY
        rows.append(("position", side))
        if position.units is not None:
            rows.append(("units", _text(position.units.value)))
        if position.price is not None:
            rows.append(("price", _text(position.price.value)))
        if position.total is not None:
            rows.append(("total", _text(position.total.value)))
    take_profit = trade.take_profit
    if take_profit is not None:
        steps = take_profit.steps or []
        if take_profit.enabled and steps:
            prices = ", ".join(_text(step.price.value if step.price is not None else None) for step in steps)
            rows.append(("take profit", f"{len(steps)} step(s) at {prices}"))
        else:
            rows.append(("take profit", "off"))
    stop_loss = trade.stop_loss
    if stop_loss is not None:
        if stop_loss.enabled:
            price = stop_loss.conditional.price if stop_loss.conditional is not None else None
            rows.append(("stop loss", _text(price.value if price is not None else None)))
        else:
            rows.append(("stop loss", "off"))
    if data is not None:
        if data.type:
            rows.append(("type", data.type))
        if data.current_price is not None and data.current_price.last is not None:
            rows.append(("current price", _text(data.current_price.last)))
        if data.average_enter_price is not None:
            rows.append(("average entry", _text(data.average_enter_price)))
    profit = trade.profit
    if profit is not None:
        rows.append(("profit usd", _money(profit.usd)))
        rows.append(("profit %", _money(profit.percent)))
    if data is not None:
        rows.append(("created (UTC)", _text(data.created_at)))
        rows.append(("updated (UTC)", _text(data.updated_at)))
        if data.closed_at is not None:
            rows.append(("closed (UTC)", _text(data.closed_at)))
    if trade.note:
        rows.append(("note", trade.note))
    return rows


def outcome(result: CancelResult) -> str:
    if not result.ok:
        return "failed"
    return "already_final" if result.already_final else "cancelled"


def _error_line(error: ThreeCommasError) -> str:
    return f"{type(error).__name__}: {error}"


def result_row(result: CancelResult) -> list[str]:
    """One line of the cancel-results table, in :data:`RESULT_HEADERS` order."""
    label = {"failed": "FAILED", "already_final": "already final", "cancelled": "cancelled"}[outcome(result)]
    trade = result.trade
    return [
        str(result.id),
        _text(trade.pair if trade is not None else None),
        label,
        _text(trade_status(trade)),
        _error_line(result.error) if result.error is not None else "",
    ]


def result_to_builtins(result: CancelResult) -> dict[str, Any]:
    """A cancel result as one JSON object: what a script needs to decide what to do next."""
    error = result.error
    trade = result.trade
    return {
        "id": result.id,
        "ok": result.ok,
        "already_final": result.already_final,
        "result": outcome(result),
        "status": trade_status(trade),
        "pair": trade.pair if trade is not None else None,
        "error": None
        if error is None
        else {
            "type": type(error).__name__,
            "message": str(error),
            "http_status": error.status if isinstance(error, APIError) else None,
        },
        "elapsed": round(result.elapsed, 4),
    }


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]], right: frozenset[int]) -> list[str]:
    """Aligned columns separated by two spaces; ``right`` holds the indexes of right-aligned columns."""
    body = [list(r) for r in rows]
    widths = [len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    last = len(headers) - 1

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(widths[i]) if i in right else (cell if i == last else cell.ljust(widths[i]))
            for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), *(line(r) for r in body)]


class Output:
    """Where each kind of output goes, and whether a progress bar may be drawn."""

    def __init__(
        self,
        *,
        json: bool,
        progress: bool,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.json = json
        self.progress = progress
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr

    # -- data (stdout) ----------------------------------------------------------------------------------
    def line(self, text: str) -> None:
        """One line of data; clears any progress bar first so the two never interleave."""
        tqdm.write(text, file=self.stdout)
        self.stdout.flush()

    def json_line(self, obj: Any) -> None:
        """One JSON object: a SmartTrade Struct or plain builtins. Decimals become strings."""
        self.line(msgspec.json.encode(obj).decode())

    def trades(self, trades: Sequence[SmartTrade]) -> None:
        if self.json:
            for trade in trades:
                self.json_line(trade)
            return
        for text in format_table(TRADE_HEADERS, (trade_row(t) for t in trades), TRADE_RIGHT):
            self.line(text)

    def trade_detail(self, trade: SmartTrade) -> None:
        if self.json:
            self.json_line(trade)
            return
        rows = detail_rows(trade)
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            self.line(f"{label.ljust(width)}  {value}")

    def results(self, results: Sequence[CancelResult]) -> None:
        """The cancel results as a table (``--json`` streams them one by one instead, see ``result``)."""
        for text in format_table(RESULT_HEADERS, (result_row(r) for r in results), RESULT_RIGHT):
            self.line(text)

    def result(self, result: CancelResult) -> None:
        self.json_line(result_to_builtins(result))

    # -- for people (stderr) ----------------------------------------------------------------------------
    def note(self, text: str) -> None:
        tqdm.write(text, file=self.stderr)
        self.stderr.flush()

    def error(self, text: str) -> None:
        """One line about a failure, prefixed with the program's name like every error of the CLI."""
        self.note(f"threecommas-async: {text}")

    def summary(self, text: str) -> None:
        """The summary: part of the data in table mode, a note beside the JSON lines otherwise."""
        if self.json:
            self.note(text)
        else:
            self.line(text)

    def bar(self, *, desc: str, total: int | None, unit: str = " trade") -> tqdm[Any]:
        """A progress bar on stderr; drawn only on a terminal (``disable=None``) and without --no-progress."""
        return tqdm(
            total=total,
            desc=desc,
            unit=unit,
            file=self.stderr,
            leave=False,
            disable=None if self.progress else True,
            dynamic_ncols=True,
        )
