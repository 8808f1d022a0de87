"""Output of the command line: aligned tables for people, JSON lines for scripts (progress: ``_progress``).

Rules: data goes to stdout (a table, or one JSON object per line, each with a ``"kind"``); everything
meant for a person only (prompts, hints, progress, the summary in ``--json`` mode, retries and
cool-downs, errors) goes to stderr, so ``threecommas-async --json ... | jq`` always reads clean JSON.
Every line passes through ``hide`` (``_credentials.Secrets``) on its way out.

Output never stops a write command: when stdout goes away (``| head``) or fails, it is pointed at
/dev/null, the lines that could not be shown are counted, and the command reports the count at the end.
"""

from __future__ import annotations

import errno
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, TextIO

import msgspec
from tqdm import tqdm

from .._errors import APIError, ThreeCommasError
from .._status import status_of
from ..models import SmartTrade
from ..resources.cancel import CancelResult
from ._console import PROG

__all__ = [
    "KIND_CANCEL_RESULT",
    "KIND_SMART_TRADE",
    "RESULT_LABELS",
    "Output",
    "detail_rows",
    "plural",
    "result_row",
    "result_to_builtins",
    "seconds",
    "trade_row",
]

TRADE_HEADERS: Final = ("ID", "PAIR", "STATUS", "ACCOUNT", "TYPE", "CREATED (UTC)", "PROFIT USD", "PROFIT %")
TRADE_RIGHT: Final = frozenset({0, 3, 6, 7})
RESULT_HEADERS: Final = ("ID", "PAIR", "RESULT", "STATUS", "ERROR")
RESULT_RIGHT: Final = frozenset({0})
RESULT_WIDTHS: Final = (0, 10, 13, 20)
"""The result rows stream as the results settle, so their columns cannot be sized on what they hold:
ID is sized on the ids asked for, the others on what they usually hold ("already final",
"cancellation_pending"); a longer cell pushes the rest of its row right."""
EMPTY: Final = "-"
KIND_SMART_TRADE: Final = "smart_trade"
KIND_CANCEL_RESULT: Final = "cancel_result"
_TRADE_PREFIX: Final = b'{"kind":"smart_trade"'


def plural(n: int, word: str = "SmartTrade") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def seconds(value: float) -> str:
    """A wait as people read it: tenths below 10 s ("0.2 s"), whole seconds rounded up above ("300 s")."""
    return f"{value:.1f} s" if value < 10 else f"{math.ceil(value)} s"


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


