"""Where the rate limiter's state lives, chosen by URL, and what every storage offers.

``memory://`` (every client of this process), ``sqlite:///ABSOLUTE/PATH.db`` (every process of this
machine), ``redis://`` / ``rediss://`` / ``unix://`` (every process of every machine using that Redis).
One storage instance serves a URL for the whole process, so every client naming the same URL shares it.

What a storage keeps, per API key *fingerprint* (never the key itself): the sliding windows (the global
one and one per limited endpoint), their 429 blocks, the limit learned from a smaller plan. And, for the
whole storage, the 418 ban: 3Commas bans the IP, and one storage stands for one egress IP.

Times: each storage answers in relative seconds measured on its own clock — the caller's loop clock for
memory (so tests drive it with a virtual clock), the host's wall clock for SQLite, Redis ``TIME`` for
Redis (never a client's clock, which may be skewed).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Final, Protocol
from urllib.parse import urlsplit, urlunsplit

from ._errors import RateLimitStorageError
from ._ledger import Decision, WindowSpec
from ._log import log

__all__ = [
    "DEFAULT_STORAGE",
    "LocalFallback",
    "Storage",
    "fingerprint",
    "forget_storages",
    "new_token",
    "open_storage",
    "redact",
]

DEFAULT_STORAGE: Final = "memory://"

_tokens = itertools.count(1)
_salt = secrets.randbits(30) << 32


def new_token() -> int:
    """A slot id unique across processes sharing a storage (a random per-process salt and a counter)."""
    return _salt | (next(_tokens) & 0xFFFFFFFF)


def fingerprint(api_key: str) -> str:
    """How a storage names a key: 16 hex digits of its SHA-256, so no storage ever holds a key in clear."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


