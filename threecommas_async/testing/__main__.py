"""``python -m threecommas_async.testing``: run a standalone FakeThreeCommas until Ctrl-C (or SIGTERM).

The first line printed is the base URL; then the fake's own demo credentials (generated per run unless
given) and, with ``--seed-trades``, the range of seeded SmartTrade ids.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable

from ._ratelimit import RateLimits
from ._server import FakeThreeCommas


def _number(kind: type[int] | type[float], low: float, high: float, what: str) -> Callable[[str], float]:
    """An argparse type: a number within [low, high], or a usage error naming the range (exit 2)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not low <= value <= high:  # (NaN fails this too)
            raise argparse.ArgumentTypeError(f"{what}, got {text}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m threecommas_async.testing", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=_number(int, 0, 65535, "a port is 0 to 65535"),
        default=0,
        help="port (default 0: a free one)",
    )
    p.add_argument("--api-key", help="API key to accept (default: generated)")
    p.add_argument("--api-secret", help="its HMAC secret (default: generated)")
    p.add_argument(
        "--seed-trades",
        type=_number(int, 0, 10_000_000, "0 to 10,000,000 trades"),
        default=0,
        metavar="N",
        help="seed N SmartTrades",
    )
    p.add_argument(
        "--cancel-delay",
        type=_number(float, 0, 86_400, "0 to 86,400 seconds"),
        default=0.05,
        help="seconds to go from pending to cancelled",
    )
    limits = p.add_mutually_exclusive_group()
    limits.add_argument("--no-rate-limit", action="store_true", help="turn rate limiting off")
    limits.add_argument(
        "--rate-limit-speedup",
        type=_number(float, 1e-6, 1e6, "a positive factor (at most 1,000,000)"),
        metavar="K",
        help="documented limits with every duration divided by K (120: 200 requests/s)",
    )
    p.add_argument("--retry-after", action="store_true", help="send Retry-After on 429")
    p.add_argument(
        "--record", action="store_true", help="keep the traffic record (only useful to measure its cost)"
    )
    return p


async def _serve(args: argparse.Namespace) -> None:
    if args.no_rate_limit:
        rate_limit: RateLimits | None = None
    elif args.rate_limit_speedup:
        rate_limit = RateLimits.scaled(args.rate_limit_speedup, retry_after=args.retry_after)
    else:
        rate_limit = RateLimits(retry_after=args.retry_after)
    server = FakeThreeCommas(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        api_secret=args.api_secret,
        rate_limit=rate_limit,
        cancel_delay=args.cancel_delay,
        record_requests=args.record,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with server:
        print(server.base_url)
        print(f"api_key: {server.api_key}")
        print(f"api_secret: {server.api_secret}")
        if args.seed_trades > 0:
            ids = server.seed_trades(args.seed_trades)
            print(f"seeded trade ids: {ids[0]}..{ids[-1]}")
        print("serving until Ctrl-C", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
