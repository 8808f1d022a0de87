"""``FakeThreeCommas`` in a child process, for measurements that must not share a CPU with the fake.

::

    from threecommas_async.testing._process import FakeProcess, pin_cpu

    with FakeProcess(cpu=0, rate_limit=None, record_requests=False) as fake:
        pin_cpu(1)                                   # the client on the other core
        ids = fake.seed_trades(1000)
        ...  # drive a client at fake.base_url with fake.api_key / fake.api_secret
        assert fake.status_counts(ids) == {"cancellation_pending": 1000}

The child is started with the ``spawn`` method (a fresh interpreter: nothing of the parent's event loop,
threads or memory), optionally pinned to one CPU, and runs ``FakeThreeCommas(**options)`` on its own
event loop. The parent speaks to it over a pipe, one command at a time, between measurements: a command
is a name and arguments, looked up in a table of ``name -> callable(server, *args, **kwargs)``
(:data:`COMMANDS`, extended by ``commands=``); its return value is pickled back. A command may be a
coroutine function; it then runs on the fake's loop.

Shutdown: :meth:`FakeProcess.stop` (or leaving the ``with`` block, also on an exception or Ctrl-C) asks
the child to stop, then terminates and finally kills it if it does not exit in time. The child ignores
Ctrl-C (the terminal sends it to the whole process group; the parent decides when the fake stops) and
exits on its own when the parent goes away, since its end of the pipe then reads end-of-file.
"""

from __future__ import annotations

import asyncio
import inspect
import multiprocessing
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from ._server import FakeThreeCommas
    from ._traffic import RecordedRequest, Stats

__all__ = ["COMMANDS", "Command", "FakeProcess", "FakeProcessError", "allowed_cpus", "pin_cpu"]

Command = Callable[..., Any]
"""``command(server, *args, **kwargs)``: runs in the child with its ``FakeThreeCommas``; a coroutine
function is awaited on the fake's loop. Commands given to ``FakeProcess(commands=…)`` are pickled by
reference, so they must be module-level functions."""


class FakeProcessError(RuntimeError):
    """The child did not start, died, timed out, or a command raised (its type and message are kept)."""


