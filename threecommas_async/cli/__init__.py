"""``threecommas-async`` / ``python -m threecommas_async``: the operator's command line.

::

    threecommas-async [global options] smart-trades list [--account ID] [--pair P] [--status S]
                                                        [--page N | --all-pages] [--per-page N]
    threecommas-async [global options] smart-trades get ID
    threecommas-async [global options] smart-trades cancel ID [ID ...] [--concurrency C]
                                                          [--wait | --max-wait SECONDS]
    threecommas-async [global options] smart-trades cancel-all [--account ID] [--pair P]
                                                              [--yes] [--dry-run] [--concurrency C]
                                                              [--wait | --max-wait SECONDS]
    threecommas-async [global options] smart-trades close-by-market ID [--wait | --max-wait SECONDS]
    threecommas-async demo [--trades N] [--fault-rate F] [--concurrency C] [--seed S]
    threecommas-async fake-server [options of python -m threecommas_async.testing]

    global options: --api-key --api-secret --private-key-file --base-url --paper/--real --json
                    --no-progress --quiet --max-rate N [--force] --timeout SECONDS

Global options go before ``smart-trades`` or after the action (``smart-trades list --json``); the
last one given wins. Credentials come from the environment unless flags give them; no output ever
shows a credential's or the base URL's value, wherever it came from.

The modules, one concern each: ``_parser`` (the command tree, its help, parse errors that repeat no
value), ``_credentials`` (where credentials come from, and the values no output may show),
``_settings`` (options to a client), ``_commands`` (the smart-trades commands), ``_output`` (tables,
JSON lines), ``_progress`` (what the operator is told while a command works or waits), ``_exit`` (exit
statuses and the line for each failure), ``_demo``, ``_console`` (what a run takes from its process).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from ._console import PROG, Console
from ._credentials import Secrets
from ._exit import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError
from ._parser import HelpShown, ParseError, check, parse

__all__ = ["Console", "main"]


def main(argv: Sequence[str] | None = None, *, console: Console | None = None) -> int:
    """Run the command line; return its exit status. ``console``: the environment and streams to use
    instead of the process's own (tests, programs that embed the command)."""
    console = console or Console.of_process()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse(argv)
        check(args)
    except HelpShown as shown:
        console.stdout.write(shown.text)
        console.stdout.flush()
        return EXIT_OK
    except ParseError as exc:
        console.stderr.write(Secrets.from_argv(console.environ, argv).hide(exc.text()))
        return EXIT_USAGE
    except UsageError as exc:
        _say(console, Secrets.from_args(console.environ, args).hide(str(exc)))
        return EXIT_USAGE
    try:
        return _dispatch(args, console)
    except KeyboardInterrupt:
        _say(console, "interrupted", first="\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of a read command went away (``| head``): stop quietly, and keep Python from
        # complaining at exit. (Write commands never get here: their output keeps going to /dev/null.)
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, console.stdout.fileno())
        except (OSError, ValueError):  # not a real file: nothing will flush it at exit
            pass
        return EXIT_FAILED


def _dispatch(args: argparse.Namespace, console: Console) -> int:
    """The one place a parsed command line turns into the work it names."""
    if args.command == "smart-trades":
        from ._commands import run

        return run(args, console)
    if args.command == "demo":
        from ._demo import run as demo

        return demo(args, console)
    return _fake_server(args.args, console)


def _fake_server(argv: list[str], console: Console) -> int:
    """``fake-server ...``: every word after it goes to ``python -m threecommas_async.testing``, whose
    prints (base URL, demo credentials, help) go to the console's streams."""
    from ..testing.__main__ import main as serve

    try:
        with contextlib.redirect_stdout(console.stdout), contextlib.redirect_stderr(console.stderr):
            return serve(argv)
    except SystemExit as exc:  # its parser's --help or error: it printed why
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except OSError as exc:  # the port is taken, or the address is not this machine's
        _say(console, f"fake-server cannot listen: {exc.strerror or exc}")
        return EXIT_USAGE


def _say(console: Console, message: str, *, first: str = "") -> None:
    try:
        console.stderr.write(f"{first}{PROG}: {message}\n")
        console.stderr.flush()
    except (OSError, ValueError):  # stderr gone too: nobody can read it
        pass
