"""What the numbers were measured on: interpreter, platform, CPU, load, pinning and package versions."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
from dataclasses import dataclass
from pathlib import Path

PACKAGES = (
    "threecommas-async",
    "aiohttp",
    "msgspec",
    "aiolimiter",
    "py3cw",
    "requests",
    "pydantic",
    "uvloop",
    "redis",
)


@dataclass(frozen=True, slots=True)
class Machine:
    loadavg_before: list[float] | None
    loadavg_after: list[float] | None
    python: str
    implementation: str
    platform: str
    machine: str
    processor: str
    cpu_count: int | None
    allowed_cpus: list[int]  # before pinning
    server_cpu: int | None
    client_cpu: int | None
    packages: dict[str, str | None]


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                return text.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine(
    cpus: list[int], server_cpu: int | None, client_cpu: int | None, load_before: list[float] | None
) -> Machine:
    """Read at the end of a run: ``load_before`` was read at its start."""
    return Machine(
        loadavg_before=load_before,
        loadavg_after=loadavg(),
        python=platform.python_version(),
        implementation=platform.python_implementation(),
        platform=platform.platform(),
        machine=platform.machine(),
        processor=_cpu_model(),
        cpu_count=os.cpu_count(),
        allowed_cpus=cpus,
        server_cpu=server_cpu,
        client_cpu=client_cpu,
        packages={name: _version(name) for name in PACKAGES},
    )
