"""What only a real process shows: the installed ``threecommas-async`` and ``python -m
threecommas_async``, Ctrl-C (SIGINT) at the prompt, SIGINT and SIGTERM during a cancel, and stdout
closed by ``| head``. Each runs as a
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

import pytest

from threecommas_async._status import CANCELLING
from threecommas_async.testing import FakeThreeCommas

from .cli_support import TIMEOUT, Run, assert_no_leak, deletes, environ

pytestmark = pytest.mark.e2e


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


@pytest.mark.parametrize(
    ("sent", "code", "says"),
    [
        (signal.SIGINT, 130, "interrupted at the prompt: nothing was cancelled"),
        (signal.SIGTERM, 143, "terminated (SIGTERM) at the prompt: nothing was cancelled"),
    ],
)
async def test_ctrl_c_or_sigterm_at_the_question_cancels_nothing_at_once(
    sent: signal.Signals, code: int, says: str
) -> None:
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
            proc.send_signal(sent)
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
        assert run.code == code
        assert says in run.err
        assert deletes(server) == []


async def deletes_reached(server: FakeThreeCommas, n: int) -> None:
    """Until ``n`` DELETEs reached the fake (it has no event to wait on: poll its record)."""
    async with asyncio.timeout(TIMEOUT):
        while len(deletes(server)) < n:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@pytest.mark.parametrize(("sent", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_an_interrupted_cancel_says_which_ids_were_settled_sent_or_never_sent(
    sent: signal.Signals, code: int
) -> None:
    async with FakeThreeCommas() as server:
        ids = server.seed_trades(5)
        server.faults.add("latency", route="cancel", delay=5.0, times=None)  # the DELETEs hang
        # One in flight at a time, and the limit full after two: one sent, the others never.
        proc = await start(
            server,
            "--json",
            "--max-rate",
            "2",
            "smart-trades",
            "cancel",
            *map(str, ids),
            "--concurrency",
            "2",
        )
        await deletes_reached(server, 2)
        await asyncio.sleep(0.2)
        proc.send_signal(sent)
        run = await finish(proc, server)
    assert run.code == code
    (report,) = [line for line in run.json_lines() if line["kind"] == "interrupted"]
    assert report["settled"] == []
    assert sorted(report["sent_not_settled"]) == sorted(id for id in deletes(server) if id is not None)
    assert sorted(report["sent_not_settled"] + report["not_sent"]) == sorted(ids)
    assert "2 sent but not settled, 3 never sent" in run.err
    assert " ".join(map(str, report["not_sent"])) in run.err


async def test_an_interrupted_wait_final_reports_the_cancelled_ids_as_cancelled_not_unsent() -> None:
    async with FakeThreeCommas(cancel_delay=None) as server:  # pending until complete_pending(): never final
        ids = server.seed_trades(3)
        proc = await start(
            server,
            "--json",
            "smart-trades",
            "cancel",
            *map(str, ids),
            "--wait-final",
            "--final-timeout",
            "60",
        )
        await deletes_reached(server, 3)
        await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        run = await finish(proc, server)
    assert run.code == 143
    (report,) = [line for line in run.json_lines() if line["kind"] == "interrupted"]
    assert sorted(report["cancelled_not_final"]) == ids
    assert report["not_sent"] == [] and report["sent_not_settled"] == []
    assert "3 cancelled but not yet final, 0 sent but not settled, 0 never sent" in run.err


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