# -- CPU pinning ---------------------------------------------------------------------------------------


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on, or ``[]`` where the platform cannot pin (macOS, Windows)."""
    if not hasattr(os, "sched_getaffinity"):
        return []
    return sorted(os.sched_getaffinity(0))


def pin_cpu(cpu: int | None) -> bool:
    """Pin the calling process to ``cpu``. False (and nothing changed) when ``cpu`` is None, the
    platform cannot pin, or ``cpu`` is not one this process may use."""
    if cpu is None or cpu not in allowed_cpus():
        return False
    os.sched_setaffinity(0, {cpu})
    return True


# -- the commands ------------------------------------------------------------------------------------------


def _reset(server: FakeThreeCommas) -> None:
    server.reset()


def _seed_trades(server: FakeThreeCommas, n: int, **options: Any) -> list[int]:
    return server.seed_trades(n, **options)


def _set_faults(
    server: FakeThreeCommas,
    rules: Sequence[Mapping[str, Any]] = (),
    random: Mapping[str, Any] | None = None,
) -> None:
    """Replace every fault: each of ``rules`` is the keyword arguments of ``server.faults.add`` (with
    ``kind``), ``random`` those of ``server.faults.random`` (with ``ratio``)."""
    server.faults.clear()
    for rule in rules:
        server.faults.add(**rule)
    if random is not None:
        server.faults.random(**random)


def _statuses(server: FakeThreeCommas, ids: Iterable[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for tid in ids:
        try:
            out[tid] = server.trade_status(tid)
        except KeyError:
            out[tid] = "unknown"
    return out


def _status_counts(server: FakeThreeCommas, ids: Iterable[int]) -> dict[str, int]:
    return dict(Counter(_statuses(server, ids).values()))


def _complete_pending(server: FakeThreeCommas) -> None:
    server.complete_pending()


def _stats(server: FakeThreeCommas) -> Stats:
    return server.stats


def _records(server: FakeThreeCommas) -> list[RecordedRequest]:
    return list(server.requests)


COMMANDS: Final[Mapping[str, Command]] = {
    "reset": _reset,
    "seed_trades": _seed_trades,
    "set_faults": _set_faults,
    "statuses": _statuses,
    "status_counts": _status_counts,
    "complete_pending": _complete_pending,
    "stats": _stats,
    "records": _records,
}
"""The commands every fake process understands; :class:`FakeProcess` has one method for each."""

_STOP: Final = "stop"


# -- the child ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Started:
    base_url: str
    api_key: str
    api_secret: str = field(repr=False)
    pid: int
    cpu: int | None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _child_main(
    conn: Connection, cpu: int | None, options: dict[str, Any], extra: dict[str, Command]
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pinned = cpu if pin_cpu(cpu) else None
    try:
        asyncio.run(_serve(conn, pinned, options, {**COMMANDS, **extra}))
    finally:
        conn.close()


async def _serve(
    conn: Connection, cpu: int | None, options: dict[str, Any], commands: dict[str, Command]
) -> None:
    from . import FakeThreeCommas

    try:
        server = FakeThreeCommas(**options)
        await server.start()
    except Exception as exc:
        given = ", ".join(sorted(options)) or "none"  # names only: a value may be a secret
        conn.send(("error", f"the fake did not start (options: {given}): {_describe(exc)}"))
        return
    loop = asyncio.get_running_loop()
    try:
        conn.send(("ok", _Started(server.base_url, server.api_key, server.api_secret, os.getpid(), cpu)))
        while True:
            try:
                name, args, kwargs = await loop.run_in_executor(None, conn.recv)
            except EOFError:  # the parent is gone
                return
            if name == _STOP:
                conn.send(("ok", None))
                return
            reply = await _answer(server, commands, name, args, kwargs)
            try:
                conn.send(reply)  # pickles first: nothing is written when that fails
            except OSError:
                raise
            except Exception as exc:
                conn.send(("error", f"command {name!r} returned what cannot be sent back: {_describe(exc)}"))
    finally:
        await server.stop()


async def _answer(
    server: FakeThreeCommas,
    commands: dict[str, Command],
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[str, Any]:
    command = commands.get(name)
    if command is None:
        return "error", f"unknown command {name!r} (known: {', '.join(sorted(commands))})"
    try:
        result = command(server, *args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        return "error", f"command {name!r} failed: {_describe(exc)}"
    return "ok", result


# -- the parent --------------------------------------------------------------------------------------------


class FakeProcess:
    """``FakeThreeCommas(**options)`` in a spawned child process, optionally pinned to ``cpu``.

    ``options`` are the fake's constructor keywords (they are pickled: ``RateLimits`` and the like are
    fine); they are checked here, by constructing one ``FakeThreeCommas`` in this process, so that a bad
    one raises the fake's own ``TypeError`` or ``ValueError`` before any child exists. ``commands`` adds
    to or replaces entries of :data:`COMMANDS`. ``start_timeout`` bounds the start (interpreter, imports,
    listening socket); ``call_timeout`` bounds each command, after which the child is killed, since a
    late answer would be read as the next one's.

    The child is a ``spawn`` child: like any, it imports the parent's ``__main__`` module again, so a
    script that starts one needs the usual ``if __name__ == "__main__":`` guard.

    Use it as a context manager (``with FakeProcess(...) as fake``), or :meth:`start` / :meth:`stop`.
    After the start: :attr:`base_url`, :attr:`api_key`, :attr:`api_secret`, :attr:`pid`, and
    :attr:`cpu` (the CPU it is pinned to, None when not pinned).
    """

    def __init__(
        self,
        *,
        cpu: int | None = None,
        commands: Mapping[str, Command] | None = None,
        start_timeout: float = 30.0,
        call_timeout: float | None = 120.0,
        **options: Any,
    ) -> None:
        from . import FakeThreeCommas

        FakeThreeCommas(**options)  # bad options raise here, with the fake's own error, before any child
        self._cpu_wanted = cpu
        self._commands = dict(commands or {})
        self._options = options
        self.start_timeout = start_timeout
        self.call_timeout = call_timeout
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._started: _Started | None = None

    def __repr__(self) -> str:
        where = self._started.base_url if self._started is not None else "not running"
        return f"FakeProcess({where})"

    # ---------------------------------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        """Start the child and wait until the fake listens; :class:`FakeProcessError` if it cannot."""
        if self._process is not None:
            raise FakeProcessError("this FakeProcess was already started")
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=_child_main,
            args=(child, self._cpu_wanted, self._options, self._commands),
            name="FakeThreeCommas",
            daemon=True,  # multiprocessing ends it at exit if nobody stopped it
        )
        self._process, self._conn = process, parent
        try:
            process.start()
            child.close()  # our copy: the child's end must be the child's alone, for EOF to reach it
            if not parent.poll(self.start_timeout):
                raise FakeProcessError(
                    f"the fake did not start within {self.start_timeout:g} s"
                    + ("" if process.is_alive() else f" (child exited with status {process.exitcode})")
                )
            self._started = self._receive("start")
        except BaseException:
            self._kill()
            raise
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the child: politely, then ``terminate``, then ``kill``. Idempotent."""
        process, conn = self._process, self._conn
        if process is None or conn is None:
            return
        try:
            if process.is_alive():
                conn.send((_STOP, (), {}))
                if conn.poll(timeout):
                    conn.recv()
                process.join(timeout)
        except (OSError, EOFError):
            pass  # already gone
        finally:
            self._kill()

    def _kill(self) -> None:
        process, conn = self._process, self._conn
        self._started = None
        if process is not None:
            if process.is_alive():
                process.terminate()
                process.join(2.0)
            if process.is_alive():
                process.kill()
                process.join()
        if conn is not None:
            conn.close()
        self._conn = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._started is not None and self._process is not None and self._process.is_alive()

    # ---------------------------------------------------------------------------------------- identity

    def _info(self) -> _Started:
        if self._started is None:
            raise FakeProcessError("the fake process is not running (use start() or a with block)")
        return self._started

    @property
    def base_url(self) -> str:
        return self._info().base_url

    @property
    def api_key(self) -> str:
        return self._info().api_key

    @property
    def api_secret(self) -> str:
        return self._info().api_secret

    @property
    def pid(self) -> int:
        return self._info().pid

    @property
    def cpu(self) -> int | None:
        return self._info().cpu

    # ---------------------------------------------------------------------------------------- commands

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run command ``name`` in the child and return its result; :class:`FakeProcessError` if the
        command is unknown or raised (the child keeps running), or if the child died or timed out."""
        self._info()
        conn = self._conn
        assert conn is not None
        try:
            conn.send((name, args, kwargs))
        except OSError as exc:
            self._kill()
            raise FakeProcessError(f"the fake process is gone ({_describe(exc)})") from exc
        if self.call_timeout is not None and not conn.poll(self.call_timeout):
            self._kill()
            raise FakeProcessError(
                f"the fake did not answer {name!r} within {self.call_timeout:g} s; it was stopped"
            )
        return self._receive(name)

    def _receive(self, what: str) -> Any:
        conn = self._conn
        assert conn is not None
        try:
            status, value = conn.recv()
        except (EOFError, OSError) as exc:
            process = self._process
            if process is not None:
                process.join(1.0)  # its end of the pipe closed: it is exiting, if not gone already
            code = process.exitcode if process is not None else None
            self._kill()
            raise FakeProcessError(f"the fake process died during {what!r} (exit status {code})") from exc
        if status == "error":
            raise FakeProcessError(value)
        return value

    def reset(self) -> None:
        """Forget trades, traffic, stats, faults and rate-limit state (``FakeThreeCommas.reset``)."""
        self.call("reset")

    def seed_trades(self, n: int, **options: Any) -> list[int]:
        """``n`` new SmartTrades (``FakeThreeCommas.seed_trades``); their ids, increasing."""
        ids: list[int] = self.call("seed_trades", n, **options)
        return ids

    def set_faults(
        self, rules: Sequence[Mapping[str, Any]] = (), *, random: Mapping[str, Any] | None = None
    ) -> None:
        """Replace every fault rule: ``rules`` are keyword arguments of ``faults.add`` (``{"kind":
        "http_503", "route": "cancel", "times": 1}``), ``random`` those of ``faults.random``
        (``{"ratio": 0.05, "seed": 7}``). ``set_faults()`` clears them all."""
        self.call("set_faults", [dict(r) for r in rules], dict(random) if random is not None else None)

    def statuses(self, ids: Iterable[int]) -> dict[int, str]:
        """Each id's ``status.type`` (``"unknown"`` for an id the fake does not hold)."""
        out: dict[int, str] = self.call("statuses", list(ids))
        return out

    def status_counts(self, ids: Iterable[int]) -> dict[str, int]:
        """How many of ``ids`` are in each status: one small answer however many ids."""
        out: dict[str, int] = self.call("status_counts", list(ids))
        return out

    def complete_pending(self) -> None:
        """Apply every scheduled transition now (``cancellation_pending`` -> ``cancelled``, …)."""
        self.call("complete_pending")

    def stats(self) -> Stats:
        """A copy of the fake's counters."""
        stats: Stats = self.call("stats")
        return stats

    def records(self) -> list[RecordedRequest]:
        """A copy of the traffic record (empty with ``record_requests=False``)."""
        records: list[RecordedRequest] = self.call("records")
        return records
