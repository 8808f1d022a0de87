"""Benchmarks of threecommas_async: ``python -m benchmarks`` (``--quick`` for a CI-sized run).

One command measures, in one run and against one fake 3Commas server running in a separate process:
the client CPU time and throughput of DELETE cancels for this SDK, hand-written aiohttp clients, py3cw
and a raw ``asyncio.Protocol`` floor (optionally on uvloop too); the event loop's lag while cancels run;
``cancel_many`` against a hand-written worker pool from 100 to 50,000 ids; msgspec versus
``json.loads`` versus pydantic on the seed SmartTrade; the client's rate limiter versus ``aiolimiter``;
1,000 tenants in one process against one client; where ``cancel_many``'s CPU goes (cProfile); the
rate-limit storages (memory, SQLite, Redis) per acquisition and by key count; 4 processes sharing one
allowance; and the peak memory of one ``cancel_many`` over 10,000 ids. See ``README.md``; a new
benchmark is one section module (``_section``).
"""
