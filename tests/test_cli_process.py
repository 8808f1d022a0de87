"""What only a real process shows: the installed ``threecommas-async`` and ``python -m threecommas_async``,
Ctrl-C (SIGINT) at the prompt and during a cancel, and stdout closed by ``| head``. Each runs as a
subprocess (``asyncio.create_subprocess_exec``: a blocking ``subprocess.run`` would stop the fake on
the test's loop from answering); everything else is tested in-process in ``test_cli.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import re
import shlex
import shutil
import signal
import sys
from asyncio.subprocess import Process
from pathlib import Path
from typing import Final

from threecommas_async._status import CANCELLING
from threecommas_async.testing import FakeThreeCommas

from .cli_support import TIMEOUT, Run, assert_no_leak, deletes, environ


def _installed() -> str:
    """The console script of the venv running the tests (else the first on PATH)."""
    exe = shutil.which("threecommas-async", path=str(Path(sys.executable).parent)) or shutil.which(
        "threecommas-async"
    )
    assert exe is not None, "the package is not installed: pip install -e ."
    return exe


INSTALLED: Final = [_installed()]
MODULE: Final = [sys.executable, "-m", "threecommas_async"]


def _env(server: FakeThreeCommas) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREECOMMAS_")}
    return env | environ(server.api_key, server.api_secret)


async def start(
    server: FakeThreeCommas,
    *args: str,
    command: list[str] = INSTALLED,
    stdin: int = asyncio.subprocess.DEVNULL,
) -> Process:
    """The command as a running process (stdout and stderr piped), for tests that act while it runs."""
    return await asyncio.create_subprocess_exec(
        *command,
        "--base-url",
        server.base_url,
        *args,
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(server),
    )


async def finish(proc: Process, server: FakeThreeCommas) -> Run:
    async with asyncio.timeout(TIMEOUT):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    run = Run(proc.returncode, out.decode(), err.decode())
    assert_no_leak(run, server, server.api_secret)
    return run


async def test_the_installed_command_and_python_m_run_the_same_cli() -> None:
    async with FakeThreeCommas() as server:
        ids = server.seed_trades(3)
        installed, module = await asyncio.gather(
            finish(await start(server, "--json", "smart-trades", "list"), server),
            finish(await start(server, "smart-trades", "get", str(ids[0]), command=MODULE), server),
        )
    assert installed.code == 0, installed.err
    assert sorted(t["id"] for t in installed.json_lines()) == ids
    assert module.code == 0, module.err
    assert re.search(rf"^id\s+{ids[0]}$", module.out, re.M)


async def test_ctrl_c_at_the_question_cancels_nothing_at_once() -> None:
    async with FakeThreeCommas() as server:
        server.seed_trades(3)
        master, slave = pty.openpty()
        try:
            proc = await start(server, "smart-trades", "cancel-all", stdin=slave)
            os.close(slave)
            slave = -1
            assert proc.stderr is not None
            async with asyncio.timeout(TIMEOUT):
                await proc.stderr.readuntil(b"Cancel 3 SmartTrades? [y/N] ")
            proc.send_signal(signal.SIGINT)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(proc.wait()), 2.0)
            exited_at_once = proc.returncode is not None
            os.write(master, b"y\n")  # what an operator types next if the first Ctrl-C seemed lost
            run = await finish(proc, server)
        finally:
            for fd in (master, slave):
                if fd >= 0:
                    os.close(fd)
        assert exited_at_once
        assert run.code == 130
        assert "interrupted at the prompt: nothing was cancelled" in run.err
        assert deletes(server) == []


async def test_ctrl_c_during_a_cancel_exits_130_and_says_what_is_unknown() -> None:
    async with FakeThreeCommas() as server:
        ids = server.seed_trades(3)
        server.faults.add("latency", route="cancel", delay=5.0, times=None)  # the DELETEs hang
        proc = await start(server, "smart-trades", "cancel", *map(str, ids))
        async with asyncio.timeout(TIMEOUT):
            for _ in range(int(TIMEOUT / 0.02)):  # the fake has no event to wait on: poll its record
                if len(deletes(server)) == len(ids):
                    break
                await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        run = await finish(proc, server)
    assert run.code == 130
    assert "interrupted after 0 of 3 SmartTrades settled" in run.err
    assert "smart-trades list --status active" in run.err


async def test_closing_stdout_never_stops_the_cancels() -> None:
    # `cancel-all --yes | head -n 3`: head leaves after the first lines; every cancel must still be sent
    async def piped_to_head(mode: list[str]) -> tuple[Run, list[int], FakeThreeCommas]:
        async with FakeThreeCommas(rate_limit=None) as server:
            ids = server.seed_trades(24)
            server.faults.add("latency", route="cancel", delay=0.15, times=None)  # head is gone by then
            command = shlex.join([*INSTALLED, "--base-url", server.base_url, *mode, "smart-trades"])
            proc = await asyncio.create_subprocess_exec(
                "bash",
                "-c",
                f"{command} cancel-all --yes | head -n 3 >/dev/null; echo ${{PIPESTATUS[0]}}",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=_env(server),
            )
            return await finish(proc, server), ids, server

    for run, ids, server in await asyncio.gather(piped_to_head([]), piped_to_head(["--json"])):
        assert sorted(i for i in deletes(server) if i is not None) == ids
        assert all(server.trade_status(i) in CANCELLING for i in ids)
        assert run.out == "0\n"  # the exit status, per results: every one cancelled
        assert "24 SmartTrades: 24 cancelled, 0 already final, 0 failed" in run.err  # the summary survives
        assert re.search(
            r"^threecommas-async: stdout closed; \d+ results( and \d+ SmartTrades)? not shown$", run.err, re.M
        )
        assert "Exception ignored" not in run.err
