"""What the child processes of the shared-limit tests run (importable by name, as ``spawn`` needs)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from threecommas_async import (
    RateLimit,
    RateLimitStorageError,
    RetryPolicy,
    ThreeCommasClient,
    ThreeCommasError,
)


@dataclass
class Job:
    base_url: str
    api_key: str
    api_secret: str
    storage: str
    ids: list[int]
    max_rate: int
    period: float
    clock_shift: float = 0.0
    """Seconds added to this process's ``time.time()``: a host whose clock is off."""
    concurrency: int = 8
    retry: bool = True
    storage_timeout: float = 5.0
    cooldown: float = 300.0
    max_wait: float = 600.0


@dataclass
class Outcome:
    done: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    storage_errors: int = 0


def run(job: Job) -> Outcome:
    if job.clock_shift:
        real = time.time
        time.time = lambda: real() + job.clock_shift
    return asyncio.run(_run(job))


async def _run(job: Job) -> Outcome:
    outcome = Outcome()
    limit = RateLimit(
        max_rate=job.max_rate,
        time_period=job.period,
        endpoints={},
        storage=job.storage,
        storage_timeout=job.storage_timeout,
        cooldown=job.cooldown,
        max_wait=job.max_wait,
    )
    retry = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.05) if job.retry else None
    pending = iter(job.ids)
    async with ThreeCommasClient(
        job.api_key, job.api_secret, base_url=job.base_url, rate_limit=limit, retry=retry
    ) as client:

        async def worker() -> None:
            for id in pending:
                try:
                    await client.smart_trades.get(id)
                    outcome.done += 1
                except RateLimitStorageError:
                    outcome.storage_errors += 1
                except ThreeCommasError as exc:
                    name = type(exc).__name__
                    outcome.errors[name] = outcome.errors.get(name, 0) + 1

        await asyncio.gather(*(worker() for _ in range(job.concurrency)))
    return outcome
