"""``threecommas-async smart-trades ...``: the commands, each a function of one :class:`Context`.

A command drives the event loop of ``ctx.runner`` itself, so that ``cancel-all`` can ask its question
*between* two runs of the loop: at the prompt the default SIGINT handler is in place and Ctrl-C stops
the command at once. Expected failures (:class:`ThreeCommasError`, ``ValueError``) propagate to
:func:`run`, which turns them into one line on stderr and an exit status; per-id failures of a bulk
cancel are results, not exceptions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, TextIO, TypeVar

from .._client import ThreeCommasClient
from .._errors import ResponseDecodeError, ThreeCommasError, may_have_acted
from .._status import CLOSED_BY_MARKET, CLOSING, status_of
from ..models import SmartTrade
from ..resources.cancel import CancelResult, CancelStream
from ._console import Console
from ._credentials import Secrets, resolve_credentials
from ._exit import (
    EXIT_AUTH,
    EXIT_BANNED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RATE_LIMITED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    UsageError,
    describe_error,
    describe_failures,
)
from ._output import RESULT_LABELS, Output, plural
from ._parser import WRITE_ACTIONS
from ._progress import Progress, Waits
from ._settings import limit_of, make_client

__all__ = ["COMMANDS", "Command", "Context", "run"]

T = TypeVar("T")

API_DEFAULT_PER_PAGE: Final = 10
"""3Commas' page size when ``per_page`` is not sent."""

SHOWN_IDS: Final = 10
WAIT_HINT: Final = "rerun with --wait to wait it out, or --max-wait SECONDS"


class Terminated(Exception):
    """SIGTERM arrived: the command said where it stood, and exits 143."""


class Signals:
    """SIGTERM ends a command as Ctrl-C does (the running step is cancelled, so it can say where every id
    stands), where the process can take signals (the main thread)."""

    def __init__(self, runner: asyncio.Runner) -> None:
        self.task: asyncio.Task[Any] | None = None
        self.terminated = False
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            runner.get_loop().add_signal_handler(signal.SIGTERM, self._terminate)

    def _terminate(self) -> None:
        self.terminated = True
        if self.task is not None:
            self.task.cancel()


