"""Forex benchmarks.

``backtest``: bars/second of the vectorised replay against the naive one (the strategy called on
the whole history at every candle), on >= 100,000 15min candles made by resampling real OANDA gold
candles (tests/data) into a long series; both must give identical trades.

``check``: wall time of ``forex check`` per tenant with the candle cache warm (Twelve Data stand-in
answers "nothing new" without a request), the way cron runs it: a new process per check.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def synthetic_gold(bars: int, seed: int = 11):
    """A 15min series of ``bars`` weekday candles whose shapes are drawn from real gold candles."""
    import numpy as np
    import pandas as pd

    from promostack_cli.forex.candles import read_csv

    real = read_csv(DATA / "xauusd_15min.csv")
    o = real["open"].to_numpy()
    rel = np.stack([real["high"].to_numpy() / o, real["low"].to_numpy() / o, real["close"].to_numpy() / o], axis=1)
    rng = np.random.default_rng(seed)
    picks = rel[rng.integers(0, len(rel), bars)]
    # keep the level bounded: a slow pull back towards 2,400
    times, rows, price = [], [], 2400.0
    t = datetime(2020, 1, 6, tzinfo=UTC)
    while len(rows) < bars:
        if t.weekday() < 5:
            h, lo, c = picks[len(rows)] * price
            c += (2400.0 - price) * 0.0005
            h, lo = max(h, price, c), min(lo, price, c)
            rows.append((price, h, lo, c))
            times.append(t)
            price = c
        t += timedelta(minutes=15)
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=pd.DatetimeIndex(times, name="ts"))
    return frame.round(3)


def backtest(bars: int = 100_000, naive_bars: int | None = None) -> None:
    from promostack_cli.forex.candles import frames_for
    from promostack_cli.forex.engine import GuardConfig, replay
    from promostack_cli.forex.strategies.raja_banks import RajaBanksGold

    frame = synthetic_gold(bars)
    frames = frames_for(frame, "15min", ["15min", "1h"])
    kwargs = dict(pip_size=0.1, expiry=timedelta(hours=8), guard=GuardConfig())
    started = time.perf_counter()
    fast = replay(RajaBanksGold(), frames, "15min", **kwargs)
    fast_s = time.perf_counter() - started
    n = len(frames["15min"])
    print(f"backtest: {n:,} 15min candles ({frame.index[0]:%Y-%m-%d} .. {frame.index[-1]:%Y-%m-%d}), "
          f"{len(fast)} trades")
    print(f"  vectorised: {fast_s:.2f} s = {n / fast_s:,.0f} candles/s")
    naive_n = naive_bars or n
    cut = {tf: f[f.index < frames["15min"].index[naive_n - 1] + timedelta(minutes=1)] for tf, f in frames.items()}
    started = time.perf_counter()
    naive = replay(RajaBanksGold(), cut, "15min", naive=True, **kwargs)
    naive_s = time.perf_counter() - started
    same = replay(RajaBanksGold(), cut, "15min", **kwargs) if naive_n < n else fast
    key = lambda ts: [(t.bar_ts, t.trade.direction, t.trade.entry, t.trade.initial_stop, tuple(t.trade.targets),
                       t.trade.result, t.trade.pips) for t in ts]
    print(f"  naive (strategy on the whole history at each candle): {naive_s:.1f} s for {naive_n:,} candles = "
          f"{naive_n / naive_s:,.0f} candles/s")
    print(f"  speed-up: {(naive_n / naive_s and (n / fast_s) / (naive_n / naive_s)):.0f}x; identical trades: "
          f"{key(naive) == key(same)} ({len(naive)} trades compared)")


def check(tenants: int = 5, runs: int = 5) -> None:
    import os
    import statistics
    import subprocess
    import sys
    import tempfile

    from tests.fakes.twelvedata import FakeTwelveData
    from tests.forex_fixtures import gold_market

    now = datetime(2025, 3, 4, 8, 0, 30, tzinfo=UTC)
    exe = str(Path(sys.executable).with_name("promostack"))
    with tempfile.TemporaryDirectory() as tmp, FakeTwelveData(credits_per_minute=None, credits_per_day=None) as td:
        td.now = now
        gold_market(td, now)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PROMOSTACK_")},
               "PROMOSTACK_DATA_DIR": tmp, "PROMOSTACK_TWELVEDATA_API_URL": td.base_url,
               "PROMOSTACK_TWELVEDATA_API_KEY": td.api_key, "PROMOSTACK_SECRET_KEY": "b" * 40,
               "PROMOSTACK_TWELVEDATA_CREDITS_PER_MINUTE": "100"}

        def cli(*args):
            proc = subprocess.run([exe, *args], env=env, capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(proc.stderr)
            return proc

        for k in range(tenants):
            cli("tenants", "add", f"t{k}")
            cli("-t", f"t{k}", "connections", "set", "signal_bot", "--no-validate", "--username", f"signals{k}_bot",
                "--token", f"70000001{k:02d}:AAF{'s' * 32}", "--vip-channel", f"-10010000000{k:02d}", "--free-channel", f"@free_channel_{k}")
            cli("-t", f"t{k}", "forex", "check", "--dry-run", "--now", now.isoformat())  # fills the cache
        requests_before = len(td.requests)
        times = []
        for _ in range(runs):
            for k in range(tenants):
                started = time.perf_counter()
                cli("-t", f"t{k}", "forex", "check", "--dry-run", "--now", (now + timedelta(seconds=20)).isoformat())
                times.append(time.perf_counter() - started)
        imp = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import pandas_ta"], check=True, capture_output=True)
            imp.append(time.perf_counter() - started)
        # in one process, as forex tick serves tenant after tenant
        from promostack_cli.runtime import TenantRuntime
        from promostack_cli.db import Database
        from promostack_cli.forex import service
        from promostack_cli.forex.config import load
        from promostack_cli.forex.market import live_market
        from promostack_cli.settings import Settings

        settings = Settings(data_dir=tmp, twelvedata_api_url=td.base_url, twelvedata_api_key=td.api_key,
                            twelvedata_credits_per_minute=100, secret_key="b" * 40)
        db = Database(settings.resolved_database_url)
        inproc = []
        for _ in range(runs):
            for k in range(tenants):
                started = time.perf_counter()
                rt = TenantRuntime(k + 1, settings=settings, db=db)
                with db.session() as session:
                    cfg = load(session, k + 1)
                out = service.check(rt, cfg, live_market(rt, settings, cfg.symbol), "15min", now + timedelta(seconds=30),
                                    dry_run=True)
                assert out.status == "signal", out.detail
                inproc.append(time.perf_counter() - started)
        print(f"check: {tenants} tenants x {runs} runs, cache warm, {len(td.requests) - requests_before} Twelve Data requests")
        print(f"  in one process (forex tick): median {statistics.median(inproc) * 1000:.0f} ms per tenant "
              f"(1,000 15min + 1,000 1h candles read, indicators, decision)")
        print(f"  forex check per tenant (new process): median {statistics.median(times) * 1000:.0f} ms, "
              f"max {max(times) * 1000:.0f} ms; 'import pandas_ta' alone: median {statistics.median(imp) * 1000:.0f} ms")


def candle_files(rows: int = 1_000_000) -> None:
    """Reading ``rows`` candles from CSV in the formats people export (project, MetaTrader tab-separated,
    Twelve Data newest-first), timed side by side with the vectorised backtest of the same candles."""
    import tempfile

    from promostack_cli.forex.candles import frames_for, read_csv
    from promostack_cli.forex.engine import GuardConfig, replay
    from promostack_cli.forex.strategies.raja_banks import RajaBanksGold

    frame = synthetic_gold(rows)
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        project = Path(tmp) / "project.csv"
        frame.rename_axis("datetime").to_csv(project, date_format="%Y-%m-%d %H:%M:%S")
        files["PromoStack CSV"] = project
        mt = Path(tmp) / "mt5.csv"
        out = frame.copy()
        out.insert(0, "<TIME>", out.index.strftime("%H:%M:%S"))
        out.insert(0, "<DATE>", out.index.strftime("%Y.%m.%d"))
        out.columns = ["<DATE>", "<TIME>", "<OPEN>", "<HIGH>", "<LOW>", "<CLOSE>"]
        out.to_csv(mt, sep="\t", index=False)
        files["MetaTrader (tab)"] = mt
        td = Path(tmp) / "twelvedata.csv"
        frame.iloc[::-1].rename_axis("datetime").to_csv(td, sep=";", date_format="%Y-%m-%d %H:%M:%S")
        files["Twelve Data (newest first)"] = td
        reads = {}
        for label, path in files.items():
            started = time.perf_counter()
            got = read_csv(path)
            reads[label] = time.perf_counter() - started
            assert len(got) == len(frame)
    frames = frames_for(frame, "15min", ["15min", "1h"])
    started = time.perf_counter()
    replay(RajaBanksGold(), frames, "15min", pip_size=0.1, expiry=timedelta(hours=8), guard=GuardConfig())
    backtest_s = time.perf_counter() - started
    print(f"candle files: {rows:,} 15min candles; the backtest of them takes {backtest_s:.1f} s")
    for label, seconds in reads.items():
        print(f"  read {label:28s} {seconds:5.1f} s = {seconds / backtest_s:.2f}x the backtest")
