"""What every part of the report (a *section*: the cancel table, decode, memory, …) provides.

A section is built from the run's ``Config``, measures in :meth:`Section.run`, prints its block with
:meth:`Section.render`, judges its goals and its correctness; its result (a dataclass) is its entry in
the JSON report, under ``results.<key>``. A new benchmark is one module with one section, listed in
``_cli.sections``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol, TypeVar

from threecommas_async.testing._process import FakeProcess

from ._goals import Goal
from ._run import Target

R = TypeVar("R")

SKIPPED: Final = "skipped (install .[bench])"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A row that could not run here (an optional package is missing), reported with the reason."""

    label: str
    reason: str = SKIPPED
    description: str = ""


@dataclass(slots=True)
class Bench:
    """What a section may use while it runs: the fake server (while it is up) and the client's CPU.

    Every id handed out by :meth:`seed` must be cancelled exactly once with a 200: the run checks the
    server's counters against :attr:`seeded` at the end, and against :attr:`others`, the answers to
    every other request a section made (reported with :meth:`answered`).
    """

    client_cpu: int | None
    server_cpu: int | None = None
    """The CPU the fake runs on, free once it stopped (for a section's own servers)."""
    server: FakeProcess | None = None
    seeded: int = 0
    others: dict[int, int] = field(default_factory=dict)

    @property
    def target(self) -> Target:
        s = self._server()
        return Target(s.base_url, s.api_key, s.api_secret, s.pid)

    @property
    def fake(self) -> FakeProcess:
        """The fake's process, for a section that asks it more than :meth:`seed` and :meth:`statuses`."""
        return self._server()

    def answered(self, by_status: dict[int, int]) -> None:
        """A section's requests other than cancels of seeded ids were answered so (status -> count)."""
        for status, n in by_status.items():
            self.others[status] = self.others.get(status, 0) + n

    def _server(self) -> FakeProcess:
        if self.server is None:
            raise RuntimeError("this section ran after the fake server stopped: set needs_server = True")
        return self.server

    def seed(self, n: int) -> list[int]:
        """``n`` fresh SmartTrade ids (seeding is never measured)."""
        ids = self._server().seed_trades(n)
        self.seeded += len(ids)
        return ids

    def new_keys(self, n: int) -> list[tuple[str, str]]:
        """``n`` fresh key pairs the server accepts (``_fake.new_keys``), each with windows of its own."""
        pairs: list[tuple[str, str]] = self._server().call("new_keys", n)
        return pairs

    def statuses(self, ids: Sequence[int]) -> dict[str, int]:
        """How many of ``ids`` the server holds in each status."""
        return self._server().status_counts(ids)


class Section(Protocol[R]):
    @property
    def key(self) -> str:
        """Its name in the JSON report and in ``phases_s``."""
        ...

    @property
    def needs_server(self) -> bool:
        """Run while the fake server is up (sections that do not need it run after it stopped)."""
        ...

    def run(self, bench: Bench) -> R: ...

    def render(self, result: R) -> str:
        """The block printed after every section has run."""
        ...

    def goals(self, result: R) -> list[Goal]: ...

    def correct(self, result: R) -> bool:
        """False fails the run (exit status 1): a client did not cancel exactly the ids it was given."""
        ...
