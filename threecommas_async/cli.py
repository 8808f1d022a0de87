"""``threecommas-async`` / ``python -m threecommas_async``: the operator's command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    report = run_demo(args.trades, fault_rate=args.fault_rate, concurrency=args.concurrency, seed=args.seed)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def _fake_server(args: argparse.Namespace) -> int:
    from .testing.__main__ import main as serve

    return serve(["--port", str(args.port), *args.rest])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="threecommas-async", description="3Commas SmartTrades from a shell.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="create and bulk-cancel SmartTrades on the embedded fake server")
    demo.add_argument("--trades", type=int, default=1000, help="how many SmartTrades (default 1000)")
    demo.add_argument("--fault-rate", type=float, default=0.05, help="share of faulted requests (default 0.05)")
    demo.add_argument("--concurrency", type=int, default=32, help="cancels in flight (default 32)")
    demo.add_argument("--seed", type=int, default=7, help="seed of the injected faults")
    demo.set_defaults(func=_demo)

    fake = sub.add_parser("fake-server", help="run the fake 3Commas server until Ctrl-C")
    fake.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    fake.add_argument("rest", nargs=argparse.REMAINDER, help="more options of python -m threecommas_async.testing")
    fake.set_defaults(func=_fake_server)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
