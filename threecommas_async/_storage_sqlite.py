"""``sqlite:///ABSOLUTE/PATH.db``: one allowance for every process of this machine, with the stdlib only.

Each operation is one short transaction (``BEGIN IMMEDIATE``: the write lock first, so two processes never
both read a window and both grant its last slot): read the key's state and the ban, apply the
``_ledger`` rules in Python, write the state back. WAL journal (readers never wait for the writer),
``synchronous=OFF`` (a commit never waits for the disk: the state matters for a minute, and a host that
crashes loses it along with every request in flight). Time is the host's wall clock, which every process
of the host shares.

Releases are not transactions of their own: each is stamped with the time its answer came, kept, and
written with the next transaction of this process (an acquire, or a flush at the end of the loop tick),
so a request costs one transaction, not two.

The event loop never blocks long: SQLite waits for the lock at most ``BUSY_MS`` per try; a busy database
is tried again after an asynchronous pause, for the call's ``within`` seconds, then the call fails closed
with :class:`RateLimitStorageError`. A release (in a request's ``finally``) tries once at once, and in the
background if the database is busy; until it lands, the slot's lease keeps counting it, which errs on
the safe side.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Final, TypeVar

import msgspec

from ._errors import RateLimitStorageError
from ._ledger import BAN, Decision, KeyState, WindowSpec
from ._log import log
from ._storage import Listener, new_token

__all__ = ["SQLiteStorage", "sqlite_path"]

T = TypeVar("T")

BUSY_MS: Final = 20
_CLEAN_EVERY: Final = 256
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, state BLOB NOT NULL, expires REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value REAL NOT NULL)",
)
_encode = msgspec.msgpack.encode
_decode = msgspec.msgpack.decode
_BACKGROUND: Final[set[asyncio.Task[None]]] = set()


def sqlite_path(url: str) -> str:
    """The file of ``sqlite:///ABSOLUTE/PATH.db``; ``ValueError`` for anything else."""
    rest = url[len("sqlite://") :] if url.lower().startswith("sqlite://") else ""
    path, _, _query = rest.partition("?")
    if not path.startswith("/") or path.rstrip("/") == "":
        raise ValueError(
            "RateLimit(storage=...): a SQLite storage is sqlite:///ABSOLUTE/PATH.db (three slashes, then an "
            "absolute path)"
        )
    return os.path.normpath(path)


