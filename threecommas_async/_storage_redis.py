"""``redis://``, ``rediss://``, ``unix://``: one allowance for every process of every machine using a Redis.

Each decision is one Lua script, run atomically inside Redis, that reads the time from Redis ``TIME``
(never a client's clock: with clients' clocks 0.5-1.5 s apart, limiters that stamp with them were
measured to let 34-41 requests through a limit of 20), refuses while the ban or a block lives, trims the
window, and grants or returns the exact wait, computed inside Redis. The rules are ``_ledger``'s, in Lua:
a window is a sorted set of slots scored by when they stop counting; ``f<token>`` is a request in flight
(scored by its lease), ``d<token>`` an answered one (scored ``period`` after its answer).

Every key of the storage shares one hash tag, so Redis Cluster keeps them in one slot, as a script
needs. Releases are batched: those of one loop tick go out with the next acquire of the same windows,
or else in one pipeline, in the background; until one lands, the lease keeps counting the slot, which
errs on the safe side.

The asyncio client of ``redis`` (extra ``threecommas-async[redis]``) belongs to the loop that made it, so
there is one per event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar

from ._errors import RateLimitStorageError
from ._ledger import BAN, COOLDOWN, GLOBAL, GRANTED, UNLIMITED, WINDOW, Decision, WindowSpec
from ._log import log
from ._storage import Listener, new_token, redact

__all__ = ["RedisStorage"]

T = TypeVar("T")

TAG: Final = "{threecommas_async}"
_SHAPES: Final = 4096
"""Acquire shapes (key, windows, lease, reserve) kept encoded; 10,000 tenants just re-encode now and then."""
_KINDS: Final = {b"granted": GRANTED, b"window": WINDOW, b"cooldown": COOLDOWN, b"ban": BAN}

_NOW: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# The releases of tokens ARGV[first..last] in ``windows`` (with their ``periods``): each slot ends
# ``period`` from now, or at once when given back; a grant the server let through becomes a pass.
_SETTLE: Final = """
local function settle(windows, periods, passes, give_back, passed, first, last)
  for t = first, last do
    for i = 1, #windows do
      if redis.call('ZREM', windows[i], 'f' .. ARGV[t]) == 1 and not give_back then
        local period = periods[i]
        redis.call('ZADD', windows[i], now + period, 'd' .. ARGV[t])
        if redis.call('PTTL', windows[i]) < period * 1000 then
          redis.call('PEXPIRE', windows[i], math.ceil(period * 1000) + 1000)
        end
      end
    end
    local granted = redis.call('ZSCORE', passes, 'g' .. ARGV[t])
    if granted then
      redis.call('ZREM', passes, 'g' .. ARGV[t])
      if passed and not give_back and tonumber(granted) > now then
        redis.call('ZADD', passes, granted, 'p' .. ARGV[t])
      end
    end
  end
end
"""

# KEYS: ban, learned, then a (window, block) pair per window, then the global window's set of passes.
# ARGV: token, lease, reserve, n, then a (limit, period, is_global) triple per window, UNLIMITED, then the
# releases of the same windows queued since the last round trip: a group count, and per group give_back,
# passed, m, then m tokens (so a caller that acquires again right after a release pays one round trip).
# The global window's grant is noted in the set of passes ('g', scored grant + period) and becomes a pass
# ('p') if the server lets it through.
_ACQUIRE: Final = (
    _NOW
    + _SETTLE
    + """
do
  local n = tonumber(ARGV[4])
  local windows, periods = {}, {}
  for i = 1, n do
    windows[i] = KEYS[1 + 2 * i]
    periods[i] = tonumber(ARGV[3 + 3 * i])
  end
  local at = 6 + 3 * n
  for _ = 1, tonumber(ARGV[at] or '0') do
    local m = tonumber(ARGV[at + 3])
    settle(windows, periods, KEYS[3 + 2 * n], ARGV[at + 1] == '1', ARGV[at + 2] == '1', at + 4, at + 3 + m)
    at = at + 3 + m
  end
