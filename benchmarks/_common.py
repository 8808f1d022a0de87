"""What the benchmark process and its children share: paths, and CPU and memory readings from ``/proc``.

CPU pinning is ``threecommas_async.testing._process.pin_cpu``, shared with the fake's process harness."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
"""The repository root: the working directory of every child process (``benchmarks`` is not installed)."""

SEED_FIXTURE: Final = ROOT / "tests" / "fixtures" / "cancel_smart_trade_200.json"
DEFAULT_JSON: Final = Path(__file__).resolve().parent / "results" / "latest.json"
PENDING: Final = "cancellation_pending"
"""What a successful DELETE answers. The server keeps it (``cancel_delay=None``): a second DELETE is 403."""


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's open-file limit towards ``wanted`` (up to the hard limit); the limit now.
    A thousand clients with a session each hold a thousand sockets, and 1,024 is a common soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def process_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``; 10 ms ticks), else None."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def current_rss_mb() -> float | None:
    """Resident set size now, in MiB (Linux ``/proc/self/statm``), else None."""
    try:
        with open("/proc/self/statm", "rb") as f:
            pages = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def peak_rss_mb() -> tuple[float, str]:
    """Peak resident set size of this process so far, in MiB, and where the number comes from.

    Linux: ``VmHWM`` of ``/proc/self/status``, the high-water mark of this program's own memory.
    Not ``ru_maxrss`` there: the kernel carries the pre-``exec`` high-water mark into it, so a child
    spawned by a 60 MB parent reports at least 60 MB whatever it does. Elsewhere: ``ru_maxrss``
    (KiB on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) / 1024, "VmHWM"
    except (OSError, IndexError, ValueError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024), "ru_maxrss"
