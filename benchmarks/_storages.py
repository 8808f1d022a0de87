"""What the rate limiter costs per request in each storage, and whether the memory storage stays flat as
keys pile up.

Per storage: one coroutine acquires a slot through a ``Gate`` (the client's limiter) and releases it at
once, ``storage_ops`` times, under a limit it never reaches (10^9 per window). A release is not a round
trip of its own: SQLite writes it with the next transaction (the next acquire), Redis sends it with
the next acquire of the same windows (here, every one). The window of each
storage is sized from its warm-up rate so that it holds about ``WINDOW_SLOTS`` slots, as the window of
a key sending at its full 100 per minute does (SQLite reads and writes the key's whole window in each
transaction, so an emptier window would flatter it). Next to them, in the same run: a bare Redis
``PING`` through the same redis-py asyncio client (``RedisStorage.ping``), the floor of any Redis round
trip, and the ratio of each storage's wall time per acquire to it.

Key count: the memory storage with 1, 1,000 and 10,000 keys, one ``Gate`` per key, each acquisition on
a key drawn at random, after every key acquired once; ``KEY_ROUNDS`` rounds, the median stands. Twice:
with 60 s windows (3Commas' period: every key stays live, so the cost is finding its state among
many), and with ``KEY_PERIOD`` windows, shorter than the time between two uses of a key (from 1,000
keys on), so that its state has expired and is dropped in between and made again (tenants that come
and go). Then, those windows expired, as many new keys acquire once: how many keys the storage holds
then says whether idle ones are dropped.
"""

from __future__ import annotations

import asyncio
import gc
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from threecommas_async._gate import Gate
from threecommas_async._ratelimit import RateLimit
from threecommas_async._routes import RISK_REDUCING
from threecommas_async._storage import Storage
from threecommas_async._storage_memory import MemoryStorage
from threecommas_async._storage_redis import RedisStorage
from threecommas_async._storage_sqlite import SQLiteStorage

from ._config import Config
from ._goals import Goal, goal
from ._limiter import ENDPOINT, PATH
from ._redis import redis
from ._section import Bench, Skipped
from ._table import table

NEVER: Final = 1e9
WINDOW_SLOTS: Final = 100
KEY_PERIOD: Final = 0.02
LIVE_PERIOD: Final = 60.0
KEY_ROUNDS: Final = 3
LEASE: Final = 60.0
REDIS_ROUNDS: Final = 3
GOAL_REDIS_VS_PING: Final = 1.5
GOAL_SQLITE_US: Final = 200.0
GOAL_KEY_GROWTH: Final = 1.25
"""'No growth with the key count': the most keys at most this many times the cost of one (noise)."""


@dataclass(frozen=True, slots=True)
class OpCost:
    """``ops`` operations in one coroutine: wall and CPU time each."""

    label: str
    ops: int
    wall_s: float
    cpu_s: float
    period_s: float | None = None  # the window of the limit (None: not a limiter row)
    us_per_op: float = field(init=False)
    cpu_us_per_op: float = field(init=False)
    ratio_vs_ping: float | None = None  # wall per op over PING's (Redis only)

    def __post_init__(self) -> None:
        object.__setattr__(self, "us_per_op", self.wall_s / self.ops * 1e6)
        object.__setattr__(self, "cpu_us_per_op", self.cpu_s / self.ops * 1e6)


@dataclass(frozen=True, slots=True)
class KeyCountCost:
    keys: int
    live: OpCost  # 60 s windows: every key live
    ratio_vs_one_key: float  # live, against 1 key live
    keys_held_live: int  # after the live run: every key (the fewest over the rounds)
    expiring: OpCost  # KEY_PERIOD windows: a key's state expires between its uses
    expiring_ratio_vs_one_key: float  # against 1 key live
    keys_held_after_new: int  # the windows expired, after as many new keys (the most over the rounds)


@dataclass(frozen=True, slots=True)
class StoragesReport:
    ops: int
    window_slots: int
    storages: dict[str, OpCost | Skipped]
    ping: OpCost | Skipped
    key_ops: int
    key_period_s: float
    key_counts: list[KeyCountCost]


async def _timed(label: str, ops: int, body: Callable[[], Awaitable[None]], period: float | None) -> OpCost:
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    await body()
    c1, t1 = time.process_time(), time.perf_counter()
    return OpCost(label, ops, t1 - t0, c1 - c0, period)


def _gate(storage: Storage, key: str, period: float) -> Gate:
    return Gate(RateLimit(max_rate=NEVER, time_period=period, endpoints={}), storage, key, lease=LEASE)


async def _cycle(gate: Gate, n: int) -> None:
    acquire, release = gate.acquire, gate.release
    for _ in range(n):
        release(ENDPOINT, await acquire(ENDPOINT, RISK_REDUCING, "DELETE", PATH))
    for _ in range(3):
        await asyncio.sleep(0)  # the last releases' flush (Redis) goes out within the time