class SQLiteStorage:
    shared = True

    def __init__(self, url: str) -> None:
        self.name = url
        self.path = sqlite_path(url)
        self._local = threading.local()
        self._transactions = 0
        self._lock = threading.Lock()
        # Releases not yet written: (key, specs, token, answer time, passed, give back instead).
        self._pending: list[tuple[str, tuple[WindowSpec, ...], int, float, bool, bool]] = []
        self._flush_scheduled = False

    def __repr__(self) -> str:
        return f"SQLiteStorage({self.name!r})"

    # -- transactions ---------------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid != os.getpid():
            conn = None  # inherited through a fork: SQLite forbids using it here (abandoned, not closed)
        if conn is None:
            directory = os.path.dirname(self.path)
            if directory:
                os.makedirs(directory, mode=0o700, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_MS / 1000, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")
            for statement in _SCHEMA:
                conn.execute(statement)
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def _transaction(self, work: Callable[[sqlite3.Connection, float], T]) -> T:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        with self._lock:
            pending, self._pending = self._pending, []
        try:
            if pending:
                self._apply(conn, pending)
            result = work(conn, time.time())
            self._transactions += 1
            if self._transactions % _CLEAN_EVERY == 0:
                conn.execute("DELETE FROM keys WHERE expires < ?", (time.time(),))
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            with self._lock:  # not written: keep them for the next transaction
                self._pending[:0] = pending
            raise
        return result

    def _apply(
        self,
        conn: sqlite3.Connection,
        pending: list[tuple[str, tuple[WindowSpec, ...], int, float, bool, bool]],
    ) -> None:
        states: dict[str, KeyState] = {}
        for key, specs, token, answered, passed, give_back in pending:
            state = states.get(key)
            if state is None:
                state = states[key] = self._load(conn, key)
            if give_back:
                state.give_back(specs, token)
            else:
                state.finish(specs, token, answered, passed)
        for key, state in states.items():
            self._store(conn, key, state)

    async def _run(self, work: Callable[[sqlite3.Connection, float], T], within: float) -> T:
        deadline = time.monotonic() + within
        pause = 0.002
        while True:
            try:
                return self._transaction(work)
            except (sqlite3.Error, OSError) as exc:
                if time.monotonic() + pause >= deadline:
                    raise RateLimitStorageError(
                        f"rate-limit storage {self.name} not usable within {within:g}s "
                        f"({type(exc).__name__}: {exc}); nothing was sent",
                        storage=self.name,
                    ) from None
                self._forget_connection(exc)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _forget_connection(self, exc: BaseException) -> None:
        """A busy database keeps its connection; any other failure gets a fresh one next time."""
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
            return
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    @staticmethod
    def _load(conn: sqlite3.Connection, key: str) -> KeyState:
        row = conn.execute("SELECT state FROM keys WHERE key = ?", (key,)).fetchone()
        return KeyState() if row is None else KeyState.load(_decode(row[0]))

    @staticmethod
    def _store(conn: sqlite3.Connection, key: str, state: KeyState) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO keys (key, state, expires) VALUES (?, ?, ?)",
            (key, _encode(state.dump()), state.expires()),
        )

    @staticmethod
    def _meta(conn: sqlite3.Connection, name: str) -> float:
        row = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return 0.0 if row is None else float(row[0])

    @staticmethod
    def _set_meta(conn: sqlite3.Connection, name: str, value: float) -> None:
        conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    # -- the storage protocol -------------------------------------------------------------------------
    async def acquire(
        self, key: str, specs: tuple[WindowSpec, ...], now: float, lease: float, reserve: float, within: float
    ) -> Decision:
        token = new_token()

        def work(conn: sqlite3.Connection, wall: float) -> Decision:
            banned_until = self._meta(conn, "ban_until")
            if banned_until > wall:
                return Decision(BAN, banned_until - wall)
            state = self._load(conn, key)
            decision = state.take(specs, wall, token, wall + lease, reserve)
            self._store(conn, key, state)
            return decision

        return await self._run(work, within)

    def _finish(
        self, key: str, specs: tuple[WindowSpec, ...], token: int, passed: bool, give_back: bool
    ) -> None:
        with self._lock:
            self._pending.append((key, specs, token, time.time(), passed, give_back))
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush()
            return
        loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Write the releases of this loop tick, unless an acquire already took them along."""
        with self._lock:
            self._flush_scheduled = False
            if not self._pending:
                return
        try:
            self._transaction(lambda conn, wall: None)
        except (sqlite3.Error, OSError) as exc:
            self._forget_connection(exc)
            self._later()

    def _later(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop to retry on: the leases end the slots
        task = loop.create_task(self._run(lambda conn, wall: None, 30.0))
        _BACKGROUND.add(task)
        task.add_done_callback(_done)

    def release(
        self, key: str, specs: tuple[WindowSpec, ...], token: int, now: float, passed: bool = True
    ) -> None:
        self._finish(key, specs, token, passed, give_back=False)

    def give_back(self, key: str, specs: tuple[WindowSpec, ...], token: int) -> None:
        self._finish(key, specs, token, False, give_back=True)

    async def cool_down(
        self,
        key: str,
        specs: tuple[WindowSpec, ...],
        retry_after: float | None,
        now: float,
        learn_for: float,
        within: float,
    ) -> tuple[float, int]:
        def work(conn: sqlite3.Connection, wall: float) -> tuple[float, int]:
            state = self._load(conn, key)
            result = state.cool_down(specs, retry_after, wall, learn_for=learn_for)
            self._store(conn, key, state)
            return result

        return await self._run(work, within)

    async def ban(
        self, retry_after: float | None, base: float, cap: float, now: float, within: float
    ) -> tuple[float, int]:
        def work(conn: sqlite3.Connection, wall: float) -> tuple[float, int]:
            strikes = int(self._meta(conn, "strikes")) + 1
            duration = retry_after if retry_after is not None else min(base * 2 ** (strikes - 1), cap)
            self._set_meta(conn, "strikes", strikes)
            self._set_meta(conn, "ban_until", max(self._meta(conn, "ban_until"), wall + duration))
            return duration, strikes

        return await self._run(work, within)

    async def clear_strikes(self) -> None:
        await self._run(lambda conn, wall: self._set_meta(conn, "strikes", 0), 5.0)

    async def warm_up(self, within: float) -> None:
        with contextlib.suppress(sqlite3.Error, OSError):
            self._connection()

    def subscribe(self, key: str, listener: Listener) -> Callable[[], None]:
        return _nothing


def _nothing() -> None:
    pass


def _done(task: asyncio.Task[None]) -> None:
    _BACKGROUND.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.debug("rate-limit storage: a release could not be written: %s", task.exception())
