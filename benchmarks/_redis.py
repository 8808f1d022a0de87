"""The Redis of the storage rows: the one ``--redis-url`` names, or a ``redis-server`` started here on a
free loopback port (in memory only, pinned to a CPU when asked) and stopped afterwards. Where neither the
``redis`` package nor ``redis-server`` is at hand, the rows are skipped with the reason."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from threecommas_async.testing._process import allowed_cpus


@dataclass(frozen=True, slots=True)
class Redis:
    """Either a URL to use, or why there is none (``skipped: …``)."""

    url: str | None
    reason: str | None = None
    started: bool = False  # a redis-server of ours, not one given


def missing() -> str | None:
    """Why no Redis can be started here, or None."""
    if importlib.util.find_spec("redis") is None:
        return "skipped: the redis package is missing (pip install -e '.[redis]')"
    if shutil.which("redis-server") is None:
        return "skipped: redis-server is not installed (apt-get install redis-server)"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis(given: str | None, cpu: int | None = None, timeout: float = 10.0) -> Iterator[Redis]:
    """The Redis to measure against, for the ``with`` block."""
    if given is not None:
        yield Redis(given)
        return
    reason = missing()
    if reason is not None:
        yield Redis(None, reason)
        return
    exe = shutil.which("redis-server")
    assert exe is not None
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as directory:
        options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process = subprocess.Popen(
            [exe, *options, "--dir", directory], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            if cpu is not None and cpu in allowed_cpus():
                os.sched_setaffinity(process.pid, {cpu})
            deadline = time.monotonic() + timeout
            while not _pong(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}")
                time.sleep(0.02)
            yield Redis(f"redis://127.0.0.1:{port}/0", started=True)
        finally:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
