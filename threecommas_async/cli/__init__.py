"""``threecommas-async`` / ``python -m threecommas_async``: the operator's command line.

::

    threecommas-async [global options] smart-trades list [--account ID] [--pair P] [--status S]
                                                        [--page N | --all-pages] [--per-page N]
    threecommas-async [global options] smart-trades get ID
    threecommas-async [global options] smart-trades cancel ID [ID ...] [--concurrency C]
    threecommas-async [global options] smart-trades cancel-all [--account ID] [--pair P]
                                                              [--yes] [--dry-run] [--concurrency C]
    threecommas-async [global options] smart-trades close-by-market ID
    threecommas-async demo [--trades N] [--fault-rate F] [--concurrency C] [--seed S]
    threecommas-async fake-server [--port N] [more options of python -m threecommas_async.testing]

    global options: --api-key --api-secret --private-key-file --base-url --paper/--real --json
                    --no-progress --quiet --max-rate N --timeout SECONDS

Global options go before ``smart-trades`` or after the action (``smart-trades list --json``); the
last one given wins. Credentials come from the environment unless flags give them; no message ever
shows a credential's value, and argparse's errors never echo the words they did not understand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Final, NoReturn

from ._exit import EXIT_CODES_HELP, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, describe_error

if TYPE_CHECKING:
    from .._client import ThreeCommasClient
    from .._events import EventHook

__all__ = ["Credentials", "UsageError", "build_parser", "main", "resolve_credentials"]

PROG: Final = "threecommas-async"
ENV_API_KEY: Final = "THREECOMMAS_API_KEY"
ENV_API_SECRET: Final = "THREECOMMAS_API_SECRET"
ENV_PRIVATE_KEY_FILE: Final = "THREECOMMAS_PRIVATE_KEY_FILE"
ENV_BASE_URL: Final = "THREECOMMAS_BASE_URL"
DEFAULT_BASE_URL: Final = "https://api.3commas.io/public/api"  # the client's default, without importing it
DEFAULT_TIMEOUT: Final = 30.0  # the client's DEFAULT_TIMEOUT (a test keeps the two equal)
DEFAULT_MAX_RATE: Final = 100  # RateLimit().max_rate per 60 s: 3Commas' documented limit
DEFAULT_CONCURRENCY: Final = 8
"""Cancels in flight. 3Commas allows 100 requests a minute, so 8 in flight is plenty, and few enough that
a server allowing less than assumed answers a handful with 429, not dozens (which would earn a 418)."""
CREDENTIAL_FLAGS: Final = ("--api-key", "--api-secret", "--private-key-file")


class UsageError(Exception):
    """A problem with how the command was called or configured (exit status 2)."""


# -- credentials ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Credentials:
    """What the client is built with. ``repr`` never shows the secret or the private key."""

    api_key: str
    api_secret: str | None = field(default=None, repr=False)
    private_key: bytes | None = field(default=None, repr=False)
    private_key_source: str | None = None
    """The variable or flag that named the key file, for messages."""


def _clean(value: str | None) -> str | None:
    """Surrounding whitespace and newlines (``$(cat secret.txt)``, a pasted line) are never part of a key,
    a secret or a path. Empty counts as unset."""
    if value is None:
        return None
    return value.strip() or None


def resolve_credentials(args: argparse.Namespace, environ: Mapping[str, str]) -> Credentials:
    """Flags win over the environment. The secret material is taken as a whole from one place: if either
    ``--api-secret`` or ``--private-key-file`` is given, the environment's secret and key file are ignored.
    Empty variables count as unset. Messages name the variable or flag, never its value."""
    api_key = _clean(args.api_key) or _clean(environ.get(ENV_API_KEY))
    if args.api_secret is not None or args.private_key_file is not None:
        if args.api_secret is not None and args.private_key_file is not None:
            raise UsageError("pass either --api-secret or --private-key-file, not both")
        secret, key_file = _clean(args.api_secret), _clean(args.private_key_file)
        key_source = "--private-key-file"
    else:
        secret = _clean(environ.get(ENV_API_SECRET))
        key_file = _clean(environ.get(ENV_PRIVATE_KEY_FILE))
        key_source = ENV_PRIVATE_KEY_FILE
        if secret is not None and key_file is not None:
            raise UsageError(
                f"both {ENV_API_SECRET} and {ENV_PRIVATE_KEY_FILE} are set: unset one, "
                "or choose with --api-secret / --private-key-file"
            )
    missing = []
    if api_key is None:
        missing.append(f"the API key ({ENV_API_KEY} or --api-key)")
    if secret is None and key_file is None:
        missing.append(
            f"its secret ({ENV_API_SECRET} or --api-secret) "
            f"or RSA private key file ({ENV_PRIVATE_KEY_FILE} or --private-key-file)"
        )
    if missing:
        raise UsageError("missing credentials: " + " and ".join(missing))
    assert api_key is not None
    private_key: bytes | None = None
    if key_file is not None:
        if "-----BEGIN" in key_file or "\n" in key_file or "\r" in key_file:
            raise UsageError(
                f"{key_source} looks like key contents, not a path: save the PEM key in a file "
                "(readable only by you) and give its path"
            )
        try:
            with open(key_file, "rb") as f:
                private_key = f.read()
        except OSError as exc:
            # strerror only: str(exc) would repeat the path
            raise UsageError(
                f"cannot read the private key file named by {key_source}: "
                f"{exc.strerror or type(exc).__name__}"
            ) from None
    return Credentials(api_key, secret, private_key, key_source if private_key is not None else None)


# -- running the smart-trades commands ------------------------------------------------------------------
WRITE_HANDLERS: Final = frozenset({"cancel", "cancel_all", "close_by_market"})
"""Commands whose output must never stop them: they keep going when stdout goes away."""


def _say(message: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def _smart_trades(args: argparse.Namespace) -> int:
    try:
        credentials = resolve_credentials(args, os.environ)
    except UsageError as exc:
        _say(str(exc))
        return EXIT_USAGE
    # Imported only now: aiohttp takes most of the start-up time, and a usage error needs none of it.
    from .._errors import ThreeCommasError
    from . import _commands as commands
    from ._output import EventPrinter, Output

    out = Output(json=args.json, progress=not args.no_progress, keep_going=args.handler in WRITE_HANDLERS)
    try:
        client = _make_client(args, credentials, EventPrinter(out, quiet=args.quiet))
    except UsageError as exc:
        _say(str(exc))
        return EXIT_USAGE
    handler: commands.Command = getattr(commands, args.handler)
    # One loop for the whole command (one client, one connection pool, one rate-limit window), run in
    # steps: cancel-all asks its question between two of them, with Python's own SIGINT handling.
    with asyncio.Runner() as runner:
        try:
            return handler(commands.Context(runner, client, args, out))
        except (ThreeCommasError, ValueError) as exc:
            code, message = describe_error(exc)
            _say(message)
            return code
        finally:
            with contextlib.suppress(Exception):
                runner.run(client.close())
            lost = out.unshown_report() if out.keep_going else None  # a read just stops, silently
            if lost is not None:
                _say(lost)


def _make_client(args: argparse.Namespace, credentials: Credentials, hook: EventHook) -> ThreeCommasClient:
    from .._client import DEFAULT_RATE_LIMIT, ThreeCommasClient
    from .._client import DEFAULT_TIMEOUT as CLIENT_TIMEOUT
    from .._ratelimit import RateLimit

    # Only the client-wide window changes with --max-rate; the cool-downs, the ban handling and the list
    # endpoint's own limit stay the SDK's.
    rate_limit = (
        DEFAULT_RATE_LIMIT if args.max_rate is None else RateLimit(max_rate=args.max_rate, time_period=60.0)
    )
    try:
        return ThreeCommasClient(
            credentials.api_key,
            credentials.api_secret,
            credentials.private_key,
            base_url=_clean(args.base_url) or _clean(os.environ.get(ENV_BASE_URL)) or DEFAULT_BASE_URL,
            forced_mode=args.forced_mode,
            rate_limit=rate_limit,
            timeout=CLIENT_TIMEOUT if args.timeout is None else args.timeout,
            event_hook=hook,
        )
    except ValueError as exc:
        if credentials.private_key_source is not None and "private_key" in str(exc):
            raise UsageError(
                f"the private key file named by {credentials.private_key_source} is not usable: {exc}"
            ) from None
        raise UsageError(f"unusable settings: {exc}") from None


# -- the parser -----------------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _per_page(text: str) -> int:
    value = _positive_int(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"must be in 1..100, got {value}")
    return value


def _pair(text: str) -> str:
    pair = text.strip().upper()
    if not pair:
        raise argparse.ArgumentTypeError("empty pair")
    return pair


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every smart-trades command shares. Defined at the top with real defaults and again on
    each sub-parser with ``SUPPRESS`` defaults, so a value given at either place survives."""

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group(
        "global options", "accepted before the command group or after the action; the last one given wins"
    )
    group.add_argument(
        "--api-key", metavar="KEY", default=default(None), help=f"API key (default: ${ENV_API_KEY})"
    )
    group.add_argument(
        "--api-secret",
        metavar="SECRET",
        default=default(None),
        help=f"HMAC secret of a system-generated key (default: ${ENV_API_SECRET}). "
        "Prefer the variable: other users can read command-line flags in the process list",
    )
    group.add_argument(
        "--private-key-file",
        metavar="PATH",
        default=default(None),
        help=f"PEM RSA private key of a self-generated key (default: ${ENV_PRIVATE_KEY_FILE})",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        default=default(None),
        help=f"API base URL (default: ${ENV_BASE_URL}, else {DEFAULT_BASE_URL})",
    )
    mode = group.add_mutually_exclusive_group()
    mode.add_argument(
        "--paper",
        dest="forced_mode",
        action="store_const",
        const="paper",
        default=default(None),
        help="act on the paper-trading account (sends Forced-Mode: paper)",
    )
    mode.add_argument(
        "--real",
        dest="forced_mode",
        action="store_const",
        const="real",
        default=default(None),
        help="act on the real account (sends Forced-Mode: real)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help='print JSON lines instead of a table: one object per SmartTrade ("kind": "smart_trade") '
        'or per cancel result ("kind": "cancel_result")',
    )
    group.add_argument(
        "--no-progress",
        action="store_true",
        default=default(False),
        help="never draw a progress bar (it is drawn on stderr only when stderr is a terminal)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default(False),
        help="no stderr line per retry, rate-limit pause or ban (errors and summaries are still shown)",
    )
    group.add_argument(
        "--max-rate",
        type=_positive_int,
        metavar="N",
        default=default(None),
        help=f"requests per minute the client allows itself (default {DEFAULT_MAX_RATE}, 3Commas' limit); "
        "lower it when other programs use the same key or IP",
    )
    group.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        default=default(None),
        help=f"time limit of each request (default {DEFAULT_TIMEOUT:g})",
    )


