"""Benchmarks: ``./dev bench`` (all) or ``./dev bench startup | delivery [--db sqlite] | ingest | drain``."""

import argparse
import sys

from bench import delivery, journeys, startup


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("which", nargs="*", help="startup, delivery, ingest, drain (default: all)")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres", help="delivery: database")
    parser.add_argument("--bots", type=int, default=10, help="delivery: bots")
    parser.add_argument("--per-bot", type=int, default=840, help="delivery: messages per bot")
    parser.add_argument("--chats", type=int, default=2000, help="delivery: distinct chats")
    parser.add_argument("--ticks", type=int, default=3, help="delivery: concurrent tick processes")
    parser.add_argument("--runs", type=int, default=15, help="startup: runs per command")
    args = parser.parse_args(argv)
    args.which = args.which or ["startup", "delivery", "ingest", "drain"]
    unknown = set(args.which) - {"startup", "delivery", "ingest", "drain"}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose startup, delivery, ingest or drain")
    if "startup" in args.which:
        startup.run(args.runs)
    if "delivery" in args.which:
        delivery.run(db=args.db, bots=args.bots, per_bot=args.per_bot, chats=args.chats, ticks=args.ticks)
    if "ingest" in args.which:
        journeys.ingest()
    if "drain" in args.which:
        journeys.drain()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
