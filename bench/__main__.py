"""Benchmarks: ``./dev bench`` (all but cron) or ``./dev bench startup [--db postgres] [--runs 9] | delivery [--db sqlite] |
receiver (alias ingest) [--updates 3000] [--rounds 3] | drain | backtest | candles [--rows N] | check |
cron [--processes 1,2,4,8] [--minutes 3] [--for 65s] [--loop 30s] [--pause 10]``; ``--json`` and ``--save FILE``
for startup, receiver and cron.

``cron`` (delivery as deployed: N ticks started every minute, the receiver busy too) takes about
5 minutes per N, so it runs only when named."""

import argparse
import sys

from bench import cron, delivery, forex, journeys, receiver, startup


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("which", nargs="*", help="startup, delivery, receiver (alias ingest), drain, backtest, candles, check, cron (default: all but cron)")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default=None,
                        help="startup (default sqlite), delivery and cron (default postgres): database")
    parser.add_argument("--bots", type=int, default=10, help="delivery: bots")
    parser.add_argument("--per-bot", type=int, default=840, help="delivery: messages per bot")
    parser.add_argument("--chats", type=int, default=2000, help="delivery: distinct chats")
    parser.add_argument("--ticks", type=int, default=3, help="delivery: concurrent tick processes")
    parser.add_argument("--updates", type=int, default=3000, help="receiver: /start updates posted to each server")
    parser.add_argument("--clients", type=int, default=32, help="receiver: concurrent client connections")
    parser.add_argument("--rounds", type=int, default=3, help="receiver: alternating rounds the updates are split into")
    parser.add_argument("--runs", type=int, default=9, help="startup: interleaved rounds (median)")
    parser.add_argument("--instructions", action="store_true",
                        help="startup: also count each command's instructions once under valgrind (noise-free ratios)")
    parser.add_argument("--bars", type=int, default=100_000, help="backtest: 15min candles")
    parser.add_argument("--rows", type=int, default=1_000_000, help="candles: rows per candle file")
    parser.add_argument("--naive-bars", type=int, default=None, help="backtest: candles for the naive replay (default: all; quadratic)")
    parser.add_argument("--tenants", type=int, default=5, help="check: tenants")
    parser.add_argument("--processes", default="1,2,4,8", help="cron: tick processes started each minute, one run per value")
    parser.add_argument("--minutes", type=float, default=3, help="cron: backlog for this many minutes at the send rate")
    parser.add_argument("--for", dest="for_", default="65s", help="cron: the ticks' --for (README cron line: 65s)")
    parser.add_argument("--loop", default="30s", help="cron: the ticks' --loop (README cron line: 30s)")
    parser.add_argument("--pause", type=int, default=10, help="cron: mid-run 429 retry_after seconds (0: none)")
    parser.add_argument("--starts", type=float, default=3.0, help="cron: /start updates per second to the receiver (0: none)")
    parser.add_argument("--json", action="store_true", help="startup, receiver, cron: JSON on stdout instead of the table")
    parser.add_argument("--save", default=None, help="startup, receiver, cron: also write the JSON results to this file")
    args = parser.parse_args(argv)
    known = ["startup", "delivery", "receiver", "ingest", "drain", "backtest", "candles", "check", "cron"]
    args.which = args.which or [k for k in known if k not in ("cron", "ingest")]
    unknown = set(args.which) - set(known)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {', '.join(known)}")
    if args.save and len({"startup", "receiver", "ingest", "cron"} & set(args.which)) > 1:
        parser.error("--save writes one benchmark's figures: name one of startup, receiver, cron")
    if args.rounds < 1 or args.updates < args.rounds:
        parser.error("--rounds needs at least 1, and --updates at least one update per round")
    if "startup" in args.which:
        startup.run(args.runs, db=args.db or "sqlite", as_json=args.json, save=args.save,
                    instructions=args.instructions)
    if "delivery" in args.which:
        delivery.run(db=args.db or "postgres", bots=args.bots, per_bot=args.per_bot, chats=args.chats, ticks=args.ticks)
    if {"receiver", "ingest"} & set(args.which):
        receiver.run(updates=args.updates, clients=args.clients, rounds=args.rounds, as_json=args.json, save=args.save)
    if "drain" in args.which:
        journeys.drain()
    if "backtest" in args.which:
        forex.backtest(args.bars, args.naive_bars)
    if "candles" in args.which:
        forex.candle_files(args.rows)
    if "check" in args.which:
        forex.check(args.tenants)
    if "cron" in args.which:
        try:
            processes = [int(n) for n in args.processes.split(",") if n.strip()]
        except ValueError:
            parser.error("--processes takes a comma-separated list of counts, e.g. 1,2,4,8")
        if not processes or min(processes) < 1:
            parser.error("--processes needs counts of at least 1")
        cron.run(processes=processes, minutes=args.minutes, db=args.db or "postgres", for_=args.for_, loop=args.loop,
                 pause=args.pause, starts=args.starts, as_json=args.json, save=args.save)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
