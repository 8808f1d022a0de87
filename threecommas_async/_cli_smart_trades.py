"""``threecommas-async smart-trades ...``: the commands, as coroutines over one client.

Each command takes the client, the parsed arguments and an :class:`Output`, and returns the exit status.
Expected failures (:class:`ThreeCommasError`, ``ValueError``) propagate to ``cli.main``, which turns them
into one line on stderr and an exit status; per-id failures of a bulk cancel are results, not exceptions.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, TextIO

from ._cli_errors import EXIT_AUTH, EXIT_BANNED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, describe_error
from ._cli_output import Output, trade_status
from ._client import ThreeCommasClient
from ._errors import AuthenticationError, IPBannedError
from .models import SmartTrade
from .resources.cancel import CancelResult

__all__ = [
    "Command",
    "cancel",
    "cancel_all",
    "close_by_market",
    "get",
    "list_trades",
]

API_DEFAULT_PER_PAGE: Final = 10
"""3Commas' page size when ``per_page`` is not sent."""

CLOSING_STATUSES: Final = frozenset({"cancellation_pending", "panic_sell_pending"})
"""Active in the API's sense, but already on their way out: cancel-all leaves them alone."""

Command = Callable[[ThreeCommasClient, argparse.Namespace, Output], Awaitable[int]]


def _plural(n: int, word: str = "SmartTrade") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# -- reads ----------------------------------------------------------------------------------------------
async def list_trades(client: ThreeCommasClient, args: argparse.Namespace, out: Output) -> int:
    filters = {"account_id": args.account, "pair": args.pair, "status": args.status}
    if args.all_pages:
        trades: list[SmartTrade] = []
        count = 0
        with out.bar(desc="listing", total=None) as bar:
            async for trade in client.smart_trades.iterate(**filters, per_page=args.per_page or 100):
                if out.json:
                    out.json_line(trade)  # stream: a script sees the first page before the last arrives
                else:
                    trades.append(trade)
                count += 1
                bar.update()
        if not out.json:
            out.trades(trades)
            out.note(f"{_plural(count)}, every page")
        return EXIT_OK
    page = await client.smart_trades.list(**filters, page=args.page, per_page=args.per_page)
    out.trades(page)
    if not out.json:
        number = args.page or 1
        size = args.per_page or API_DEFAULT_PER_PAGE
        hint = ""
        if len(page) >= size:
            hint = f"; more may follow: --page {number + 1}, or --all-pages"
        out.note(f"{_plural(len(page))} on page {number}{hint}")
    return EXIT_OK


async def get(client: ThreeCommasClient, args: argparse.Namespace, out: Output) -> int:
    out.trade_detail(await client.smart_trades.get(args.id))
    return EXIT_OK


# -- risk-reducing writes -------------------------------------------------------------------------------
async def close_by_market(client: ThreeCommasClient, args: argparse.Namespace, out: Output) -> int:
    trade = await client.smart_trades.close_by_market(args.id)
    out.trades([trade])
    if not out.json:
        out.note(f"close by market requested for SmartTrade {args.id} (status {trade_status(trade) or '-'})")
    return EXIT_OK


async def cancel(client: ThreeCommasClient, args: argparse.Namespace, out: Output) -> int:
    ids = list(dict.fromkeys(args.ids))
    return await _cancel(client, ids, args, out)


async def cancel_all(client: ThreeCommasClient, args: argparse.Namespace, out: Output) -> int:
    found: list[SmartTrade] = []
    with out.bar(desc="listing active", total=None) as bar:
        async for trade in client.smart_trades.iterate(
            status="active", account_id=args.account, pair=args.pair
        ):
            found.append(trade)
            bar.update()
    closing = [t for t in found if trade_status(t) in CLOSING_STATUSES]
    targets = [t for t in found if t.id is not None and trade_status(t) not in CLOSING_STATUSES]
    if closing:
        out.note(
            f"skipping {_plural(len(closing))} already being cancelled or closed "
            f"({', '.join(str(t.id) for t in closing[:10])}{', …' if len(closing) > 10 else ''})"
        )
    if not targets:
        out.note("no active SmartTrades match: nothing to cancel")
        return EXIT_OK
    out.trades(targets)
    n = len(targets)
    if args.dry_run:
        out.note(f"dry run: would cancel {_plural(n)}; nothing was sent to cancel them")
        return EXIT_OK
    if not args.yes:
        if not _stdin_is_tty():
            out.error(
                f"refusing to cancel {_plural(n)} without confirmation: stdin is not a terminal. "
                "Pass --yes to confirm, or --dry-run to only look."
            )
            return EXIT_USAGE
        if not _confirm(f"Cancel {_plural(n)}? [y/N] ", out.stderr):
            out.note("aborted: nothing was cancelled")
            return EXIT_FAILED
    if not out.json:
        out.line("")  # the listing above, the results below
    return await _cancel(client, [t.id for t in targets if t.id is not None], args, out)


def _stdin_is_tty() -> bool:
    stdin = sys.stdin
    return stdin is not None and not stdin.closed and stdin.isatty()


def _confirm(prompt: str, stream: TextIO) -> bool:
    """Ask on ``stream``, read one line from stdin. Blocking on purpose: nothing else runs meanwhile, and a
    thread would keep ``asyncio.run`` from returning after Ctrl-C."""
    stream.write(prompt)
    stream.flush()
    answer = sys.stdin.readline()
    if not answer:  # EOF
        stream.write("\n")
    return answer.strip().lower() in ("y", "yes")


async def _cancel(
    client: ThreeCommasClient, ids: Sequence[int], args: argparse.Namespace, out: Output
) -> int:
    stream = client.smart_trades.cancel_many(ids, concurrency=args.concurrency)
    done: dict[int, CancelResult] = {}
    try:
        with out.bar(desc="cancelling", total=len(ids)) as bar:
            async for result in stream:
                done[result.id] = result
                if out.json:
                    out.result(result)  # stream: each line as soon as its id is settled
                bar.update()
    except asyncio.CancelledError:  # Ctrl-C: say what is known before cli.main reports the interruption
        if not out.json:
            out.results([done[i] for i in ids if i in done])
        out.error(
            f"interrupted after {len(done)} of {_plural(len(ids))} settled; the others may or may not "
            "be cancelled: check with 'smart-trades list --status active'"
        )
        raise
    results = [done[i] for i in ids if i in done]
    if not out.json:
        out.results(results)
    cancelled = sum(1 for r in results if r.ok and not r.already_final)
    already = sum(1 for r in results if r.already_final)
    failed = [r for r in results if not r.ok]
    out.summary(
        f"{_plural(len(results))}: {cancelled} cancelled, {already} already final, {len(failed)} failed"
    )
    if not failed:
        return EXIT_OK
    # A bad key or a ban fails every id the same way: say so once, with the status that names it.
    for kind, code in ((AuthenticationError, EXIT_AUTH), (IPBannedError, EXIT_BANNED)):
        first = next((r.error for r in failed if isinstance(r.error, kind)), None)
        if first is not None:
            out.error(describe_error(first)[1])
            return code
    return EXIT_FAILED
