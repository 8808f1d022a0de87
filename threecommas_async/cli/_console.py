"""What the command line takes from its process besides the arguments: environment, streams, time scale.

``main()`` uses the process's own; tests and programs that embed the command pass their own, so a whole
run (arguments, credentials, exit status, output) happens in-process without touching global state.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TextIO

__all__ = ["PROG", "Console"]

PROG: Final = "threecommas-async"


@dataclass(frozen=True)
class Console:
    """The environment and the three streams one run of the command line uses."""

    environ: Mapping[str, str]
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO
    time_scale: float = 1.0
    """3Commas' documented durations (the one-minute rate-limit window, cool-downs, bans, ``--max-wait``)
    and the progress-line interval are divided by this. Tests run the fake at ``RateLimits.scaled(k)``
    and the command at ``time_scale=k``, so that a minute of rate limiting passes in ``60/k`` seconds."""

    def __post_init__(self) -> None:
        if not self.time_scale > 0:
            raise ValueError(f"time_scale must be positive, got {self.time_scale!r}")

    @classmethod
    def of_process(cls) -> Console:
        return cls(os.environ, sys.stdin, sys.stdout, sys.stderr)
