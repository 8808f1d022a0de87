"""The command tree, its options and their help, and parse errors that never repeat a value.

argparse's own messages quote words they did not understand (``invalid choice: 'TOPSECRET'``,
``ambiguous option: --api=TOPSECRET``): the value after a misspelt ``--api_secret`` would be printed.
So the parser raises instead of printing (:class:`ParseError`, :class:`HelpShown`), every word that may
be a secret is cut out of the message, and the validators here never quote what they were given.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, NoReturn, Protocol

from .._client import DEFAULT_TIMEOUT
from .._signing import DEFAULT_BASE_URL
from .._status import LIST_FILTERS
from ._console import PROG
from ._credentials import (
    CREDENTIAL_FLAGS,
    ENV_API_KEY,
    ENV_API_SECRET,
    ENV_BASE_URL,
    ENV_PRIVATE_KEY_FILE,
    NOT_SHOWN,
)
from ._exit import EXIT_CODES_HELP, UsageError
from ._settings import DOCUMENTED, ENV_LIMITS_STORAGE

__all__ = ["DEFAULT_CONCURRENCY", "HelpShown", "ParseError", "check", "parse"]

DEFAULT_CONCURRENCY: Final = 8
"""Cancels in flight. 3Commas allows 100 requests a minute, so 8 in flight is plenty, and few enough that
a server allowing less than assumed answers a handful with 429, not dozens (which would earn a 418)."""
WRITE_ACTIONS: Final = frozenset({"cancel", "cancel_all", "close_by_market"})
"""Commands that reduce risk: they wait out cool-downs on request and never stop for their output."""


class ParseError(Exception):
    """The command line does not parse. ``message`` has every value that may be a secret cut out."""

    def __init__(self, message: str, usage: str, prog: str) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage
        self.prog = prog

    def text(self) -> str:
        """What argparse would print: the usage, then ``prog: error: message``."""
        return f"{self.usage}{self.prog}: error: {self.message}\n"


class HelpShown(Exception):
    """``--help`` or ``--version``: ``text`` goes to stdout and the command exits 0."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing and exiting, so the caller decides what goes where
    (its streams may not be the process's) and what is hidden."""

    def error(self, message: str) -> NoReturn:
        raise ParseError(message, self.format_usage(), self.prog)

    def print_help(self, file: Any = None) -> None:
        raise HelpShown(self.format_help())


class _Version(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=kwargs.get("help"))

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        from .. import __version__

        raise HelpShown(f"{PROG} {__version__}\n")


# -- values ---------------------------------------------------------------------------------------------
# No validator quotes the text it was given: it may be a secret pasted in the wrong place.
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a whole number") from None


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError("not a finite number")
    return value


def _positive_seconds(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _seconds(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be a number of seconds, 0 or more")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError("must be at least 0 and less than 1 (0.05: one request in 20)")
    return value


def _per_page(text: str) -> int:
    value = _positive_int(text)
    if value > 100:
        raise argparse.ArgumentTypeError("must be in 1..100")
    return value


def _pair(text: str) -> str:
    pair = text.strip().upper()
    if not pair:
        raise argparse.ArgumentTypeError("empty pair")
    return pair


def _status_filter(text: str) -> str:
    status = text.strip().lower()
    if status not in LIST_FILTERS:
        raise argparse.ArgumentTypeError(f"not a status filter: choose from {', '.join(LIST_FILTERS)}")
    return status


# -- the tree -------------------------------------------------------------------------------------------
class _Container(Protocol):
    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action: ...


@dataclass
class _Builder:
    """Defines options and records their names as it goes: an error message must tell a known option
    from a misspelt one, and argparse keeps its own list private."""

    options: set[str]

    def add(self, container: _Container, *flags: str, **kwargs: Any) -> argparse.Action:
        self.options.update(f for f in flags if f.startswith("-"))
        return container.add_argument(*flags, **kwargs)

    def global_options(self, parser: argparse.ArgumentParser, *, top: bool) -> None:
        """The options every smart-trades command shares. Defined at the top with real defaults and again
        on each sub-parser with ``SUPPRESS`` defaults, so a value given at either place survives."""

        def default(value: object) -> object:
            return value if top else argparse.SUPPRESS

        add = self.add
        group = parser.add_argument_group(
            "global options", "accepted before the command group or after the action; the last one given wins"
        )
        add(
            group,
            "--api-key",
            metavar="KEY",
            default=default(None),
            help=f"API key (default: ${ENV_API_KEY})",
        )
        add(
            group,
            "--api-secret",
            metavar="SECRET",
            default=default(None),
            help=f"HMAC secret of a system-generated key (default: ${ENV_API_SECRET}). "
            "Prefer the variable: other users can read command-line flags in the process list",
        )
        add(
            group,
            "--private-key-file",
            metavar="PATH",
            default=default(None),
            help=f"PEM RSA private key of a self-generated key (default: ${ENV_PRIVATE_KEY_FILE})",
        )
        add(
            group,
            "--base-url",
            metavar="URL",
            default=default(None),
            help=f"API base URL (default: ${ENV_BASE_URL}, else {DEFAULT_BASE_URL}); never shown in "
            "messages, as it may carry a token",
        )
        mode = group.add_mutually_exclusive_group()
        for name, account in (("paper", "the paper-trading account"), ("real", "the real account")):
            add(
                mode,
                f"--{name}",
                dest="forced_mode",
                action="store_const",
                const=name,
                default=default(None),
                help=f"act on {account} (sends Forced-Mode: {name})",
            )
        add(
            group,
            "--json",
            action="store_true",
            default=default(False),
            help='print JSON lines instead of a table: one object per SmartTrade ("kind": "smart_trade") '
            'or per cancel result ("kind": "cancel_result")',
        )
        add(
            group,
            "--no-progress",
            action="store_true",
            default=default(False),
            help="no progress on stderr: neither the bar (on a terminal) nor the line every 5 s (elsewhere)",
        )
        add(
            group,
            "-q",
            "--quiet",
            action="store_true",
            default=default(False),
            help="no stderr line per retry, rate-limit cool-down or ban (errors and summaries still show)",
        )
        add(
            group,
            "--max-rate",
            type=_positive_int,
            metavar="N",
            default=default(None),
            help=f"requests per minute the client allows itself (default {DOCUMENTED.max_rate:g}, 3Commas' "
            "documented limit); lower it when other programs use the same key or IP. Above the limit "
            "only with --force",
        )
        add(
            group,
            "--force",
            action="store_true",
            default=default(False),
            help="allow --max-rate above 3Commas' documented limit (a key 3Commas allows more): above "
            "it 3Commas answers 429, then bans the IP",
        )
        add(
            group,
            "--timeout",
            type=_positive_seconds,
            metavar="SECONDS",
            default=default(None),
            help=f"time limit of each request (default {DEFAULT_TIMEOUT:g}); for a cancel, of each id's "
            "whole operation: its attempts and back-off and the GET that checks it together (waits for "
            "3Commas' rate limit do not count)",
        )
        add(
            group,
            "--limits-storage",
            metavar="URL",
            default=default(None),
            help=f"where the rate limiter keeps its state, shared by every command that names it (default: "
            f"${ENV_LIMITS_STORAGE}, else a SQLite file under ${{XDG_STATE_HOME:-~/.local/state}}/"
            "threecommas-async/, so consecutive commands share one allowance): sqlite:///PATH.db, "
            "redis://host:port/db, or memory:// for this command alone",
        )

    def waiting_options(self, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group(
            "waiting for 3Commas",
            "After a 429, 3Commas blocks every request from this IP (300 s unless it says\n"
            "otherwise). How long the client may wait for the block to end before it gives up:",
        )
        patience = group.add_mutually_exclusive_group()
        self.add(
            patience,
            "--max-wait",
            type=_seconds,
            metavar="SECONDS",
            help=f"at most SECONDS (default {DOCUMENTED.max_wait:g}); a longer block fails the requests "
            "not sent yet at once (exit 5)",
        )
        self.add(
            patience,
            "--wait",
            action="store_true",
            help="as long as it takes, with a countdown on stderr: the cancels go out when 3Commas "
            "takes requests again (a ban, 418, is never waited out)",
        )

    def final_wait(self, parser: argparse.ArgumentParser) -> None:
        # A flag and a separate bound: an optional value would swallow the id after it as SECONDS.
        self.add(
            parser,
            "--wait-final",
            action="store_true",
            help="after the cancels, wait until each cancelled SmartTrade is final (cancelled, not just "
            "cancellation_pending), for at most --final-timeout; confirmed through the list of closed "
            "trades, 100 a request",
        )
        self.add(
            parser,
            "--final-timeout",
            type=_positive_seconds,
            default=120.0,
            metavar="SECONDS",
            help="with --wait-final: how long to wait for the final states (default 120)",
        )

    def concurrency(self, parser: argparse.ArgumentParser) -> None:
        self.add(
            parser,
            "--concurrency",
            type=_positive_int,
            default=DEFAULT_CONCURRENCY,
            metavar="C",
            help=f"cancels in flight (default {DEFAULT_CONCURRENCY}; the rate limit applies regardless)",
        )

    def filters(self, parser: argparse.ArgumentParser) -> None:
        self.add(parser, "--account", type=_positive_int, metavar="ID", help="only this exchange account id")
        self.add(parser, "--pair", type=_pair, metavar="PAIR", help="only this pair, QUOTE_BASE (USDT_BTC)")


_FORMATTER: Final = argparse.RawDescriptionHelpFormatter

_TOP_EPILOG: Final = f"""\
credentials (flags win over the environment):
  {ENV_API_KEY}            the API key
  {ENV_API_SECRET}         its HMAC secret (system-generated key), or
  {ENV_PRIVATE_KEY_FILE}   a PEM file with its RSA private key (self-generated key)
  {ENV_BASE_URL}           optional: another base URL (a proxy, the fake server)
No message shows a credential's or the base URL's value, wherever it came from.

examples:
  {PROG} smart-trades list --status active
  {PROG} smart-trades cancel 31526921 31526922
  {PROG} smart-trades cancel-all --account 32281547 --dry-run
  {PROG} --json smart-trades cancel-all --pair USDT_BTC --yes | jq -c 'select(.ok == false)'
  {PROG} smart-trades cancel-all --yes --wait     # panic button: waits out a 429's cool-down

{EXIT_CODES_HELP}
"""

_PROGRESS_HELP: Final = """\
Progress goes to stderr: on a terminal a bar counting the settled ids and, while the client holds
requests back, what for ("waiting 58 s for 3Commas' limit: 100 requests/min", or a 429's cool-down);
elsewhere the same as one line every 5 s once the command has run that long."""

_CANCEL_EPILOG: Final = f"""\
Prints one row per id as soon as it is settled (with --json: one JSON object per id, with
"kind": "cancel_result", id, ok, already_final, result, final, status, pair, error {{type, message,
http_status}} and elapsed), then a summary. RESULT is what was proven: cancelled (by this run), already
final (cancelled, finished or failed before it), final (cancelled, but an answer was lost, so whether
by this run cannot be told), FAILED (not cancelled) or UNKNOWN (an answer was lost and the check failed
too: look with 'smart-trades get ID'). "final" is true or false with --wait-final, else null. Every id
is cancelled even if stdout goes away (| head): the results not shown are counted on stderr. Each
retry, cool-down or ban is one line on stderr (--quiet).
{_PROGRESS_HELP}

{EXIT_CODES_HELP}
"""

_CANCEL_ALL_EPILOG: Final = f"""\
Lists every active SmartTrade matching the filters (GET /v2/smart_trades?status=active, every page),
shows them, asks "Cancel N SmartTrades? [y/N]" on the terminal, then cancels exactly the ones shown
(Ctrl-C at the question cancels nothing). Then it lists the active ones again and names on stderr any
still active: one of those shown (exit 1), or one the listing did not show (created meanwhile, or missed
as the listing's pages shifted while trades changed): named, never cancelled without being shown.
SmartTrades already cancellation_pending or panic_sell_pending are skipped (they are on their way out).
Without a terminal on stdin it refuses unless --yes is given: it never waits for an answer that cannot come.
With --json the listing is one object per line with "kind": "smart_trade" and each cancel result one
with "kind": "cancel_result"; the prompt and the summary go to stderr.
{_PROGRESS_HELP}

{EXIT_CODES_HELP}
"""


def build_parser() -> tuple[argparse.ArgumentParser, frozenset[str]]:
    """The parser, and every option string it knows."""
    b = _Builder(set())
    parser = _Parser(
        prog=PROG,
        description="3Commas SmartTrades from a shell: list, inspect, cancel, cancel everything, close.",
        epilog=_TOP_EPILOG,
        formatter_class=_FORMATTER,
    )
    b.add(parser, "--version", action=_Version, help="show the version and exit")
    b.global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    st = sub.add_parser(
        "smart-trades",
        help="list, get, cancel, cancel-all, close-by-market",
        description="SmartTrades (v2) of the account the credentials belong to.",
        epilog=_TOP_EPILOG,
        formatter_class=_FORMATTER,
    )
    b.global_options(st, top=False)
    actions = st.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, handler: str, help: str, epilog: str | None = None) -> argparse.ArgumentParser:
        p = actions.add_parser(name, help=help, description=help, epilog=epilog, formatter_class=_FORMATTER)
        p.set_defaults(handler=handler, wait=False, max_wait=None)
        if handler in WRITE_ACTIONS:
            b.waiting_options(p)
        b.global_options(p, top=False)
        return p

    ls = action("list", "list_trades", "list SmartTrades: one page, or every page with --all-pages")
    b.filters(ls)
    b.add(
        ls,
        "--status",
        type=_status_filter,
        metavar="S",
        help=f"{', '.join(LIST_FILTERS)} (default: no filter)",
    )
    paging = ls.add_mutually_exclusive_group()
    b.add(paging, "--page", type=_positive_int, metavar="N", help="page number, from 1 (default 1)")
    b.add(paging, "--all-pages", action="store_true", help="follow the pages until a short one")
    b.add(
        ls,
        "--per-page",
        type=_per_page,
        metavar="N",
        help="page size, 1..100 (default: the API's 10; 100 with --all-pages)",
    )

    g = action("get", "get", "show one SmartTrade")
    b.add(g, "id", type=_positive_int, metavar="ID")

    c = action("cancel", "cancel", "cancel SmartTrades by id, concurrently", _CANCEL_EPILOG)
    b.add(c, "ids", type=_positive_int, nargs="+", metavar="ID")
    b.concurrency(c)
    b.final_wait(c)

    ca = action(
        "cancel-all",
        "cancel_all",
        "cancel every active SmartTrade matching the filters, after confirmation",
        _CANCEL_ALL_EPILOG,
    )
    b.filters(ca)
    b.add(ca, "-y", "--yes", action="store_true", help="do not ask: cancel what was listed")
    b.add(
        ca, "--dry-run", action="store_true", help="list what would be cancelled and stop: no cancel is sent"
    )
    b.concurrency(ca)
    b.final_wait(ca)

    cm = action("close-by-market", "close_by_market", "close one SmartTrade at market price now (panic sell)")
    b.add(cm, "id", type=_positive_int, metavar="ID")

    demo = sub.add_parser("demo", help="create and bulk-cancel SmartTrades on the embedded fake server")
    b.add(demo, "--trades", type=_positive_int, default=1000, help="how many SmartTrades (default 1000)")
    b.add(
        demo,
        "--fault-rate",
        type=_fraction,
        default=0.05,
        help="share of faulted requests, at least 0 and less than 1 (default 0.05)",
    )
    b.add(demo, "--concurrency", type=_positive_int, default=32, help="cancels in flight (default 32)")
    b.add(demo, "--seed", type=_integer, default=7, help="seed of the injected faults")
    b.add(
        demo,
        "--processes",
        type=_positive_int,
        default=1,
        metavar="N",
        help="cancel from N processes at once, sharing one allowance through --limits-storage (default 1)",
    )
    b.add(
        demo,
        "--limits-storage",
        metavar="URL",
        help="where the processes keep the shared rate-limit state: sqlite:///PATH.db, redis://host:port/db "
        "(default: memory:// for one process, a temporary SQLite file for several)",
    )

    # Every word after ``fake-server`` belongs to the fake's own parser: with no prefix character of its
    # own, this sub-parser takes them all as one list, options included, and hands them on untouched.
    fake = sub.add_parser(
        "fake-server",
        help="run the fake 3Commas server until Ctrl-C (its options: fake-server --help)",
        prefix_chars="\0",
        add_help=False,
    )
    fake.add_argument("args", nargs=argparse.REMAINDER)
    return parser, frozenset(b.options)


# -- parsing --------------------------------------------------------------------------------------------
def _is_option(token: str) -> bool:
    return token.startswith("-") and token != "-" and not re.fullmatch(r"-\d+(\.\d*)?", token)


def hidden_words(argv: Sequence[str], known: frozenset[str]) -> tuple[str, ...]:
    """The words an error message must not repeat: the value of every unknown option (a misspelt or
    abbreviated one included) and of every credential flag, given as ``--opt=value`` or as the next word
    (whatever it looks like: a secret may start with a dash)."""
    hidden: list[str] = []
    for i, token in enumerate(argv):
        if token == "--":
            break
        if not _is_option(token):
            continue
        name, eq, value = token.partition("=")
        if name in known and name not in CREDENTIAL_FLAGS:
            if eq:
                hidden.append(value)  # "ignored explicit argument 'value'"
            continue
        if eq:
            hidden.append(value)
        elif i + 1 < len(argv) and (name in CREDENTIAL_FLAGS or argv[i + 1] not in known):
            hidden.append(argv[i + 1])
    return tuple(v for v in hidden if v)


def _cut(message: str, hidden: Sequence[str]) -> str:
    for value in sorted(hidden, key=len, reverse=True):
        message = re.sub(rf"(?<![\w.-]){re.escape(value)}(?![\w.-])", NOT_SHOWN, message)
    return message


def _unrecognized(extras: Sequence[str], hidden: Sequence[str]) -> str:
    """argparse's "unrecognized arguments" with option names only: the words after them (and any other
    stray word) may be secrets typed after a misspelt flag."""
    names = [t.partition("=")[0] for t in extras if _is_option(t) and t not in hidden]
    names = [n for n in names if not any(n in v for v in hidden)]
    others = len(extras) - len(names)
    text = "unrecognized arguments: " + " ".join(names) if names else "unrecognized arguments"
    if others:
        text += f"{' and' if names else ':'} {others} more word{'' if others == 1 else 's'} {NOT_SHOWN}"
    return text


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The namespace of a command line that parses; :class:`ParseError` or :class:`HelpShown` otherwise."""
    parser, known = build_parser()
    hidden = hidden_words(argv, known)
    try:
        args, extras = parser.parse_known_args(argv)
    except ParseError as exc:
        raise ParseError(_cut(exc.message, hidden), exc.usage, exc.prog) from None
    if extras:
        raise ParseError(_unrecognized(extras, hidden), parser.format_usage(), parser.prog)
    return args


def check(args: argparse.Namespace) -> None:
    """What the types of the options cannot say alone."""
    if args.command == "smart-trades" and args.max_rate is not None:
        documented = DOCUMENTED.max_rate
        if args.max_rate > documented and not args.force:
            raise UsageError(
                f"--max-rate {args.max_rate} is above 3Commas' documented limit of {documented:g} requests "
                "per minute: above it 3Commas answers 429, blocks every request for minutes, and bans "
                "the IP (418) if requests keep coming. Pass --force only if 3Commas allows this key more"
            )