end
local ban_until = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if ban_until > now then return {'ban', tostring(ban_until - now), '1', '0'} end
local learned = tonumber(redis.call('HGET', KEYS[2], 'limit') or '0')
local learned_until = tonumber(redis.call('HGET', KEYS[2], 'until') or '0')
local token, lease, reserve, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local unlimited = tonumber(ARGV[5 + 3 * n])
local wait_until, kind, exact = now, 'granted', '1'
for i = 1, n do
  local window, block = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local limit, global = tonumber(ARGV[2 + 3 * i]), ARGV[4 + 3 * i] == '1'
  local at, at_exact = now, '1'
  if limit < unlimited then
    if global then
      if learned > 0 and now < learned_until and learned < limit then limit = learned end
      limit = math.max(1, limit - math.floor(limit * reserve))
    end
    redis.call('ZREMRANGEBYSCORE', window, '-inf', now)
    local excess = redis.call('ZCARD', window) - limit + 1
    if excess > 0 then
      local item = redis.call('ZRANGE', window, excess - 1, excess - 1, 'WITHSCORES')
      at = tonumber(item[2])
      if string.sub(item[1], 1, 1) == 'f' then at_exact = '0' end
    end
  end
  local blocked = tonumber(redis.call('GET', block) or '0')
  local this = 'window'
  if blocked > at then at, at_exact, this = blocked, '1', 'cooldown' end
  if at > wait_until then wait_until, exact, kind = at, at_exact, this end
end
if kind ~= 'granted' then return {kind, tostring(wait_until - now), exact, '0'} end
for i = 1, n do
  local window, limit, period = KEYS[1 + 2 * i], tonumber(ARGV[2 + 3 * i]), tonumber(ARGV[3 + 3 * i])
  if limit < unlimited then
    redis.call('ZADD', window, now + lease + period, 'f' .. token)
    redis.call('PEXPIRE', window, math.ceil((lease + period) * 1000) + 1000)
    if ARGV[4 + 3 * i] == '1' then
      local passes = KEYS[3 + 2 * n]
      redis.call('ZREMRANGEBYSCORE', passes, '-inf', now)
      redis.call('ZADD', passes, now + period, 'g' .. token)
      redis.call('PEXPIRE', passes, math.ceil((lease + period) * 1000) + 1000)
    end
  end
end
return 'granted'
"""
)

# KEYS: the windows, then the global window's set of passes. ARGV: give_back (1/0), passed (1/0), n, the
# n periods, then the tokens.
_RELEASE: Final = (
    _NOW
    + _SETTLE
    + """
local n = tonumber(ARGV[3])
local windows, periods = {}, {}
for i = 1, n do
  windows[i] = KEYS[i]
  periods[i] = tonumber(ARGV[3 + i])
