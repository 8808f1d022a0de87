"""Running the command line in-process: ``cli.main(argv, console=...)`` in a worker thread (it runs its
own event loop) while a FakeThreeCommas answers on the test's loop. Each run gets its own environment
and streams, so runs can go concurrently; each is checked for leaks: no secret and no ``Signature``
the command sent may appear in its output, and no traceback.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import pytest

from threecommas_async._signing import HMACSigner, signed_message
from threecommas_async.cli import Console, main
from threecommas_async.testing import FakeThreeCommas

TIMEOUT: Final = 30.0


class Terminal(io.StringIO):
    """A stream that says it is a terminal: what the operator types (stdin) or sees (stderr)."""

    def isatty(self) -> bool:
        return True


class Timed(io.StringIO):
    """A stream that remembers when each write came, to tell output streamed from output at the end."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.writes.append((time.monotonic(), text))
        return super().write(text)


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict[str, Any]]:
        objects = [json.loads(line) for line in self.out.splitlines() if line.strip()]
        assert all(isinstance(o, dict) for o in objects)
        return objects

    def rows(self) -> list[str]:
        """Table lines after the header."""
        return self.out.splitlines()[1:]


def environ(
    api_key: str | None, api_secret: str | None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    # Each test's commands share one allowance, and no test's shares another's: memory:// is emptied
    # between tests (conftest). The default SQLite file in the state directory is tested on its own.
    env: dict[str, str] = {"THREECOMMAS_LIMITS_STORAGE": "memory://cli"}
    if api_key is not None:
        env["THREECOMMAS_API_KEY"] = api_key
    if api_secret is not None:
        env["THREECOMMAS_API_SECRET"] = api_secret
    env.update(extra or {})
    return env


async def cli(
    server: FakeThreeCommas | None,
    *args: str,
    api_key: str | None = None,
    api_secret: str | None = None,
    no_credentials: bool = False,
    env: Mapping[str, str] | None = None,
    stdin: str = "",
    terminal: bool = False,
    stderr: io.StringIO | None = None,
    stdout: io.StringIO | None = None,
    time_scale: float = 1.0,
    secrets: tuple[str, ...] = (),
) -> Run:
    """Run the command with ``--base-url`` of ``server`` and its credentials (unless overridden).

    ``stdin``: what is read from stdin, typed on a terminal when ``terminal``; ``stderr``/``stdout``:
    streams to write to (a :class:`Terminal` draws the progress bar). Asserts that no secret (the
    server's, the one given, ``secrets``) and no signature leaked into the output.
    """
    key: str | None
    secret: str | None
    if server is not None:
        key = api_key if api_key is not None else server.api_key
        secret = api_secret if api_secret is not None else server.api_secret
        argv = ["--base-url", server.base_url, *args]
    else:
        key, secret = api_key, api_secret
        argv = list(args)
    console = Console(
        environ(None, None, env) if no_credentials else environ(key, secret, env),
        Terminal(stdin) if terminal else io.StringIO(stdin),
        stdout if stdout is not None else io.StringIO(),
        stderr if stderr is not None else io.StringIO(),
        time_scale=time_scale,
    )
    try:
        code = await asyncio.wait_for(asyncio.to_thread(main, argv, console=console), TIMEOUT)
    except TimeoutError:
        pytest.fail(f"{args} did not finish in {TIMEOUT} s")
    out, err = console.stdout, console.stderr
    assert isinstance(out, io.StringIO) and isinstance(err, io.StringIO)
    run = Run(code, out.getvalue(), err.getvalue())
    assert_no_leak(run, server, secret, secrets)
    return run


def assert_no_leak(
    run: Run, server: FakeThreeCommas | None, secret: str | None, secrets: tuple[str, ...] = ()
) -> None:
    text = run.out + run.err
    assert "Traceback" not in text
    for s in {secret, server.api_secret if server else None, *secrets}:
        if s:
            assert s not in text
    if server is None or not secret:
        return
    signer = HMACSigner(secret)
    for rec in server.requests:  # the exact Signature value sent for each request (none has a body)
        signature = signer.sign(signed_message("hmac", rec.path, rec.query, None))
        assert signature not in text


def deletes(server: FakeThreeCommas) -> list[int | None]:
    return [r.trade_id for r in server.requests if r.method == "DELETE"]


async def until(condition: Callable[[], bool], running: asyncio.Task[Any]) -> None:
    """Poll (the fake has no event to wait on) until ``condition`` holds; fail if the command ends first."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            if running.done():
                pytest.fail(f"the command ended early: {running.result()}")
            await asyncio.sleep(0.01)
