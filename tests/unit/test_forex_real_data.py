"""Acceptance on real market data (tests/data: OANDA XAU/USD, see its README): every backtest trade
follows the published Raja Banks rules, re-derived here independently of the product's code (own
ATR, EMA, swing and exit logic in plain Python), and the trades do not depend on how the history
is replayed (naive per-candle calls, vectorised, any chunking)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from promostack_cli.forex.candles import frames_for, read_csv
from promostack_cli.forex.engine import GuardConfig, replay
from promostack_cli.forex.strategies.raja_banks import RajaBanksGold

DATA = Path(__file__).resolve().parents[1] / "data"
EXPIRY = timedelta(hours=8)


def load_rows(name):
    with open(DATA / name) as fh:
        return [(datetime.fromisoformat(r["datetime"]).replace(tzinfo=UTC), float(r["open"]), float(r["high"]),
                 float(r["low"]), float(r["close"])) for r in csv.DictReader(fh)]


def cents(x):
    return float(Decimal(repr(round(x, 9))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def wilder_atr(rows, n=14):
    out, trs = [None] * len(rows), []
    for i, (_, _, h, lo, _) in enumerate(rows):
        tr = h - lo if i == 0 else max(h - lo, abs(h - rows[i - 1][4]), abs(lo - rows[i - 1][4]))
        trs.append(tr)
        if i == n - 1:
            out[i] = sum(trs) / n
        elif i >= n:
            out[i] = (out[i - 1] * (n - 1) + tr) / n
    return out


def ema(values, n):
    out = [None] * len(values)
    k = 2 / (n + 1)
    for i in range(n - 1, len(values)):
        out[i] = sum(values[:n]) / n if i == n - 1 else out[i - 1] + k * (values[i] - out[i - 1])
    return out


def in_session(t: datetime) -> bool:
    return t.weekday() < 5 and (7 <= t.hour < 10 or 12 <= t.hour < 16)


def swing_levels(rows, j, support, lookback=20, w=2):
    vals = [r[3] if support else r[2] for r in rows]
    levels = []
    for k in range(max(w, j - lookback + 1), j - w + 1):
        left, right = vals[k - w:k], vals[k + 1:k + w + 1]
        if support and vals[k] < min(left) and vals[k] <= min(right):
            levels.append(vals[k])
        if not support and vals[k] > max(left) and vals[k] >= max(right):
            levels.append(vals[k])
    return levels


@pytest.fixture(scope="module")
def hourly():
    rows = load_rows("xauusd_1h.csv")
    frame = read_csv(DATA / "xauusd_1h.csv")
    frames = frames_for(frame, "1h", ["1h"])
    trades = replay(RajaBanksGold(), frames, "1h", pip_size=0.1, expiry=EXPIRY, guard=GuardConfig())
    return rows, frames, trades


def test_every_hourly_trade_follows_the_rules(hourly):
    rows, _, trades = hourly
    assert len(rows) == 3609 and len(trades) > 100
    index = {r[0]: i for i, r in enumerate(rows)}
    closes = [r[4] for r in rows]
    atr, e50, e200 = wilder_atr(rows), ema(closes, 50), ema(closes, 200)
    counter = 0
    for t in trades:
        tr = t.trade
        i = index[t.bar_ts]
        ts, _, high, low, close = rows[i]
        assert in_session(ts), ts
        assert tr.opened_at == ts + timedelta(hours=1)
        buy = tr.direction == "BUY"
        assert (close > rows[i - 1][2]) if buy else (close < rows[i - 1][3]), ts
        assert tr.entry == cents(close)
        a = atr[i]
        assert abs(t.intent.indicators["atr"] - a) < 1e-4
        bullish = e50[i] > e200[i]
        if bullish != buy:  # counter-trend: needs support (BUY) / resistance (SELL) within 5 USD
            counter += 1
            levels = swing_levels(rows, i, support=buy)
            assert levels and min(abs(close - lv) for lv in levels) <= 5.0, ts
        stop = max(low, close - 1.5 * a) if buy else min(high, close + 1.5 * a)
        assert tr.initial_stop == cents(stop), ts
        s = 1 if buy else -1
        tp2, tp3 = close + s * 2.5 * a, close + s * 3.5 * a
        earlier = [r[2] if buy else r[3] for r in rows[max(0, i - 4):i]]
        wicks = [x for x in earlier if s * (x - close) > 0 and s * (x - tp2) < 0]
        tp1 = (min(wicks) if buy else max(wicks)) if wicks else close + s * 1.5 * a
        assert tr.targets == [cents(tp1), cents(tp2), cents(tp3)], ts
        assert tr.close_percents == [50.0, 30.0, 20.0]
    assert 0 < counter < len(trades)  # both kinds occur in this history


def test_every_hourly_exit_follows_the_monitor_rules(hourly):
    rows, _, trades = hourly
    index = {r[0]: i for i, r in enumerate(rows)}
    for t in trades:
        tr = t.trade
        if tr.status != "closed":
            continue
        s = 1 if tr.direction == "BUY" else -1
        stop, stage, pips, remaining = tr.initial_stop, 0, 0.0, 100.0
        result = None
        for ts, _, high, low, close in rows[index[t.bar_ts] + 1:]:
            at = ts + timedelta(hours=1)
            if s * ((low if s > 0 else high) - stop) <= 0:
                pips += s * (stop - tr.entry) / 0.1 * remaining / 100
                result, exit_at = ["stop", "breakeven", "locked"][stage], at
                break
            new_stop = None
            while stage < 3 and s * ((high if s > 0 else low) - tr.targets[stage]) >= 0:
                pct = tr.close_percents[stage]
                pips += s * (tr.targets[stage] - tr.entry) / 0.1 * pct / 100
                remaining -= pct
                new_stop = tr.entry if stage == 0 else tr.targets[stage - 1]
                stage += 1
            if stage == 3:
                result, exit_at = "tp3", at
                break
            if at >= tr.opened_at + EXPIRY:
                pips += s * (close - tr.entry) / 0.1 * remaining / 100
                result, exit_at = "expired", at
                break
            if new_stop is not None:
                stop = new_stop
        assert (tr.result, tr.stage, tr.closed_at) == (result, stage, exit_at), t.bar_ts
        assert tr.pips == pytest.approx(pips, abs=0.02), t.bar_ts


def key(trades):
    return [(t.bar_ts, t.trade.direction, t.trade.entry, t.trade.initial_stop, tuple(t.trade.targets),
             t.trade.result, t.trade.closed_at, t.trade.pips) for t in trades]


def test_same_trades_whatever_the_replay(hourly):
    _, frames, trades = hourly
    naive = replay(RajaBanksGold(), frames, "1h", pip_size=0.1, expiry=EXPIRY, guard=GuardConfig(), naive=True)
    assert key(naive) == key(trades)
    for chunk in (1, 97, 1000):
        again = replay(RajaBanksGold(), frames, "1h", pip_size=0.1, expiry=EXPIRY, guard=GuardConfig(), chunk=chunk)
        assert key(again) == key(trades)


def test_fifteen_minute_file_replays_the_same_naive_and_fast():
    frame = read_csv(DATA / "xauusd_15min.csv")
    frames = frames_for(frame, "15min", ["15min", "1h"])
    fast = replay(RajaBanksGold(), frames, "15min", pip_size=0.1, expiry=EXPIRY, guard=GuardConfig())
    # the naive replay is quadratic: the first 2,500 candles are enough to compare
    cut = {tf: f[f.index < frame.index[2500]] for tf, f in frames.items()}
    naive = replay(RajaBanksGold(), cut, "15min", pip_size=0.1, expiry=EXPIRY, guard=GuardConfig(), naive=True)
    quick = replay(RajaBanksGold(), cut, "15min", pip_size=0.1, expiry=EXPIRY, guard=GuardConfig())
    assert len(fast) > 50 and naive and key(naive) == key(quick)
