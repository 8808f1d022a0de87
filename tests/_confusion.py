"""The confusion table of bulk-cancel outcomes under the fake's fault mix: what the SDK reported for each id
against what the server says happened. Used by the test (which asserts no wrong certainty) and printable
for the record: ``python -m tests._confusion 9000 0.3``."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

from threecommas_async import RetryPolicy, ThreeCommasClient
from threecommas_async.testing import FakeThreeCommas

MIX = (
    "http_500",
    "http_502",
    "http_503",
    "http_504",
    "html_error",
    "reset_before",
    "reset_after",
    "truncated",
    "malformed_json",
)
CERTAIN_WRONG = {
    ("cancelled by this call", "already_final"),
    ("cancelled by this call", "failed"),
    ("already final", "cancelled"),
    ("already final", "failed"),
    ("not cancelled", "cancelled"),
    ("not cancelled", "already_final"),
    ("not cancelled", "final"),
}
"""(truth, reported) pairs that would be a wrong certainty; "unknown" is never one, nor "final" for a
trade that is cancelled whoever did it."""


async def measure(n: int, ratio: float, seed: int = 1) -> Counter[tuple[str, str]]:
    async with FakeThreeCommas(rate_limit=None, cancel_delay=0, record_requests=False) as server:
        active = server.seed_trades(n - n // 3)
        final = server.seed_trades(n // 3)
        for i, id in enumerate(final):
            server.set_trade_status(id, ("cancelled", "finished", "failed")[i % 3])
        ids = [id for pair in zip(active, final, strict=False) for id in pair] + active[len(final) :]
        server.faults.random(ratio, kinds=MIX, seed=seed)
        retry = RetryPolicy(max_attempts=4, backoff_base=0.001, backoff_max=0.002)
        table: Counter[tuple[str, str]] = Counter()
        async with ThreeCommasClient(
            server.api_key, server.api_secret, base_url=server.base_url, rate_limit=None, retry=retry
        ) as client:
            results = {r.id: r async for r in client.smart_trades.cancel_many(ids, concurrency=16)}
        server.faults.clear()
        server.complete_pending()
        finals = set(final)
        for id in ids:
            now = server.trade_status(id)
            if id in finals:
                truth = "already final"
            elif now == "cancelled":
                truth = "cancelled by this call"
            else:
                truth = "not cancelled"
            table[(truth, results[id].outcome)] += 1
        return table


def render(table: Counter[tuple[str, str]]) -> str:
    outcomes = ["cancelled", "already_final", "final", "failed", "unknown"]
    truths = ["cancelled by this call", "already final", "not cancelled"]
    lines = ["| truth \\ reported | " + " | ".join(outcomes) + " |", "|---" * (len(outcomes) + 1) + "|"]
    for truth in truths:
        lines.append(f"| {truth} | " + " | ".join(str(table[(truth, o)]) for o in outcomes) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    n, ratio = int(sys.argv[1]), float(sys.argv[2])
    print(render(asyncio.run(measure(n, ratio))))