_FORMATTER: Final = argparse.RawDescriptionHelpFormatter

_TOP_EPILOG: Final = f"""\
credentials (flags win over the environment):
  {ENV_API_KEY}            the API key
  {ENV_API_SECRET}         its HMAC secret (system-generated key), or
  {ENV_PRIVATE_KEY_FILE}   a PEM file with its RSA private key (self-generated key)
  {ENV_BASE_URL}           optional: another base URL (a proxy, the fake server)

examples:
  {PROG} smart-trades list --status active
  {PROG} smart-trades cancel 31526921 31526922
  {PROG} smart-trades cancel-all --account 32281547 --dry-run
  {PROG} --json smart-trades cancel-all --pair USDT_BTC --yes | jq -c 'select(.ok == false)'

{EXIT_CODES_HELP}
"""

_CANCEL_EPILOG: Final = f"""\
Prints one row per id (with --json: one JSON object per id as soon as it is settled, with
"kind": "cancel_result", id, ok, already_final, result, status, pair, error {{type, message,
http_status}} and elapsed), then a summary. A SmartTrade that was already cancelled, finished or failed
counts as done ("already final"). Every id is cancelled even if stdout goes away (| head): the results
not shown are counted on stderr. Retries and rate-limit pauses are one line each on stderr (--quiet).

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

{EXIT_CODES_HELP}
"""