@dataclass(frozen=True)
class Context:
    """What every command works with: one event loop (kept across runs), one client, the arguments,
    the output, what the client waits for, and the terminal to ask on."""

    runner: asyncio.Runner
    client: ThreeCommasClient
    args: argparse.Namespace
    out: Output
    waits: Waits
    stdin: TextIO
    signals: Signals

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run one coroutine on the loop; Ctrl-C cancels it (and ends as KeyboardInterrupt), SIGTERM too
        (and ends as :class:`Terminated`)."""
        try:
            return self.runner.run(self._tracked(coro))
        except asyncio.CancelledError:
            if self.signals.terminated:
                raise Terminated from None
            raise

    async def _tracked(self, coro: Coroutine[Any, Any, T]) -> T:
        self.signals.task = asyncio.current_task()
        try:
            return await coro
        finally:
            self.signals.task = None


Command = Callable[[Context], int]


def _ids(ids: Sequence[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:SHOWN_IDS])
    return shown + (f", … ({len(ids) - SHOWN_IDS} more)" if len(ids) > SHOWN_IDS else "")


def run(args: argparse.Namespace, console: Console) -> int:
    """Run one ``smart-trades`` action: build the client, run the command on one event loop, and turn
    an expected failure into one line on stderr and an exit status."""
    write = args.handler in WRITE_ACTIONS
    out = Output(
        json=args.json,
        progress=not args.no_progress,
        stdout=console.stdout,
        stderr=console.stderr,
        keep_going=write,  # output failures never stop a cancel; a read just stops, silently
        hide=Secrets.from_args(console.environ, args).hide,
    )
    try:
        credentials = resolve_credentials(args, console.environ)
        limit = limit_of(args, console.time_scale, console.environ)
        waits = Waits(
            out,
            limit,
            quiet=args.quiet,
            scale=console.time_scale,
            wait_hint="--wait waits it out" if write else None,
        )
        client = make_client(args, credentials, console.environ, limit, waits)
    except UsageError as exc:
        out.error(str(exc))
        return EXIT_USAGE
    # One loop for the whole command (one client, one connection pool, one rate-limit window), run in
    # steps: cancel-all asks its question between two of them, with Python's own SIGINT handling.
    with asyncio.Runner() as runner:
        try:
            context = Context(runner, client, args, out, waits, console.stdin, Signals(runner))
            return COMMANDS[args.handler](context)
        except Terminated:
            out.error("terminated (SIGTERM)")
            return EXIT_TERMINATED
        except (ThreeCommasError, ValueError) as exc:
            code, message = describe_error(exc, hint=WAIT_HINT if write else None)
            out.error(message)
            return code
        finally:
            with contextlib.suppress(Exception):
                runner.run(client.close())
            lost = out.unshown_report() if out.keep_going else None
            if lost is not None:
                out.error(lost)


# -- reads ----------------------------------------------------------------------------------------------
def list_trades(ctx: Context) -> int:
    return ctx.run(_list_trades(ctx))


async def _list_trades(ctx: Context) -> int:
    client, args, out = ctx.client, ctx.args, ctx.out
    filters = {"account_id": args.account, "pair": args.pair, "status": args.status}
    if args.all_pages:
        trades: list[SmartTrade] = []
        async with Progress(out, ctx.waits, desc="listing", total=None) as progress:
            async for trade in client.smart_trades.iterate(**filters, per_page=args.per_page or 100):
                if out.json:
                    out.trade_line(trade)  # stream: a script sees the first page before the last arrives
                else:
                    trades.append(trade)
                progress.advance()
        if not out.json:
            out.trades(trades)
            out.note(f"{plural(progress.done)}, every page")
        return EXIT_OK
    page = await client.smart_trades.list(**filters, page=args.page, per_page=args.per_page)
    out.trades(page)
    if not out.json:
        number = args.page or 1
        size = args.per_page or API_DEFAULT_PER_PAGE
        hint = ""
        if len(page) >= size:
            hint = f"; more may follow: --page {number + 1}, or --all-pages"
        out.note(f"{plural(len(page))} on page {number}{hint}")
    return EXIT_OK


def get(ctx: Context) -> int:
    async def go() -> int:
        ctx.out.trade_detail(await ctx.client.smart_trades.get(ctx.args.id))
        return EXIT_OK

    return ctx.run(go())


# -- risk-reducing writes -------------------------------------------------------------------------------
def close_by_market(ctx: Context) -> int:
    return ctx.run(_close_by_market(ctx))


async def _close_by_market(ctx: Context) -> int:
    client, trade_id, out = ctx.client, ctx.args.id, ctx.out
    try:
        # A progress of one: with --wait, the countdown of a cool-down it waits out.
        async with Progress(out, ctx.waits, desc="closing", total=1):
            trade = await client.smart_trades.close_by_market(trade_id)
    except ThreeCommasError as exc:
        if not any(may_have_acted(e) for e in exc.attempts()):
            raise
        # The request may have reached 3Commas and closed the trade although its answer was lost:
        # only the trade itself can tell.
        return await _check_close(client, trade_id, out, exc)
    except asyncio.CancelledError:
        out.error(
            f"interrupted while closing SmartTrade {trade_id} by market: the request may have reached "
            f"3Commas; look with 'smart-trades get {trade_id}'"
        )
        raise
    shown = status_of(trade)
    if trade.id != trade_id or shown not in CLOSED_BY_MARKET:
        # A 2xx that is another trade, {} or the trade unchanged proves nothing: the trade tells.
        what = f"SmartTrade {trade.id}" if trade.id != trade_id else f"it with status {shown or 'none'}"
        unproven = ResponseDecodeError(
            f"POST /v2/smart_trades/{trade_id}/close_by_market: 3Commas answered 2xx but showed {what}",
            status=200,
            method="POST",
            url="",
            body="",
        )
        return await _check_close(client, trade_id, out, unproven)
    out.trades([trade])
    if not out.json:
        out.note(f"close by market requested for SmartTrade {trade_id} (status {status_of(trade) or '-'})")
    return EXIT_OK


async def _check_close(client: ThreeCommasClient, trade_id: int, out: Output, exc: ThreeCommasError) -> int:
    code, message = describe_error(exc)
    try:
        trade = await client.smart_trades.get(trade_id)
    except ThreeCommasError as check:
        out.error(message)
        out.error(
            f"the close may or may not have gone through, and checking failed too: "
            f"{describe_error(check)[1]}; look with 'smart-trades get {trade_id}'"
        )
        return code
    status = status_of(trade)
    if status in CLOSED_BY_MARKET:
        out.trades([trade])
        out.note(
            f"close by market of SmartTrade {trade_id}: the answer was lost ({message}), "
            f"but a GET confirmed it: status {status}"
        )
        return EXIT_OK
    out.error(message)
    out.error(f"a GET shows SmartTrade {trade_id} with status {status or '-'}: it was not closed")
    return code


def cancel(ctx: Context) -> int:
    ids = list(dict.fromkeys(ctx.args.ids))

    async def go() -> int:
        return (await _cancel(ctx, ids))[0]

    return ctx.run(go())


def cancel_all(ctx: Context) -> int:
    args, out = ctx.args, ctx.out
    found = ctx.run(_list_active(ctx))
    closing = [t for t in found if status_of(t) in CLOSING]
    targets = [t for t in found if status_of(t) not in CLOSING]
    if closing:
        out.note(
            f"skipping {plural(len(closing))} already being cancelled or closed "
            f"({_ids([t.id for t in closing if t.id is not None])})"
        )
    if not targets:
        out.note("no active SmartTrades match: nothing to cancel")
        return EXIT_OK
    out.trades(targets)
    n = len(targets)
    if args.dry_run:
        out.note(f"dry run: would cancel {plural(n)}; nothing was sent to cancel them")
        return EXIT_OK
    if not args.yes:
        if not _is_tty(ctx.stdin):
            out.error(
                f"refusing to cancel {plural(n)} without confirmation: stdin is not a terminal. "
                "Pass --yes to confirm, or --dry-run to only look."
            )
            return EXIT_USAGE
        # Outside the event loop: the default SIGINT handler is in place, so Ctrl-C ends the wait now.
        try:
            confirmed = _confirm(f"Cancel {plural(n)}? [y/N] ", out.stderr, ctx.stdin)
        except KeyboardInterrupt:
            out.note("")
            out.error("interrupted at the prompt: nothing was cancelled")
            return EXIT_INTERRUPTED
        except Terminated:
            out.note("")
            out.error("terminated (SIGTERM) at the prompt: nothing was cancelled")
            return EXIT_TERMINATED
        if not confirmed:
            out.note("aborted: nothing was cancelled")
            return EXIT_FAILED
        # While the loop stood still, the server may have closed idle pooled connections: let the loop
        # see that before the cancels pick a connection (a dead one would cost a retry).
        ctx.run(_let_the_loop_catch_up())
    if not out.json:
        out.line("")  # the listing above, the results below
    shown = [t.id for t in targets if t.id is not None]
    skipped = {t.id for t in closing if t.id is not None}
    return ctx.run(_cancel_and_check(ctx, shown, skipped))


async def _let_the_loop_catch_up() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def _list_active(ctx: Context) -> list[SmartTrade]:
    """Every active SmartTrade matching the filters, each id once: the pages may shift while trades
    change, and a trade created meanwhile can show up on two of them."""
    found: dict[int, SmartTrade] = {}
    async with Progress(ctx.out, ctx.waits, desc="listing active", total=None) as progress:
        async for trade in ctx.client.smart_trades.iterate(
            status="active", account_id=ctx.args.account, pair=ctx.args.pair
        ):
            if trade.id is not None and trade.id not in found:
                found[trade.id] = trade
                progress.advance()
    return list(found.values())


async def _cancel_and_check(ctx: Context, shown: list[int], skipped: set[int]) -> int:
    code, _ = await _cancel(ctx, shown)
    if code in (EXIT_AUTH, EXIT_BANNED, EXIT_RATE_LIMITED):
        return code  # another listing would fail the same way, or make things worse
    return await _check_nothing_left(ctx, shown, skipped, code)


async def _check_nothing_left(ctx: Context, shown: list[int], skipped: set[int], code: int) -> int:
    """List the active SmartTrades again: a cancel that failed, a trade the listing missed (its pages
    shifted) or one created meanwhile is still there. Only the ones shown were confirmed, so the others
    are named, not cancelled, and the exit status says something is still active."""
    out = ctx.out
    try:
        left = await _list_active(ctx)
    except ThreeCommasError as exc:
        out.error(f"could not check what is still active after the cancels: {describe_error(exc)[1]}")
        return code
    still = [t.id for t in left if t.id is not None and status_of(t) not in CLOSING]
    shown_set = set(shown)
    shown_left = [i for i in still if i in shown_set]
    others = [i for i in still if i not in shown_set]
    if shown_left:
        out.error(
            f"still active after the cancels: {plural(len(shown_left))} of those shown "
            f"({_ids(shown_left)}); look with 'smart-trades get ID', or run cancel-all again"
        )
        code = code or EXIT_FAILED
    if others:
        one = len(others) == 1
        if set(others) <= skipped:
            why = "being cancelled or closed when listed"
        else:
            why = "not listed (created while this ran, or missed as the listing's pages shifted)"
        out.error(
            f"{len(others)} more active SmartTrade{'' if one else 's'} {'matches' if one else 'match'} "
            f"the filters but {'was' if one else 'were'} {why}, so {'it was' if one else 'they were'} "
            f"not cancelled: {_ids(others)}; run cancel-all again to review {'it' if one else 'them'}"
        )
        # The panic button's promise is "nothing matching stays active": any that does is a failure.
        code = code or EXIT_FAILED
    return code


def _is_tty(stream: TextIO | None) -> bool:
    return stream is not None and not stream.closed and stream.isatty()


@contextlib.contextmanager
def _terminated_by_sigterm() -> Iterator[None]:
    def terminate(signum: int, frame: object) -> None:
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread: signals go elsewhere
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _confirm(prompt: str, stream: TextIO, stdin: TextIO) -> bool:
    """Ask on ``stream``, read one line from ``stdin``. Called between runs of the event loop, with
    Python's default SIGINT handler: Ctrl-C raises KeyboardInterrupt out of the blocking read at once.
    SIGTERM does the same as :class:`Terminated`: the loop's handler would only run after the answer."""
    with _terminated_by_sigterm():  # before the question shows: a SIGTERM once it is seen must count
        stream.write(prompt)
        stream.flush()
        answer = stdin.readline()
    if not answer:  # EOF
        stream.write("\n")
    return answer.strip().lower() in ("y", "yes")


