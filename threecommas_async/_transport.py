"""The connection pool a client (and its siblings, see ``with_credentials``) sends through.

One aiohttp session for the transport's life, made lazily on the loop that first sends, and bound to
it: a use from another loop is refused with a clear error instead of aiohttp's "Event loop is closed".

Two aiohttp behaviours are switched off, on a session passed in too:
- aiohttp silently re-sends an idempotent request once when a kept-alive connection drops. That second
  request would bypass the rate limiter, the retry budget and the logs, and a DELETE the server already
  processed would come back refused, so the outcome would read "already final" although this call did
  the cancel. (Private attribute: aiohttp has no public switch; a test fails loudly if it is renamed.)
- aiohttp counts the wait for a free pooled connection as connect time, so a small pool under load times
  requests out before they are sent. Requests wait for a connection here instead, in an admission queue
  as deep as the pool, outside any timeout, and such a wait never costs retry budget.
"""

from __future__ import annotations

import asyncio
from typing import Final

import aiohttp
from aiohttp.connector import Connection
from yarl import URL

from ._errors import ClientClosedError, EventLoopMismatchError
from ._log import log

__all__ = ["RESEND_SWITCH", "Transport"]

RESEND_SWITCH: Final = "_retry_connection"
"""The private ``aiohttp.ClientSession`` attribute that turns its silent resend on and off."""


def no_resend(session: aiohttp.ClientSession) -> None:
    if hasattr(session, RESEND_SWITCH):
        setattr(session, RESEND_SWITCH, False)
    else:  # pragma: no cover - the canary test catches a rename before a release does
        log.warning(
            "this aiohttp has no %s switch: it may re-send a request on a dropped connection", RESEND_SWITCH
        )


def pool_size(session: aiohttp.ClientSession, default: int) -> int:
    """How many requests the session's connector lets out at once (0 means no limit in aiohttp)."""
    connector = session.connector
    if connector is None:
        return default
    limits = [n for n in (connector.limit, connector.limit_per_host) if n]
    return min(limits) if limits else default


class Transport:
    """A session, its admission queue and its owner's lifecycle. Shared by a client and its siblings."""

    __slots__ = ("_admission", "_closed", "_limit", "_loop", "_owns", "_session", "_timeout")

    def __init__(
        self, session: aiohttp.ClientSession | None, *, connection_limit: int, timeout: aiohttp.ClientTimeout
    ) -> None:
        if not isinstance(connection_limit, int) or connection_limit < 1:
            raise ValueError(f"connection_limit must be a positive integer, got {connection_limit!r}")
        self._session = session
        self._owns = session is None
        self._limit = connection_limit if session is None else pool_size(session, connection_limit)
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._admission: asyncio.Semaphore | None = None
        self._closed = False
        if session is not None:
            no_resend(session)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def limit(self) -> int:
        return self._limit

    def bind(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        """The session and admission queue, for the running loop (made on first use)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._loop is not None:
                raise EventLoopMismatchError(
                    "this ThreeCommasClient was first used in another event loop (a second asyncio.run(), "
                    "or another thread); its connections belong to that loop. Create one client per event "
                    "loop, inside it"
                )
            if self._closed:
                raise ClientClosedError("the ThreeCommasClient is closed; create a new one")
            self._loop = loop
            self._admission = asyncio.Semaphore(self._limit)
        session = self._session
        if session is None:
            if self._closed:
                raise ClientClosedError("the ThreeCommasClient is closed; create a new one")
            connector = aiohttp.TCPConnector(limit=self._limit, ttl_dns_cache=300)
            session = self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, raise_for_status=False
            )
            no_resend(session)
        elif session.closed:
            raise ClientClosedError("the ThreeCommasClient's session is closed")
        assert self._admission is not None
        return session, self._admission

    async def warm_up(self, url: str, connections: int) -> int:
        """Open up to ``connections`` pooled connections to ``url``'s origin now, without sending any
        request (so 3Commas counts nothing), for the first burst of a panic to find them ready. Returns
        how many were opened; a failure to connect is not an error here (the requests will say)."""
        session, _ = self.bind()
        connector = session.connector
        n = max(0, min(connections, self._limit))
        if connector is None or n == 0:
            return 0
        loop = asyncio.get_running_loop()
        target = URL(url)
        timeout = aiohttp.ClientTimeout(total=self._timeout.connect or self._timeout.total or 10.0)

        async def one() -> Connection | None:
            request = aiohttp.ClientRequest("GET", target, loop=loop, session=session)
            try:
                return await connector.connect(request, [], timeout)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.debug(
                    "warm_up: could not open a connection to %s: %s", target.origin(), type(exc).__name__
                )
                return None

        # Held together until all are open, or the pool would hand the first one out n times.
        opened = [c for c in await asyncio.gather(*(one() for _ in range(n))) if c is not None]
        for connection in opened:
            connection.release()
        return len(opened)

    async def close(self) -> None:
        """Close the session the transport made (never one passed in). Safe to call twice."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns:
            await session.close()
