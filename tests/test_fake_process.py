"""The fake in a child process (``threecommas_async.testing._process``): start, commands, shutdown."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from threecommas_async.testing import FakeThreeCommas
from threecommas_async.testing._process import FakeProcess, FakeProcessError, allowed_cpus, pin_cpu

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
SECRET = "not-for-your-eyes-0123456789"


def _gone(pid: int, within: float = 10.0) -> bool:
    """Whether process ``pid`` has exited within ``within`` seconds (a zombie counts as exited: who
    reaps an orphan is up to the machine's init)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        except OSError:
            pass  # no /proc: wait for the pid to go
        time.sleep(0.02)
    return False


def count_trades(server: FakeThreeCommas, status: str) -> int:
    """An extra command: module-level, so that the child can import it by name."""
    return sum(server.trade_status(i) == status for i in server.trade_ids())


async def _cancel(base_url: str, trade_id: int) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.delete(f"{base_url}/v2/smart_trades/{trade_id}") as r,
    ):
        return r.status


def test_commands_run_in_the_child_and_stop_leaves_no_process() -> None:
    cpu = allowed_cpus()[0] if allowed_cpus() else None
    with FakeProcess(
        cpu=cpu, rate_limit=None, cancel_delay=None, api_secret=SECRET, commands={"count": count_trades}
    ) as fake:
        pid = fake.pid
        assert pid != os.getpid()
        assert fake.cpu == cpu
        assert fake.api_secret == SECRET and SECRET not in repr(fake)
        ids = fake.seed_trades(3)
        assert fake.status_counts(ids) == {"waiting_targets": 3}
        assert fake.statuses([ids[0], 1]) == {ids[0]: "waiting_targets", 1: "unknown"}
        assert fake.call("count", "waiting_targets") == 3
        fake.set_faults([{"kind": "http_503", "route": "cancel", "times": 1}])
        assert asyncio.run(_cancel(fake.base_url, ids[0])) == 503  # faults come before the signature check
        assert asyncio.run(_cancel(fake.base_url, ids[0])) == 401  # the fault is spent
        stats = fake.stats()
        assert stats.requests == 2 and stats.by_status == {503: 1, 401: 1}
        with pytest.raises(
            FakeProcessError, match=r"unknown command 'nope' \(known: complete_pending, count"
        ):
            fake.call("nope")
        with pytest.raises(
            FakeProcessError, match="command 'seed_trades' failed: ValueError: n must be >= 0"
        ):
            fake.seed_trades(-1)
        assert fake.seed_trades(1)  # the child survived both
        fake.reset()
        assert fake.call("count", "waiting_targets") == 0
    assert _gone(pid)
    assert not fake.running
    with pytest.raises(FakeProcessError, match="not running"):
        fake.seed_trades(1)


def test_bad_options_raise_before_any_child_exists() -> None:
    with pytest.raises(TypeError, match="no_such_option"):
        FakeProcess(api_secret=SECRET, no_such_option=1)
    with pytest.raises(ValueError, match="conflict_status"):
        FakeProcess(conflict_status=500)
    assert multiprocessing.active_children() == []


def test_a_fake_that_cannot_listen_fails_the_start_without_echoing_values() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        fake = FakeProcess(port=taken.getsockname()[1], api_secret=SECRET)
        with pytest.raises(FakeProcessError) as caught:
            fake.start()
    message = str(caught.value)
    assert "the fake did not start (options: api_secret, port): OSError" in message
    assert SECRET not in message
    assert not fake.running
    assert multiprocessing.active_children() == []


def test_start_timeout_kills_the_child() -> None:
    fake = FakeProcess(start_timeout=0.01)
    with pytest.raises(FakeProcessError, match=r"did not start within 0\.01 s"):
        fake.start()
    assert not fake.running
    assert multiprocessing.active_children() == []


def test_a_child_that_dies_is_reported_and_the_block_still_exits() -> None:
    with FakeProcess(rate_limit=None) as fake:
        pid = fake.pid
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(FakeProcessError, match=r"died during 'stats' \(exit status -9\)"):
            fake.stats()
        assert not fake.running
    assert _gone(pid)


_PARENT = """
import os, sys, time
from threecommas_async.testing._process import FakeProcess

if __name__ == "__main__":
    with FakeProcess(rate_limit=None) as fake:
        print(fake.pid, flush=True)
        if sys.argv[1] == "exit":
            os._exit(0)  # no cleanup at all: the child must notice on its own
        time.sleep(60)
"""


@pytest.mark.parametrize(
    ("how", "send"),
    [("ctrl-c", signal.SIGINT), ("exit", None)],
)
def test_no_child_outlives_its_parent(tmp_path: Path, how: str, send: signal.Signals | None) -> None:
    script = tmp_path / "parent.py"
    script.write_text(_PARENT)
    # A session of its own, so that Ctrl-C can go to the whole process group as a terminal sends it.
    parent = subprocess.Popen(
        [sys.executable, str(script), how],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        if send is not None:
            os.killpg(parent.pid, send)
        parent.wait(20)
        assert _gone(child)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_pin_cpu_refuses_what_it_cannot_do() -> None:
    assert pin_cpu(None) is False
    assert pin_cpu(10_000) is False  # not a CPU this process may use: nothing changed
    assert allowed_cpus() == sorted(set(allowed_cpus()))