async def _cancel(ctx: Context, ids: Sequence[int]) -> tuple[int, list[CancelResult]]:
    """Cancel every id, each row (or JSON line) shown as soon as its id is settled, then the summary;
    return the exit status with the results. Output failures never stop it: ``out`` keeps going."""
    out, args = ctx.out, ctx.args
    out.expect_results(ids)
    wait_final = bool(getattr(args, "wait_final", False))
    stream = ctx.client.smart_trades.cancel_many(
        ids,
        concurrency=args.concurrency,
        timeout=args.timeout,
        wait=wait_final,
        wait_timeout=getattr(args, "final_timeout", 120.0) / ctx.waits.scale,
    )
    done: dict[int, CancelResult] = {}
    try:
        async with Progress(
            out, ctx.waits, desc="cancelling", total=len(ids), detail=_awaiting_final(stream)
        ) as progress:
            async for result in stream:
                done[result.id] = result
                out.result(result)
                progress.advance()
    except asyncio.CancelledError:  # Ctrl-C or SIGTERM: say where every id stands, then stop
        for result in stream.take_ready():  # settled as the signal came: shown, not lost
            done[result.id] = result
            out.result(result)
        _interrupted(out, stream, list(done))
        await stream.aclose()
        raise
    results = [done[i] for i in ids if i in done]
    counts: Counter[str] = Counter(r.outcome for r in results)
    always = ("cancelled", "already_final", "failed")
    parts = [f"{counts[o]} {RESULT_LABELS[o].lower()}" for o in RESULT_LABELS if counts[o] or o in always]
    if wait_final:
        parts.append(f"{sum(1 for r in results if r.final)} final within the wait")
    out.summary(f"{plural(len(results))}: {', '.join(parts)}")
    failed = [r.error for r in results if r.error is not None]
    # With --wait-final the point is to know the trades are done before placing new orders: one that
    # is still cancelling is not, and a script's `&&` must not go on.
    pending = [r.id for r in results if wait_final and r.ok and not r.final]
    if pending:
        out.error(
            f"{plural(len(pending))} cancelled but not final within --final-timeout: "
            f"{' '.join(map(str, pending))}"
        )
    if not failed:
        return (EXIT_FAILED if pending else EXIT_OK), results
    code, lines = describe_failures(failed, hint=WAIT_HINT)
    for line in lines:
        out.error(line)
    return code, results