_QUERY_PASSWORD: Final = re.compile(r"((?:^|&)password=)[^&]*", re.IGNORECASE)
_USERINFO: Final = re.compile(r"([:/])[^:/@]*@")


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``, for messages and logs: in ``user:password@`` and
    in a ``password=`` query parameter (redis-py's form for a unix socket), and whatever stands before an
    ``@`` in a string too malformed to parse as a URL (``rediss//:password@host``)."""
    if "://" not in url:
        return _USERINFO.sub(r"\1***@", url)
    parts = urlsplit(url)
    if parts.query:
        query = _QUERY_PASSWORD.sub(r"\1***", parts.query)
        if query != parts.query:
            return redact(urlunsplit(parts._replace(query=query)))
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


Listener = Callable[[], None]


class Storage(Protocol):
    """The operations of a rate-limit storage. ``key`` is always a :func:`fingerprint`.

    ``now`` is the caller's loop time: the memory storage counts on it; storages shared by processes use
    their own clock and ignore it. Every method may raise
    :class:`~threecommas_async.RateLimitStorageError` when the storage cannot be reached in time.
    """

    name: str
    """The URL, without its password."""
    shared: bool
    """True when other processes may change the state (then waiters poll instead of being told)."""

    async def acquire(
        self, key: str, specs: tuple[WindowSpec, ...], now: float, lease: float, reserve: float, within: float
    ) -> Decision:
        """Grant a slot in each window of ``specs`` (first the global one), or say how long to wait.
        ``lease`` bounds how long a granted slot may stay in flight; ``reserve`` is the share of the global
        window kept for risk-reducing requests (which pass 0); ``within`` bounds the time spent reaching
        the storage."""
        ...

    def release(
        self, key: str, specs: tuple[WindowSpec, ...], token: int, now: float, passed: bool = True
    ) -> None:
        """The answer to a granted request arrived (or its attempt ended; ``passed``: the server let it
        through, see :meth:`KeyState.finish`). Never blocks the loop for long and never raises: if the
        storage is out of reach the lease ends the slot instead."""
        ...

    def give_back(self, key: str, specs: tuple[WindowSpec, ...], token: int) -> None:
        """A granted slot was not used (its waiter was cancelled): it never counted."""
        ...

    async def cool_down(
        self,
        key: str,
        specs: tuple[WindowSpec, ...],
        retry_after: float | None,
        now: float,
        learn_for: float,
        within: float,
    ) -> tuple[float, int]:
        """A 429 arrived: block the windows it hit. Returns the pause and the learned global limit
        (0: nothing learned); see :meth:`KeyState.cool_down`."""
        ...

    async def ban(
        self, retry_after: float | None, base: float, cap: float, now: float, within: float
    ) -> tuple[float, int]:
        """A 418 arrived: refuse everything for every key. Without ``retry_after`` the ban lasts ``base``
        doubled for each 418 since the last success, at most ``cap``. Returns (seconds, strikes)."""
        ...

    async def clear_strikes(self) -> None:
        """A request succeeded: the next ban without Retry-After starts short again."""
        ...

    async def warm_up(self, within: float) -> None:
        """Open what the first acquire would (a connection and its scripts, a file), so the first burst
        of a panic does not pay for it. Never raises: an unreachable storage is the acquires' to report."""
        ...

    def subscribe(self, key: str, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` (from any thread) when a slot of ``key`` frees or a block or ban changes;
        returns the unsubscribe function. Shared storages cannot tell, and never call it."""
        ...


_OPEN: dict[str, Storage] = {}
_OPEN_LOCK = threading.Lock()


def open_storage(url: str, *, fallback_processes: int | None = None) -> Storage:
    """The process's storage for ``url`` (made on first use). ``ValueError`` for a URL it cannot serve.
    With ``fallback_processes``, a shared storage is wrapped in a :class:`LocalFallback` (one per URL)."""
    with _OPEN_LOCK:
        storage = _OPEN.get(url)
        if storage is None:
            storage = _OPEN[url] = _make(url)
        if fallback_processes is None or not storage.shared:
            return storage
        name = f"{url} (fallback: 1/{fallback_processes})"
        wrapped = _OPEN.get(name)
        if wrapped is None:
            wrapped = _OPEN[name] = LocalFallback(storage, fallback_processes)
        return wrapped


def forget_storages() -> None:
    """Drop every storage this process opened: clients made later start from empty ``memory://`` state.
    For test suites, where one test's 429 or 418 must not pause the next (``memory://`` is process-wide)."""
    with _OPEN_LOCK:
        _OPEN.clear()


def _after_fork_in_child() -> None:
    """A forked child (gunicorn --preload, Celery prefork, a fork pool) draws slot ids of its own: with
    its parent's salt and counter, two children's slots would merge into one in a shared storage and let
    twice the allowance through. It opens its storages afresh: its parent's connections, threads and
    locks are not its own."""
    global _salt, _tokens, _OPEN_LOCK
    _salt = secrets.randbits(30) << 32
    _tokens = itertools.count(1)
    _OPEN_LOCK = threading.Lock()
    _OPEN.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _make(url: str) -> Storage:
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "memory":
        from ._storage_memory import MemoryStorage

        return MemoryStorage(url)
    if scheme == "sqlite":
        from ._storage_sqlite import SQLiteStorage

        return SQLiteStorage(url)
    if scheme in ("redis", "rediss", "unix"):
        from ._storage_redis import RedisStorage

        return RedisStorage(url)
    raise ValueError(
        f"RateLimit(storage=...): cannot use {redact(url)!r}: expected memory://, "
        "sqlite:///ABSOLUTE/PATH.db, redis://, rediss:// or unix://"
    )


class LocalFallback:
    """``RateLimit(fallback="local")``: while the shared storage is out of reach, limit in this process
    to ``max_rate / expected_processes`` instead of failing; go back to the shared storage once it
    answers again (tried every ``RETRY_AFTER`` seconds)."""

    RETRY_AFTER: Final = 5.0

    def __init__(self, primary: Storage, processes: int) -> None:
        from ._storage_memory import MemoryStorage

        self.name = primary.name
        self.shared = primary.shared
        self._primary = primary
        self._local = MemoryStorage(f"memory://fallback for {primary.name}")
        self._processes = processes
        self._local_tokens: set[int] = set()
        self._down_until = 0.0
        self._said = False

    def _share(self, specs: tuple[WindowSpec, ...]) -> tuple[WindowSpec, ...]:
        n = self._processes
        return tuple(replace(spec, limit=max(1, spec.limit // n)) for spec in specs)

    def _fell_back(self, error: Exception) -> None:
        self._down_until = time.monotonic() + self.RETRY_AFTER
        if not self._said:
            self._said = True
            log.warning(
                "rate-limit storage %s out of reach (%s): limiting this process alone to 1/%d of the "
                "allowance until it answers again",
                self.name,
                type(error).__name__,
                self._processes,
            )

    async def acquire(
        self, key: str, specs: tuple[WindowSpec, ...], now: float, lease: float, reserve: float, within: float
    ) -> Decision:
        if time.monotonic() >= self._down_until:
            try:
                decision = await self._primary.acquire(key, specs, now, lease, reserve, within)
            except RateLimitStorageError as exc:
                self._fell_back(exc)
            else:
                if self._said:
                    self._said = False
                    log.warning(
                        "rate-limit storage %s answers again: the shared allowance is back", self.name
                    )
                return decision
        decision = await self._local.acquire(key, self._share(specs), now, lease, reserve, within)
        if decision.kind == "granted":
            self._local_tokens.add(decision.token)
        return decision

    def release(
        self, key: str, specs: tuple[WindowSpec, ...], token: int, now: float, passed: bool = True
    ) -> None:
        if token in self._local_tokens:
            self._local_tokens.discard(token)
            self._local.release(key, self._share(specs), token, now, passed)
        else:
            self._primary.release(key, specs, token, now, passed)

    def give_back(self, key: str, specs: tuple[WindowSpec, ...], token: int) -> None:
        if token in self._local_tokens:
            self._local_tokens.discard(token)
            self._local.give_back(key, self._share(specs), token)
        else:
            self._primary.give_back(key, specs, token)

    async def cool_down(
        self,
        key: str,
        specs: tuple[WindowSpec, ...],
        retry_after: float | None,
        now: float,
        learn_for: float,
        within: float,
    ) -> tuple[float, int]:
        local = await self._local.cool_down(key, self._share(specs), retry_after, now, learn_for, within)
        try:
            return await self._primary.cool_down(key, specs, retry_after, now, learn_for, within)
        except RateLimitStorageError as exc:
            self._fell_back(exc)
            return local

    async def ban(
        self, retry_after: float | None, base: float, cap: float, now: float, within: float
    ) -> tuple[float, int]:
        local = await self._local.ban(retry_after, base, cap, now, within)
        try:
            return await self._primary.ban(retry_after, base, cap, now, within)
        except RateLimitStorageError as exc:
            self._fell_back(exc)
            return local

    async def warm_up(self, within: float) -> None:
        await self._primary.warm_up(within)

    async def clear_strikes(self) -> None:
        await self._local.clear_strikes()
        with contextlib.suppress(RateLimitStorageError):
            await self._primary.clear_strikes()

    def subscribe(self, key: str, listener: Listener) -> Callable[[], None]:
        return self._local.subscribe(key, listener)
