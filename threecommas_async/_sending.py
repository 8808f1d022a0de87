"""Whether a call reached the wire: a flag per task that the pipeline raises just before it sends.

A bulk cancel interrupted mid-way must say which ids were sent but not settled, and which never left;
only the pipeline knows the moment a request goes out (after the rate limit and a free connection).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Final

__all__ = ["SentFlag", "mark_sent", "watch_sending"]


class SentFlag:
    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False


_FLAG: Final[ContextVar[SentFlag | None]] = ContextVar("threecommas_async_sent", default=None)


def watch_sending() -> SentFlag:
    """A fresh flag for the calls this task makes from now on."""
    flag = SentFlag()
    _FLAG.set(flag)
    return flag


def mark_sent() -> None:
    flag = _FLAG.get()
    if flag is not None:
        flag.sent = True