end
settle(windows, periods, KEYS[n + 1], ARGV[1] == '1', ARGV[2] == '1', 4 + n, #ARGV)
return 1
"""
)

# KEYS: learned, then a (window, block) pair per window, then the global window's set of grants and passes.
# ARGV: retry_after ('' when none), learn_for, n, then a (limit, period, cooldown, is_global) quadruple per
# window. The rules of KeyState.cool_down and KeyState._learn.
_COOL_DOWN: Final = (
    _NOW
    + """
local retry_after, learn_for, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local unlimited = tonumber(ARGV[4 + 4 * n])
local learned = tonumber(redis.call('HGET', KEYS[1], 'limit') or '0')
local learned_until = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
local suspect_until = tonumber(redis.call('HGET', KEYS[1], 'suspect') or '0')
local episode_until = tonumber(redis.call('HGET', KEYS[1], 'episode') or '0')
local episode_learned = redis.call('HGET', KEYS[1], 'episode_learned') == '1'
local full, has_global, global_limit = {}, false, 0
local global_full, endpoint_full = false, false
for i = 1, n do
  local window = KEYS[2 * i]
  local limit, period = tonumber(ARGV[4 * i]), tonumber(ARGV[1 + 4 * i])
  local global = ARGV[3 + 4 * i] == '1'
  if global and learned > 0 and now < learned_until and learned < limit then limit = learned end
  redis.call('ZREMRANGEBYSCORE', window, '-inf', now)
  full[i] = limit < unlimited and redis.call('ZCARD', window) >= limit
  if global then
    has_global = true
    global_full = full[i]
    global_limit = tonumber(ARGV[4 * i])
  elseif full[i] then
    endpoint_full = true
  end
end
local wait, hit = 0, {}
if retry_after ~= '' then
  wait = tonumber(retry_after)
  for i = 1, n do hit[#hit + 1] = i end
elseif endpoint_full and not global_full then
  for i = 1, n do
    if full[i] and ARGV[3 + 4 * i] ~= '1' then
      hit[#hit + 1] = i
      wait = math.max(wait, tonumber(ARGV[2 + 4 * i]))
    end
  end
else
  wait = tonumber(ARGV[6])
  for i = 1, n do hit[#hit + 1] = i end
end
local taught = 0
if has_global and not (endpoint_full and not global_full) and learn_for > 0 then
  local passed_set = KEYS[2 + 2 * n]
  redis.call('ZREMRANGEBYSCORE', passed_set, '-inf', now)
  local passed = 0
  for _, member in ipairs(redis.call('ZRANGE', passed_set, 0, -1)) do
    if string.sub(member, 1, 1) == 'p' then passed = passed + 1 end
  end
  local enough = passed >= math.max(2, math.floor(global_limit / 10))
  local teach = false
  if now < episode_until then
    if episode_learned then
      if passed > learned then redis.call('HSET', KEYS[1], 'limit', passed) end
    elseif enough then
      teach = true
    end
  else
    redis.call('HSET', KEYS[1], 'episode', tostring(now + wait))
    teach = enough or now < suspect_until
    redis.call('HSET', KEYS[1], 'suspect', tostring(now + learn_for))
  end
  if teach then
    redis.call('HSET', KEYS[1], 'episode_learned', '1')
    taught = math.max(1, passed)
    if learned > 0 and now < learned_until and learned < taught then taught = learned end
    redis.call('HSET', KEYS[1], 'limit', taught)
    redis.call('HSET', KEYS[1], 'until', tostring(now + learn_for))
  elseif now >= episode_until then
    redis.call('HSET', KEYS[1], 'episode_learned', '0')
  end
  redis.call('PEXPIRE', KEYS[1], math.ceil((learn_for + wait) * 1000) + 1000)
end
for _, i in ipairs(hit) do
  local block = KEYS[1 + 2 * i]
  local until_ = math.max(tonumber(redis.call('GET', block) or '0'), now + wait)
  redis.call('SET', block, tostring(until_), 'PX', math.ceil((until_ - now) * 1000) + 1000)
end
return {tostring(wait), tostring(taught)}
"""
)

# KEYS: ban. ARGV: retry_after ('' when none), base, cap.
_BAN: Final = (
    _NOW
    + """
local strikes = redis.call('HINCRBY', KEYS[1], 'strikes', 1)
local duration
if ARGV[1] ~= '' then duration = tonumber(ARGV[1])
else duration = math.min(tonumber(ARGV[2]) * 2 ^ (strikes - 1), tonumber(ARGV[3])) end
local until_ = math.max(tonumber(redis.call('HGET', KEYS[1], 'until') or '0'), now + duration)
redis.call('HSET', KEYS[1], 'until', tostring(until_))
return {tostring(duration), tostring(strikes)}
"""
)


def _redis_errors() -> tuple[type[BaseException], ...]:
    import redis.exceptions

    return (redis.exceptions.RedisError, OSError, asyncio.TimeoutError)


class _Connection:
    """The client and scripts of one event loop."""

    __slots__ = ("acquire", "ban", "client", "cool_down", "release")

    def __init__(self, url: str, within: float) -> None:
        import redis.asyncio

        self.client = redis.asyncio.Redis.from_url(
            url, socket_timeout=within, socket_connect_timeout=within, health_check_interval=30
        )
        self.acquire = self.client.register_script(_ACQUIRE)
        self.release = self.client.register_script(_RELEASE)
        self.cool_down = self.client.register_script(_COOL_DOWN)
        self.ban = self.client.register_script(_BAN)


class RedisStorage:
    shared = True

    def __init__(self, url: str) -> None:
        try:
            import redis.asyncio  # noqa: F401
        except ImportError:
            raise ValueError(
                "RateLimit(storage='redis://...') needs the redis package: "
                "pip install 'threecommas-async[redis]'"
            ) from None
        self._url = url
        self.name = redact(url)
        self._connections: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Connection] = (
            weakref.WeakKeyDictionary()
        )
        self._pending: dict[tuple[str, tuple[WindowSpec, ...], bool, bool], list[int]] = {}
        self._shapes: dict[
            tuple[str, tuple[WindowSpec, ...], float, float], tuple[list[bytes], list[bytes]]
        ] = {}
        self._flush_loop: asyncio.AbstractEventLoop | None = None
        self._flush_tasks: set[asyncio.Task[None]] = set()
        self._riding: set[asyncio.Future[None]] = set()
        """Acquires in flight that carry releases."""
        self._errors = _redis_errors()

    def __repr__(self) -> str:
        return f"RedisStorage({self.name!r})"

    # -- plumbing -------------------------------------------------------------------------------------
    def _connection(self, within: float) -> _Connection:
        loop = asyncio.get_running_loop()
        conn = self._connections.get(loop)
        if conn is None:
            conn = self._connections[loop] = _Connection(self._url, within)
        return conn

    async def _run(self, within: float, call: Callable[[_Connection], Awaitable[T]]) -> T:
        """One script call, tried again on connection errors (Redis restarting, a failover) for ``within``
        seconds; then the call fails closed."""
        deadline = time.monotonic() + within
        pause = 0.01
        while True:
            try:
                return await call(self._connection(within))
            except self._errors as exc:
                if time.monotonic() + pause >= deadline:
                    raise RateLimitStorageError(
                        f"rate-limit storage {self.name} not reachable within {within:g}s "
                        f"({type(exc).__name__}); nothing was sent",
                        storage=self.name,
                    ) from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    def _shape(
        self, key: str, specs: tuple[WindowSpec, ...], lease: float, reserve: float
    ) -> tuple[list[bytes], list[bytes]]:
        """An acquire's keys and its arguments after the token, encoded once: the same for every acquire
        of one client's endpoint, and redis-py's encoding of each is a cost of every round trip."""
        keys = [f"{TAG}:ban", f"{TAG}:k:{key}", *self._keys(key, specs), f"{TAG}:p:{key}:{GLOBAL}"]
        fixed: list[Any] = [lease, reserve, len(specs)]
        for spec in specs:
            fixed += [spec.limit, spec.period, 1 if spec.name == GLOBAL else 0]
        fixed.append(UNLIMITED)
        return [k.encode() for k in keys], [repr(v).encode() for v in fixed]

    @staticmethod
    def _keys(key: str, specs: Sequence[WindowSpec]) -> list[str]:
        keys: list[str] = []
        for spec in specs:
            keys.append(f"{TAG}:w:{key}:{spec.name}")
            keys.append(f"{TAG}:b:{key}:{spec.name}")
        return keys

    # -- the storage protocol -------------------------------------------------------------------------
    async def acquire(
        self, key: str, specs: tuple[WindowSpec, ...], now: float, lease: float, reserve: float, within: float
    ) -> Decision:
        token = new_token()
        shape = (key, specs, lease, reserve)
        known = self._shapes.get(shape)
        if known is None:
            if len(self._shapes) >= _SHAPES:
                self._shapes.clear()
            known = self._shapes[shape] = self._shape(key, specs, lease, reserve)
        keys, fixed = known
        args: list[Any] = [token, *fixed]
        mine: list[tuple[tuple[str, tuple[WindowSpec, ...], bool, bool], list[int]]] = []
        if self._pending:
            # The releases of these windows queued since the last round trip ride along (a retried call
            # repeats them harmlessly: a slot already ended is not found again).
            batches = [batch for batch in self._pending if batch[0] == key and batch[1] == specs]
            args.append(len(batches))
            for batch in batches:
                tokens = self._pending.pop(batch)
                mine.append((batch, tokens))
                args += [int(batch[2]), int(batch[3]), len(tokens), *tokens]
        riding = None
        if mine:  # a cool-down meanwhile waits for these releases too (see _drain)
            riding = asyncio.get_running_loop().create_future()
            self._riding.add(riding)
        try:
            reply = await self._run(within, lambda c: c.acquire(keys=keys, args=args))
        except BaseException:
            for batch, tokens in mine:  # not known to be written: again (a second settle is harmless)
                self._queue_many(batch, tokens)
            raise
        finally:
            if riding is not None:
                riding.set_result(None)
                self._riding.discard(riding)
        if reply == b"granted":  # one word, the common answer: the cheapest to read
            return Decision(GRANTED, 0.0, token)
        kind, wait, exact, _ = reply
        return Decision(_KINDS[kind], max(0.0, float(wait)), token, exact == b"1")

    def release(
        self, key: str, specs: tuple[WindowSpec, ...], token: int, now: float, passed: bool = True
    ) -> None:
        self._queue(key, specs, token, give_back=False, passed=passed)

    def give_back(self, key: str, specs: tuple[WindowSpec, ...], token: int) -> None:
        self._queue(key, specs, token, give_back=True, passed=False)

    def _queue(
        self, key: str, specs: tuple[WindowSpec, ...], token: int, *, give_back: bool, passed: bool
    ) -> None:
        if all(spec.limit >= UNLIMITED for spec in specs):
            return
        batch = (key, specs, give_back, passed)
        tokens = self._pending.get(batch)
        if tokens is not None:
            tokens.append(token)
        else:
            self._pending[batch] = [token]
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the leases end the slots
        if self._flush_loop is loop:
            return  # a flush of this loop is due: it takes this release too
        # Next tick, what the releases of this one left unsent (the usual next acquire takes them along).
        # Kept per loop: a flush that a finished loop never ran must not hold back the next loop's.
        self._flush_loop = loop
        loop.call_soon(self._start_flush, loop)

    def _queue_many(self, batch: tuple[str, tuple[WindowSpec, ...], bool, bool], tokens: list[int]) -> None:
        key, specs, give_back, passed = batch
        for token in tokens:
            self._queue(key, specs, token, give_back=give_back, passed=passed)

    def _start_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._pending:
            self._flush_loop = None
            return
        task = loop.create_task(self._flush())
        self._flush_tasks.add(task)
        task.add_done_callback(self._flushed)

    async def _flush(self) -> None:
        try:
            await self._send_pending()
        finally:
            # Cleared with no await after the last look at _pending: a release queued from now on
            # starts a flush of its own.
            self._flush_loop = None

    async def _send_pending(self) -> None:
        while self._pending:
            pending, self._pending = self._pending, {}

            async def send(conn: _Connection, pending: dict[Any, list[int]] = pending) -> None:
                async with conn.client.pipeline(transaction=False) as pipe:
                    for (key, specs, give_back, passed), tokens in pending.items():
                        counted = [spec for spec in specs if spec.limit < UNLIMITED]
                        windows = [f"{TAG}:w:{key}:{spec.name}" for spec in counted]
                        periods = [spec.period for spec in counted]
                        args = [int(give_back), int(passed), len(windows), *periods, *tokens]
                        passes = f"{TAG}:p:{key}:{GLOBAL}"
                        await conn.release(keys=[*windows, passes], args=args, client=pipe)
                    await pipe.execute()

            with contextlib.suppress(RateLimitStorageError):
                await self._run(10.0, send)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._flush_tasks.discard(task)
        self._flush_loop = None  # also when the task was cancelled before its first step
        if not task.cancelled() and task.exception() is not None:
            log.debug("rate-limit storage %s: releases not written: %s", self.name, task.exception())

    async def cool_down(
        self,
        key: str,
        specs: tuple[WindowSpec, ...],
        retry_after: float | None,
        now: float,
        learn_for: float,
        within: float,
    ) -> tuple[float, int]:
        keys = [f"{TAG}:k:{key}", *self._keys(key, specs), f"{TAG}:p:{key}:{GLOBAL}"]
        args: list[Any] = ["" if retry_after is None else retry_after, learn_for, len(specs)]
        for spec in specs:
            args += [spec.limit, spec.period, spec.cooldown, 1 if spec.name == GLOBAL else 0]
        args.append(UNLIMITED)
        await self._drain(within)
        wait, taught = await self._run(within, lambda c: c.cool_down(keys=keys, args=args))
        return float(wait), int(float(taught))

    async def _drain(self, within: float) -> None:
        """The releases queued so far reach Redis first, those riding on acquires in flight included: a
        cool-down learns from what passed, and the answers that passed usually arrive in the same tick
        as the first 429 (SQLite gets this order for free, its releases riding the next transaction)."""
        if self._pending:
            with contextlib.suppress(RateLimitStorageError):
                await self._send_pending()
        loop = asyncio.get_running_loop()  # (a storage serves every loop of the process: wait for ours)
        waits = [f for f in (*self._flush_tasks, *self._riding) if f.get_loop() is loop]
        if waits:
            await asyncio.wait(waits, timeout=within)

    async def ban(
        self, retry_after: float | None, base: float, cap: float, now: float, within: float
    ) -> tuple[float, int]:
        args = ["" if retry_after is None else retry_after, base, cap]
        duration, strikes = await self._run(within, lambda c: c.ban(keys=[f"{TAG}:ban"], args=args))
        return float(duration), int(float(strikes))

    async def clear_strikes(self) -> None:
        await self._run(5.0, lambda c: c.client.hset(f"{TAG}:ban", "strikes", 0))

    def subscribe(self, key: str, listener: Listener) -> Callable[[], None]:
        return _nothing

    async def warm_up(self, within: float) -> None:
        async def load(conn: _Connection) -> None:
            for script in (conn.acquire, conn.release, conn.cool_down, conn.ban):
                await conn.client.script_load(script.script)

        with contextlib.suppress(RateLimitStorageError):
            await self._run(within, load)

    async def ping(self, within: float = 5.0) -> float:
        """Seconds for one PING round trip (the benchmarks' reference for the cost of an acquire)."""
        started = time.perf_counter()
        await self._run(within, lambda c: c.client.ping())
        return time.perf_counter() - started


def _nothing() -> None:
    pass
