"""The base of every resource (``client.smart_trades``, …): it holds the client and speaks one verb.

A resource knows its routes (``_routes.py``) and its arguments; the client knows signing, limits,
retries and decoding. The one thing between them is :meth:`Sender._send`: send this declared endpoint
on this path. Resources depend on that protocol, never on the client class, so no import runs in a
circle.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from ._routes import Endpoint

__all__ = ["Resource", "Sender"]

T = TypeVar("T")


class Sender(Protocol):
    """What a resource needs of the client."""

    async def _send(
        self,
        endpoint: Endpoint[T],
        path: str,
        *,
        query: str = "",
        body: bytes | None = None,
        priority: int | None = None,
    ) -> T: ...


class Resource:
    __slots__ = ("_client",)

    def __init__(self, client: Sender) -> None:
        self._client = client

    def _request(
        self,
        endpoint: Endpoint[T],
        *ids: int,
        query: str = "",
        body: bytes | None = None,
        priority: int | None = None,
    ) -> Coroutine[Any, Any, T]:
        """Send ``endpoint`` for these ids (checked now: positive integers), at its own priority unless
        told. The client's coroutine itself, not one wrapped around it: a frame less on every resume."""
        return self._client._send(endpoint, endpoint.path(*ids), query=query, body=body, priority=priority)