def _awaiting_final(stream: CancelStream) -> Callable[[], str | None]:
    """With --wait-final a cancelled id settles only once final: say how many are cancelled meanwhile."""

    def detail() -> str | None:
        held = len(stream.awaiting_final())
        return f"{held} cancelled, waiting for them to be final" if held else None

    return detail


def _interrupted(out: Output, stream: CancelStream, settled: list[int]) -> None:
    """Where every id stands when the run is cut short: the operator must know what 3Commas may have
    acted on (sent, no answer yet) and what was never sent."""
    sent = stream.sent()
    held = stream.awaiting_final()
    known = {*sent, *held}
    unsent = [i for i in stream.in_flight() if i not in known] + stream.not_started()
    if out.json:
        out.json_line(
            {
                "kind": "interrupted",
                "settled": settled,
                "cancelled_not_final": held,
                "sent_not_settled": sent,
                "not_sent": unsent,
            },
            "result",
        )
    waiting = f"{len(held)} cancelled but not yet final, " if held else ""
    out.error(
        f"interrupted: {len(settled)} settled (shown above), {waiting}{len(sent)} sent but not settled, "
        f"{len(unsent)} never sent"
    )
    if held:
        out.error(f"cancelled, not yet confirmed final: {' '.join(map(str, held))}")
    if sent:
        out.error(
            "sent but not settled (3Commas may or may not have cancelled them; look with "
            f"'smart-trades get ID'): {' '.join(map(str, sent))}"
        )
    if unsent:
        out.error(f"never sent (not cancelled by this run): {' '.join(map(str, unsent))}")


COMMANDS: Final[dict[str, Command]] = {
    "list_trades": list_trades,
    "get": get,
    "cancel": cancel,
    "cancel_all": cancel_all,
    "close_by_market": close_by_market,
}