async def storage_cost(label: str, storage: Storage, n: int) -> OpCost:
    """Acquire + release ``n`` times on a window sized to hold about ``WINDOW_SLOTS`` slots."""
    warm_n = max(20, n // 10)
    warm = await _timed(label, warm_n, lambda: _cycle(_gate(storage, "warm-up", 1.0), warm_n), None)
    period = WINDOW_SLOTS * warm.wall_s / warm_n
    gate = _gate(storage, f"measured-{label}", period)
    await _cycle(gate, min(n, WINDOW_SLOTS))  # the window fills to its usual size first
    return await _timed(label, n, lambda: _cycle(gate, n), period)


async def ping_cost(storage: RedisStorage, n: int) -> OpCost:
    ping = storage.ping  # one round trip through the storage's own redis-py client

    async def loop(n: int = n) -> None:
        for _ in range(n):
            await ping()

    await loop(max(20, n // 10))  # connected, warm
    return await _timed("Redis PING (same client)", n, loop, None)


async def _touch(gates: list[Gate]) -> None:
    for gate in gates:
        gate.release(ENDPOINT, await gate.acquire(ENDPOINT, RISK_REDUCING, "DELETE", PATH))


async def _random_keys(storage: MemoryStorage, keys: int, n: int, period: float, name: str) -> OpCost:
    gates = [_gate(storage, f"k{i:015x}", period) for i in range(keys)]
    await _touch(gates)
    picks = [gates[i] for i in random.Random(keys).choices(range(keys), k=n)]

    async def loop() -> None:
        for gate in picks:
            gate.release(ENDPOINT, await gate.acquire(ENDPOINT, RISK_REDUCING, "DELETE", PATH))

    return await _timed(name, n, loop, period)


@dataclass(frozen=True, slots=True)
class _KeyRound:
    live: OpCost
    held_live: int
    expiring: OpCost
    held_after_new: int


async def _key_round(keys: int, n: int) -> _KeyRound:
    live_storage = MemoryStorage(f"memory://bench-keys-{keys}-live")
    live = await _random_keys(live_storage, keys, n, LIVE_PERIOD, f"memory storage, {keys:,} live keys")
    held_live = len(live_storage._keys)
    storage = MemoryStorage(f"memory://bench-keys-{keys}")
    expiring = await _random_keys(storage, keys, n, KEY_PERIOD, f"memory storage, {keys:,} expiring keys")
    await asyncio.sleep(2 * KEY_PERIOD)  # every window expires
    await _touch([_gate(storage, f"n{i:015x}", KEY_PERIOD) for i in range(keys)])
    return _KeyRound(live, held_live, expiring, len(storage._keys))


async def key_counts(counts: tuple[int, ...], n: int, rounds: int) -> list[KeyCountCost]:
    """Every count once per round, in rounds; the median round of each stands (its cost, its counts)."""
    runs: dict[int, list[_KeyRound]] = {keys: [] for keys in counts}
    for _ in range(rounds):
        for keys in counts:
            runs[keys].append(await _key_round(keys, n))
    live = {keys: _median([r.live for r in rs]) for keys, rs in runs.items()}
    expiring = {keys: _median([r.expiring for r in rs]) for keys, rs in runs.items()}
    base = live[counts[0]].us_per_op
    return [
        KeyCountCost(
            keys,
            live[keys],
            live[keys].us_per_op / base,
            min(r.held_live for r in rs),
            expiring[keys],
            expiring[keys].us_per_op / base,
            max(r.held_after_new for r in rs),
        )
        for keys, rs in runs.items()
    ]


async def _measure(
    cfg: Config, redis_url: str | None, redis_reason: str | None, scratch: Path
) -> StoragesReport:
    n = cfg.storage_ops
    storages: dict[str, OpCost | Skipped] = {
        "memory": await storage_cost("memory://", MemoryStorage("memory://bench-storages"), n),
        "sqlite": await storage_cost(
            "sqlite:///…/limits.db", SQLiteStorage(f"sqlite:///{scratch}/limits.db"), n
        ),
    }
    ping: OpCost | Skipped
    if redis_url is None:
        assert redis_reason is not None
        storages["redis"] = Skipped("redis://", redis_reason)
        ping = Skipped("Redis PING (same client)", redis_reason)
    else:
        # PING and the Redis storage alternate, REDIS_ROUNDS times (once with --quick): the median of
        # each stands.
        store = RedisStorage(redis_url)
        pings, costs = [], []
        for _ in range(1 if cfg.quick else REDIS_ROUNDS):
            pings.append(await ping_cost(store, n))
            costs.append(await storage_cost("redis://", store, n))
        ping = _median(pings)
        storages["redis"] = _with_ratio(_median(costs), ping)
        ping = _with_ratio(ping, ping)
    counts = await key_counts(cfg.key_counts, cfg.key_ops, 1 if cfg.quick else KEY_ROUNDS)
    return StoragesReport(n, WINDOW_SLOTS, storages, ping, cfg.key_ops, KEY_PERIOD, counts)


def _median(costs: list[OpCost]) -> OpCost:
    return sorted(costs, key=lambda c: c.us_per_op)[len(costs) // 2]


def _with_ratio(cost: OpCost, ping: OpCost) -> OpCost:
    return OpCost(
        cost.label, cost.ops, cost.wall_s, cost.cpu_s, cost.period_s, cost.us_per_op / ping.us_per_op
    )


@dataclass(frozen=True, slots=True)
class StoragesSection:
    cfg: Config
    key: str = "storages"
    needs_server: bool = False

    def run(self, bench: Bench) -> StoragesReport:
        with redis(self.cfg.redis_url, bench.server_cpu) as server, tempfile.TemporaryDirectory() as scratch:
            return asyncio.run(_measure(self.cfg, server.url, server.reason, Path(scratch)))

    def render(self, result: StoragesReport) -> str:
        rows: list[list[str]] = []
        for cost in (*result.storages.values(), result.ping):
            if isinstance(cost, Skipped):
                rows.append([cost.label, cost.reason])
                continue
            rows.append(
                [
                    cost.label,
                    f"{cost.us_per_op:.1f}",
                    f"{cost.cpu_us_per_op:.1f}",
                    "-" if cost.ratio_vs_ping is None else f"{cost.ratio_vs_ping:.2f}",
                    "-" if cost.period_s is None else f"{cost.period_s * 1000:.2f}",
                ]
            )
        key_rows = [
            [
                f"{k.keys:,}",
                f"{k.live.us_per_op:.2f}",
                f"{k.ratio_vs_one_key:.2f}",
                f"{k.keys_held_live:,}",
                f"{k.expiring.us_per_op:.2f}",
                f"{k.expiring_ratio_vs_one_key:.2f}",
                f"{k.keys_held_after_new:,}",
            ]
            for k in result.key_counts
        ]
        return "\n".join(
            [
                f"Rate-limit storages: acquire + release through a Gate, {result.ops:,} times in one "
                f"coroutine, limit never reached, window sized to hold ~{result.window_slots} slots",
                table(["storage", "µs/acquire", "CPU µs/acquire", "× PING", "window ms"], rows),
                "",
                f"memory:// storage by key count: {result.key_ops:,} acquire + release, one Gate per key, "
                f"a random key each time; live: 60 s windows; expiring: {result.key_period_s * 1000:g} ms "
                "windows, and held once they expired and as many new keys acquired",
                table(
                    [
                        "keys",
                        "live µs/acquire",
                        "× 1 key",
                        "held",
                        "expiring µs/acquire",
                        "× 1 key",
                        "held after new",
                    ],
                    key_rows,
                ),
            ]
        )

    def goals(self, result: StoragesReport) -> list[Goal]:
        out: list[Goal] = []
        redis_cost, ping, sqlite = result.storages["redis"], result.ping, result.storages["sqlite"]
        if isinstance(redis_cost, OpCost) and isinstance(ping, OpCost):
            ratio = redis_cost.ratio_vs_ping or 0.0
            out.append(
                goal(
                    "Redis acquire + release vs a bare PING through the same client",
                    f"<= {GOAL_REDIS_VS_PING:.1f} x PING",
                    f"{redis_cost.us_per_op:.1f} µs vs {ping.us_per_op:.1f} µs = {ratio:.2f} x",
                    ratio <= GOAL_REDIS_VS_PING,
                    ratio=ratio,
                    us_per_acquire=redis_cost.us_per_op,
                    ping_us=ping.us_per_op,
                )
            )
        else:
            reason = redis_cost.reason if isinstance(redis_cost, Skipped) else ""
            out.append(
                goal("Redis acquire + release vs a bare PING", f"<= {GOAL_REDIS_VS_PING} x", reason, None)
            )
        if isinstance(sqlite, OpCost):
            out.append(
                goal(
                    "SQLite acquire + release",
                    f"<= {GOAL_SQLITE_US:.0f} µs",
                    f"{sqlite.us_per_op:.1f} µs",
                    sqlite.us_per_op <= GOAL_SQLITE_US,
                    us_per_acquire=sqlite.us_per_op,
                )
            )
        if len(result.key_counts) > 1:
            most, one = result.key_counts[-1], result.key_counts[0]
            out.append(
                goal(
                    f"memory storage acquire cost with {most.keys:,} live keys vs 1 key",
                    f"<= {GOAL_KEY_GROWTH:.2f} x (no growth)",
                    f"{most.live.us_per_op:.2f} µs vs {one.live.us_per_op:.2f} µs "
                    f"= {most.ratio_vs_one_key:.2f} x",
                    most.ratio_vs_one_key <= GOAL_KEY_GROWTH,
                    ratio=most.ratio_vs_one_key,
                )
            )
            out.append(
                goal(
                    f"memory storage drops idle keys ({most.keys:,} idle, then {most.keys:,} new)",
                    f"holds < {2 * most.keys:,} keys",
                    f"{most.keys_held_after_new:,} held",
                    most.keys_held_after_new < 2 * most.keys,
                    keys_held=most.keys_held_after_new,
                )
            )
        return out

    def correct(self, result: StoragesReport) -> bool:
        return True
