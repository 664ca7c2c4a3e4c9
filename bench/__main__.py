"""Benchmarks: ``./dev bench`` (all) or ``./dev bench startup | delivery [--db sqlite] | ingest | drain | backtest | check``."""

import argparse
import sys

from bench import delivery, forex, journeys, startup


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("which", nargs="*", help="startup, delivery, ingest, drain (default: all)")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres", help="delivery: database")
    parser.add_argument("--bots", type=int, default=10, help="delivery: bots")
    parser.add_argument("--per-bot", type=int, default=840, help="delivery: messages per bot")
    parser.add_argument("--chats", type=int, default=2000, help="delivery: distinct chats")
    parser.add_argument("--ticks", type=int, default=3, help="delivery: concurrent tick processes")
    parser.add_argument("--runs", type=int, default=15, help="startup: runs per command")
    parser.add_argument("--bars", type=int, default=100_000, help="backtest: 15min candles")
    parser.add_argument("--naive-bars", type=int, default=None, help="backtest: candles for the naive replay (default: all; quadratic)")
    parser.add_argument("--tenants", type=int, default=5, help="check: tenants")
    args = parser.parse_args(argv)
    known = ["startup", "delivery", "ingest", "drain", "backtest", "check"]
    args.which = args.which or known
    unknown = set(args.which) - set(known)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {', '.join(known)}")
    if "startup" in args.which:
        startup.run(args.runs)
    if "delivery" in args.which:
        delivery.run(db=args.db, bots=args.bots, per_bot=args.per_bot, chats=args.chats, ticks=args.ticks)
    if "ingest" in args.which:
        journeys.ingest()
    if "drain" in args.which:
        journeys.drain()
    if "backtest" in args.which:
        forex.backtest(args.bars, args.naive_bars)
    if "check" in args.which:
        forex.check(args.tenants)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