def trade_row(trade: SmartTrade) -> list[str]:
    """One line of the SmartTrade table, in :data:`TRADE_HEADERS` order.

    STATUS is ``status_of`` (``basic_type`` first), not ``type``: it is the state cancel-all and the
    checks decide on, so a row never shows a state the command's decision seems to contradict. ``get``
    adds a finer ``type`` when one differs; ``--json`` carries both."""
    account = trade.account.id if trade.account is not None else None
    data = trade.data
    profit = trade.profit
    return [
        _text(trade.id),
        _text(trade.pair),
        _text(status_of(trade)),
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
        # The state every decision of the CLI is made on (status_of: basic_type first), so that what the
        # operator reads is what cancel-all skipped or a check confirmed; a finer ``type`` is added.
        state = status_of(trade)
        shown = _text(state)
        if status.type and status.type != state:
            shown += f" [{status.type}]"
        if status.title and status.title not in (state, status.type):
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


RESULT_LABELS: Final = {
    "cancelled": "cancelled",
    "already_final": "already final",
    "final": "final",  # cancelled or on its way, but whether by this run cannot be told
    "failed": "FAILED",
    "unknown": "UNKNOWN",
}


def _error_line(error: ThreeCommasError) -> str:
    return f"{type(error).__name__}: {error}"


def result_row(result: CancelResult) -> list[str]:
    """One line of the cancel-results table, in :data:`RESULT_HEADERS` order."""
    trade = result.trade
    return [
        str(result.id),
        _text(trade.pair if trade is not None else None),
        RESULT_LABELS[result.outcome],
        _text(result.status),
        _error_line(result.error) if result.error is not None else "",
    ]


def result_to_builtins(result: CancelResult) -> dict[str, Any]:
    """A cancel result as one JSON object (``"kind": "cancel_result"``): what a script needs to decide
    what to do next."""
    error = result.error
    trade = result.trade
    return {
        "kind": KIND_CANCEL_RESULT,
        "id": result.id,
        "ok": result.ok,
        "already_final": result.already_final,
        "result": result.outcome,
        "final": result.final,
        "status": result.status,
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


def format_row(cells: Sequence[str], widths: Sequence[int], right: frozenset[int]) -> str:
    """Cells padded to ``widths``, two spaces apart; the last one is not padded."""
    last = len(cells) - 1
    parts = [
        cell.rjust(widths[i]) if i in right else (cell if i == last else cell.ljust(widths[i]))
        for i, cell in enumerate(cells)
    ]
    return "  ".join(parts).rstrip()


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]], right: frozenset[int]) -> list[str]:
    """Aligned columns sized on what they hold; ``right`` holds the indexes of right-aligned columns."""
    body = [list(r) for r in rows]
    widths = [len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    return [format_row(r, widths, right) for r in (headers, *body)]


def trade_json(trade: SmartTrade) -> str:
    """A SmartTrade as one JSON object, exactly as the API describes it (Decimals as strings), with
    ``"kind": "smart_trade"`` first so a script can tell it from a cancel result."""
    body = msgspec.json.encode(trade)
    if body == b"{}":
        return _TRADE_PREFIX.decode() + "}"
    return (_TRADE_PREFIX + b"," + body[1:]).decode()


class Output:
    """Where each kind of output goes, and whether progress may be shown.

    ``keep_going``: when writing to stdout fails (the reader went away, a full disk), point stdout at
    /dev/null and carry on, counting what was not shown (:meth:`unshown_report`); a command that cancels
    must never stop halfway because of its output. Without it the error propagates (a read can just stop).
    ``hide`` is applied to every line written (see ``_credentials.Secrets``).
    """

    def __init__(
        self,
        *,
        json: bool,
        progress: bool,
        stdout: TextIO,
        stderr: TextIO,
        keep_going: bool = False,
        hide: Callable[[str], str] = str,
    ) -> None:
        self.json = json
        self.progress = progress
        self.stdout = stdout
        self.stderr = stderr
        self.keep_going = keep_going
        self.hide = hide
        self.stdout_failure: str | None = None
        """Why stdout stopped taking lines ("stdout closed", ...), or None while it works."""
        self.unshown: Counter[str] = Counter()
        """Lines lost after that, by what they were: "result", "SmartTrade" or "line"."""
        self._result_widths: list[int] | None = None
        self._result_header_shown = False

    # -- data (stdout) ----------------------------------------------------------------------------------
    def line(self, text: str, what: str = "line") -> None:
        """One line of data; clears any progress bar first so the two never interleave."""
        if self.stdout_failure is not None:
            self.unshown[what] += 1
            return
        try:
            tqdm.write(self.hide(text), file=self.stdout)
            self.stdout.flush()
        except OSError as exc:
            self._stdout_failed(exc)
            self.unshown[what] += 1
            if not self.keep_going:
                raise

    def _stdout_failed(self, exc: OSError) -> None:
        closed = isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE
        reason = exc.strerror or type(exc).__name__
        self.stdout_failure = "stdout closed" if closed else f"writing to stdout failed ({reason})"
        # Whatever is still buffered goes to /dev/null too, so no later flush (at exit) fails again.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self.stdout.fileno())
            finally:
                os.close(devnull)
        except (OSError, ValueError):  # not a real file (in-process runs), or already closed
            pass

    def unshown_report(self) -> str | None:
        """ "stdout closed; N results not shown" when output was lost, else None."""
        if self.stdout_failure is None:
            return None
        parts = []
        if self.unshown["result"]:
            parts.append(plural(self.unshown["result"], "result"))
        if self.unshown["SmartTrade"]:
            parts.append(plural(self.unshown["SmartTrade"]))
        if not parts:
            parts.append(plural(self.unshown["line"], "line"))
        return f"{self.stdout_failure}; {' and '.join(parts)} not shown"

    def json_line(self, obj: Any, what: str = "line") -> None:
        """One JSON object of plain builtins. Decimals become strings."""
        self.line(msgspec.json.encode(obj).decode(), what)

    def trade_line(self, trade: SmartTrade) -> None:
        self.line(trade_json(trade), "SmartTrade")

    def trades(self, trades: Sequence[SmartTrade]) -> None:
        if self.json:
            for trade in trades:
                self.trade_line(trade)
            return
        header, *rows = format_table(TRADE_HEADERS, (trade_row(t) for t in trades), TRADE_RIGHT)
        self.line(header)
        for text in rows:
            self.line(text, "SmartTrade")

    def trade_detail(self, trade: SmartTrade) -> None:
        if self.json:
            self.trade_line(trade)
            return
        rows = detail_rows(trade)
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            self.line(f"{label.ljust(width)}  {value}")

    def expect_results(self, ids: Sequence[int]) -> None:
        """Size the ID column of the result rows to come on the ids asked for."""
        id_width = max((len(str(i)) for i in ids), default=0)
        self._result_widths = [max(len(RESULT_HEADERS[0]), id_width), *RESULT_WIDTHS[1:]]

    def result(self, result: CancelResult) -> None:
        """One cancel result as soon as it is settled: a JSON line, or a table row (the header first)."""
        if self.json:
            self.json_line(result_to_builtins(result), "result")
            return
        widths = self._result_widths
        if widths is None:
            self.expect_results([result.id])
            widths = self._result_widths
            assert widths is not None
        if not self._result_header_shown:
            self._result_header_shown = True
            self.line(format_row(RESULT_HEADERS, widths, RESULT_RIGHT))
        self.line(format_row(result_row(result), widths, RESULT_RIGHT), "result")

    # -- for people (stderr) ----------------------------------------------------------------------------
    def note(self, text: str) -> None:
        try:
            tqdm.write(self.hide(text), file=self.stderr)
            self.stderr.flush()
        except (OSError, ValueError):  # stderr gone too: nobody can read it, and the work goes on
            pass

    def error(self, text: str) -> None:
        """One line about a failure, prefixed with the program's name like every error of the CLI."""
        self.note(f"{PROG}: {text}")

    def summary(self, text: str) -> None:
        """The summary: part of the data in table mode, a note beside the JSON lines otherwise (and on
        stderr too once stdout is gone, so it is never lost)."""
        if self.json or self.stdout_failure is not None:
            self.note(text)
        else:
            self.line(text)
            if self.stdout_failure is not None:
                self.note(text)
