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

Global options go before ``smart-trades`` or after the action (``smart-trades list --json``); the
last one given wins. Credentials come from the environment unless flags give them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from ._cli_errors import EXIT_CODES_HELP, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, describe_error

if TYPE_CHECKING:
    from ._cli_output import Output

__all__ = ["Credentials", "UsageError", "build_parser", "main", "resolve_credentials"]

PROG: Final = "threecommas-async"
ENV_API_KEY: Final = "THREECOMMAS_API_KEY"
ENV_API_SECRET: Final = "THREECOMMAS_API_SECRET"
ENV_PRIVATE_KEY_FILE: Final = "THREECOMMAS_PRIVATE_KEY_FILE"
ENV_BASE_URL: Final = "THREECOMMAS_BASE_URL"
DEFAULT_BASE_URL: Final = "https://api.3commas.io/public/api"  # the client's default, without importing it


class UsageError(Exception):
    """A problem with how the command was called or configured (exit status 2)."""


# -- credentials ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Credentials:
    """What the client is built with. ``repr`` never shows the secret or the private key."""

    api_key: str
    api_secret: str | None = field(default=None, repr=False)
    private_key: bytes | None = field(default=None, repr=False)


def resolve_credentials(args: argparse.Namespace, environ: Mapping[str, str]) -> Credentials:
    """Flags win over the environment. The secret material is taken as a whole from one place: if either
    ``--api-secret`` or ``--private-key-file`` is given, the environment's secret and key file are ignored.
    Empty variables count as unset."""
    api_key = args.api_key or environ.get(ENV_API_KEY) or None
    if args.api_secret is not None or args.private_key_file is not None:
        if args.api_secret is not None and args.private_key_file is not None:
            raise UsageError("pass either --api-secret or --private-key-file, not both")
        secret, key_file = args.api_secret or None, args.private_key_file or None
    else:
        secret = environ.get(ENV_API_SECRET) or None
        key_file = environ.get(ENV_PRIVATE_KEY_FILE) or None
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
        try:
            with open(key_file, "rb") as f:
                private_key = f.read()
        except OSError as exc:
            raise UsageError(
                f"cannot read the private key file {key_file!r}: {exc.strerror or exc}"
            ) from None
    return Credentials(api_key, secret, private_key)


# -- running the smart-trades commands ------------------------------------------------------------------
def _say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def _smart_trades(args: argparse.Namespace) -> int:
    from ._cli_output import Output
    from ._errors import ThreeCommasError

    try:
        credentials = resolve_credentials(args, os.environ)
    except UsageError as exc:
        _say(str(exc))
        return EXIT_USAGE
    out = Output(json=args.json, progress=not args.no_progress)
    try:
        return asyncio.run(_run(args, credentials, out))
    except UsageError as exc:
        _say(str(exc))
        return EXIT_USAGE
    except (ThreeCommasError, ValueError) as exc:
        code, message = describe_error(exc)
        _say(message)
        return code


async def _run(args: argparse.Namespace, credentials: Credentials, out: Output) -> int:
    from . import _cli_smart_trades as commands
    from ._client import ThreeCommasClient

    handler: commands.Command = getattr(commands, args.handler)
    try:
        client = ThreeCommasClient(
            credentials.api_key,
            credentials.api_secret,
            credentials.private_key,
            base_url=args.base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL,
            forced_mode=args.forced_mode,
        )
    except ValueError as exc:
        raise UsageError(f"unusable settings: {exc}") from None
    async with client:
        return await handler(client, args, out)


# -- the parser -----------------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
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
        help="print JSON lines (one object per SmartTrade or per cancel result) instead of a table",
    )
    group.add_argument(
        "--no-progress",
        action="store_true",
        default=default(False),
        help="never draw a progress bar (it is drawn on stderr only when stderr is a terminal)",
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
  {PROG} --json smart-trades cancel-all --pair USDT_BTC --yes | jq -c 'select(.ok | not)'

{EXIT_CODES_HELP}
"""

_CANCEL_EPILOG: Final = f"""\
Prints one row per id (with --json: one JSON object per id as soon as it is settled, with id, ok,
already_final, result, status, pair, error {{type, message, http_status}} and elapsed), then a summary.
A SmartTrade that was already cancelled, finished or failed counts as done ("already final").

{EXIT_CODES_HELP}
"""

_CANCEL_ALL_EPILOG: Final = f"""\
Lists every active SmartTrade matching the filters (GET /v2/smart_trades?status=active, every page),
shows them, asks "Cancel N SmartTrades? [y/N]" on the terminal, then cancels exactly the ones shown.
SmartTrades already cancellation_pending or panic_sell_pending are skipped (they are on their way out).
Without a terminal on stdin it refuses unless --yes is given: it never waits for an answer that cannot come.
With --json the listing is one SmartTrade object per line and each cancel result one object per line
(result objects carry an "ok" key); the prompt and the summary go to stderr.

{EXIT_CODES_HELP}
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="3Commas SmartTrades from a shell: list, inspect, cancel, cancel everything, close.",
        epilog=_TOP_EPILOG,
        formatter_class=_FORMATTER,
    )
    from . import __version__

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
        help="all, active, finished, successfully_finished, cancelled, failed, or a status type "
        "(default: no filter)",
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
        "--concurrency", type=_positive_int, default=32, metavar="C", help="cancels in flight (default 32)"
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
        "--concurrency", type=_positive_int, default=32, metavar="C", help="cancels in flight (default 32)"
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
    from .testing.__main__ import main as serve

    return serve(["--port", str(args.port), *args.rest])


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["fake-server"]:
        # Everything after it belongs to the fake's own parser: argparse's REMAINDER would reject
        # ``fake-server --port 8080 --seed-trades 5`` (an unknown option before any positional).
        from .testing.__main__ import main as serve

        return serve(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python from complaining at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