def _is_option(token: str) -> bool:
    return token.startswith("-") and token != "-" and not re.fullmatch(r"-\d+(\.\d*)?", token)


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, except that its error messages never repeat a value it may not show: the value after
    an unknown option (``--api_secret TOPSECRET``) or after a credential flag. ``hidden`` is set by
    :func:`main` from the command line before parsing."""

    hidden: ClassVar[tuple[str, ...]] = ()

    def error(self, message: str) -> NoReturn:
        for value in sorted(self.hidden, key=len, reverse=True):
            message = re.sub(rf"(?<![\w.-]){re.escape(value)}(?![\w.-])", "(not shown)", message)
        super().error(message)


def _known_options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of ``parser`` and its sub-parsers."""
    known: set[str] = set()
    for action in parser._actions:
        known.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                known |= _known_options(sub)
    return known


def _values_to_hide(argv: Sequence[str], known: set[str]) -> tuple[str, ...]:
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
            continue
        if eq:
            hidden.append(value)
        elif i + 1 < len(argv) and (name in CREDENTIAL_FLAGS or argv[i + 1] not in known):
            hidden.append(argv[i + 1])
    return tuple(v for v in hidden if v)


def _unrecognized(extras: Sequence[str]) -> str:
    """argparse's "unrecognized arguments" with option names only: the words after them (and any other
    stray word) may be secrets typed after a misspelt flag."""
    hidden = _ArgumentParser.hidden
    names = [t.partition("=")[0] for t in extras if _is_option(t) and t not in hidden]
    names = [n for n in names if not any(n in v for v in hidden)]
    others = len(extras) - len(names)
    text = "unrecognized arguments: " + " ".join(names) if names else "unrecognized arguments"
    if others:
        text += f"{' and' if names else ':'} {others} more word{'' if others == 1 else 's'} (not shown)"
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog=PROG,
        description="3Commas SmartTrades from a shell: list, inspect, cancel, cancel everything, close.",
        epilog=_TOP_EPILOG,
        formatter_class=_FORMATTER,
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    st = sub.add_parser(
        "smart-trades",
        help="list, get, cancel, cancel-all, close-by-market",
        description="SmartTrades (v2) of the account the credentials belong to.",
        epilog=_TOP_EPILOG,
        formatter_class=_FORMATTER,
    )
    _add_global_options(st, top=False)
    actions = st.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, handler: str, help: str, epilog: str | None = None) -> argparse.ArgumentParser:
        p = actions.add_parser(name, help=help, description=help, epilog=epilog, formatter_class=_FORMATTER)
        p.set_defaults(func=_smart_trades, handler=handler)
        return p

    ls = action("list", "list_trades", "list SmartTrades: one page, or every page with --all-pages")
    ls.add_argument("--account", type=_positive_int, metavar="ID", help="only this exchange account id")
    ls.add_argument("--pair", type=_pair, metavar="PAIR", help="only this pair, QUOTE_BASE (USDT_BTC)")
    ls.add_argument(
        "--status",
        metavar="S",
        help="all, active, finished, successfully_finished, cancelled or failed (default: no filter)",
    )
    paging = ls.add_mutually_exclusive_group()
    paging.add_argument("--page", type=_positive_int, metavar="N", help="page number, from 1 (default 1)")
    paging.add_argument("--all-pages", action="store_true", help="follow the pages until a short one")
    ls.add_argument(
        "--per-page",
        type=_per_page,
        metavar="N",
        help="page size, 1..100 (default: the API's 10; 100 with --all-pages)",
    )
    _add_global_options(ls, top=False)

    g = action("get", "get", "show one SmartTrade")
    g.add_argument("id", type=_positive_int, metavar="ID")
    _add_global_options(g, top=False)

    c = action("cancel", "cancel", "cancel SmartTrades by id, concurrently", _CANCEL_EPILOG)
    c.add_argument("ids", type=_positive_int, nargs="+", metavar="ID")
    c.add_argument(
        "--concurrency",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="C",
        help=f"cancels in flight (default {DEFAULT_CONCURRENCY}; the rate limit applies regardless)",
    )
    _add_global_options(c, top=False)

    ca = action(
        "cancel-all",
        "cancel_all",
        "cancel every active SmartTrade matching the filters, after confirmation",
        _CANCEL_ALL_EPILOG,
    )
    ca.add_argument("--account", type=_positive_int, metavar="ID", help="only this exchange account id")
    ca.add_argument("--pair", type=_pair, metavar="PAIR", help="only this pair, QUOTE_BASE (USDT_BTC)")
    ca.add_argument("-y", "--yes", action="store_true", help="do not ask: cancel what was listed")
    ca.add_argument(
        "--dry-run", action="store_true", help="list what would be cancelled and stop: no cancel is sent"
    )
    ca.add_argument(
        "--concurrency",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="C",
        help=f"cancels in flight (default {DEFAULT_CONCURRENCY}; the rate limit applies regardless)",
    )
    _add_global_options(ca, top=False)

    cm = action("close-by-market", "close_by_market", "close one SmartTrade at market price now (panic sell)")
    cm.add_argument("id", type=_positive_int, metavar="ID")
    _add_global_options(cm, top=False)

    demo = sub.add_parser("demo", help="create and bulk-cancel SmartTrades on the embedded fake server")
    demo.add_argument("--trades", type=int, default=1000, help="how many SmartTrades (default 1000)")
    demo.add_argument(
        "--fault-rate", type=float, default=0.05, help="share of faulted requests (default 0.05)"
    )
    demo.add_argument("--concurrency", type=int, default=32, help="cancels in flight (default 32)")
    demo.add_argument("--seed", type=int, default=7, help="seed of the injected faults")
    demo.set_defaults(func=_demo)

    # main() hands ``fake-server ...`` to the fake's own parser before this one sees it; kept for --help.
    fake = sub.add_parser("fake-server", help="run the fake 3Commas server until Ctrl-C")
    fake.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    fake.add_argument(
        "rest", nargs=argparse.REMAINDER, help="more options of python -m threecommas_async.testing"
    )
    fake.set_defaults(func=_fake_server)
    return parser


# -- the existing commands ------------------------------------------------------------------------------
def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    report = run_demo(args.trades, fault_rate=args.fault_rate, concurrency=args.concurrency, seed=args.seed)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def _fake_server(args: argparse.Namespace) -> int:
    from ..testing.__main__ import main as serve

    return serve(["--port", str(args.port), *args.rest])


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["fake-server"]:
        # Everything after it belongs to the fake's own parser: argparse's REMAINDER would reject
        # ``fake-server --port 8080 --seed-trades 5`` (an unknown option before any positional).
        from ..testing.__main__ import main as serve

        return serve(argv[1:])
    parser = build_parser()
    _ArgumentParser.hidden = _values_to_hide(argv, _known_options(parser))
    args, extras = parser.parse_known_args(argv)
    if extras:
        parser.error(_unrecognized(extras))
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of a read command went away (``| head``): stop quietly, and keep Python from
        # complaining at exit. (Write commands never get here: their output keeps going to /dev/null.)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
