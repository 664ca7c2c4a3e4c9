"""Raja Banks gold (promostack_cli/forex/strategies/raja_banks.py), the strategy interface and the
strategy loader. Pure: no database, no network.

Every expected level is computed here independently of the strategy: ATR(14) and the EMAs by plain
loops (see ``wilder_atr`` / ``ema`` and the two tests that pin them to pandas-ta), the rest by hand.

What pandas-ta 0.4.x does (checked by ``test_own_atr_matches_pandas_ta`` / ``test_own_ema_matches_pandas_ta``):

* ``ta.atr(..., talib=False)``: mamode "rma" (Wilder, alpha = 1/14). True range of the first bar is
  high - low (there is no previous close). The first ATR value sits at index 13 (the 14th bar) and is the
  plain mean of the first 14 true ranges *including* that first high - low; then
  atr[t] = (13 * atr[t-1] + tr[t]) / 14. (TA-Lib instead starts at index 14 with the mean of tr[1..14].)
  With fewer than 15 bars pandas-ta returns None, so the strategy has no ATR and gives no signal.
* ``ta.ema(..., talib=False)``: seeded with the simple mean of the first ``length`` closes at index
  length - 1, then ema[t] = a * close[t] + (1 - a) * ema[t-1] with a = 2 / (length + 1). With fewer than
  ``length`` values it returns None.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
import pytest

from promostack_cli.core.errors import ValidationError
from promostack_cli.forex import strategy_loader
from promostack_cli.forex.base_strategy import BUY, SELL, Param, SignalIntent, Strategy, TakeProfit
from promostack_cli.forex.strategies.raja_banks import RajaBanksGold
from promostack_cli.forex.strategy_loader import StrategyError, StrategyInfo

NAN = float("nan")


# ------------------------------------------------------------------ independent indicators

def wilder_atr(high, low, close, n: int = 14) -> list[float]:
    tr = [high[0] - low[0]]
    for k in range(1, len(high)):
        tr.append(max(high[k] - low[k], abs(high[k] - close[k - 1]), abs(low[k] - close[k - 1])))
    out = [NAN] * len(tr)
    if len(tr) < n + 1:
        return out
    out[n - 1] = sum(tr[:n]) / n
    for k in range(n, len(tr)):
        out[k] = (out[k - 1] * (n - 1) + tr[k]) / n
    return out


def ema(values, n: int) -> list[float]:
    out = [NAN] * len(values)
    if len(values) < n:
        return out
    out[n - 1] = sum(values[:n]) / n
    a = 2 / (n + 1)
    for k in range(n, len(values)):
        out[k] = a * values[k] + (1 - a) * out[k - 1]
    return out


def frame_atr(f: pd.DataFrame, n: int = 14) -> float:
    return wilder_atr(f["high"].tolist(), f["low"].tolist(), f["close"].tolist(), n)[-1]


def test_own_atr_matches_pandas_ta():
    import pandas_ta as ta

    rng = np.random.default_rng(5)
    close = 2000 + np.cumsum(rng.normal(0, 2, 60))
    high = close + rng.uniform(0.1, 2.0, 60)
    low = close - rng.uniform(0.1, 2.0, 60)
    theirs = ta.atr(pd.Series(high), pd.Series(low), pd.Series(close), length=14, talib=False)
    mine = wilder_atr(high, low, close, 14)
    assert theirs.iloc[:13].isna().all() and not math.isnan(theirs.iloc[13])
    assert theirs.iloc[13] == pytest.approx(np.mean([high[0] - low[0]] + [
        max(high[k] - low[k], abs(high[k] - close[k - 1]), abs(low[k] - close[k - 1])) for k in range(1, 14)]))
    assert theirs.iloc[13:].tolist() == pytest.approx(mine[13:], rel=1e-12)
    assert ta.atr(pd.Series(high[:14]), pd.Series(low[:14]), pd.Series(close[:14]), length=14, talib=False) is None


def test_own_ema_matches_pandas_ta():
    import pandas_ta as ta

    closes = 2000 + np.cumsum(np.random.default_rng(6).normal(0, 1, 260))
    for n in (50, 200):
        theirs = ta.ema(pd.Series(closes), length=n, talib=False)
        mine = ema(list(closes), n)
        assert theirs.iloc[: n - 1].isna().all()
        assert theirs.iloc[n - 1] == pytest.approx(closes[:n].mean())
        assert theirs.iloc[n - 1:].tolist() == pytest.approx(mine[n - 1:], rel=1e-12)
    assert ta.ema(pd.Series(closes[:199]), length=200, talib=False) is None


# ------------------------------------------------------------------ hand-made markets

Q = pd.Timedelta(minutes=15)
H = pd.Timedelta(hours=1)

# the breakout candles used throughout; the previous candle is a filler (high 2001.0, low 1999.0)
BUY_BAR = (2000.2, 2002.6, 1999.8, 2002.4)   # closes 1.40 above the previous high
SELL_BAR = (1999.8, 2000.2, 1997.4, 1997.6)  # closes 1.40 below the previous low


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def quarters(last_open: pd.Timestamp, tail=(BUY_BAR,), fill: int = 20) -> pd.DataFrame:
    """``fill`` quiet 15min candles (high 2001.0, low 1999.0, closes alternating 2000.3 / 2000.0) and then
    ``tail``; the last candle opens at ``last_open``."""
    rows = []
    for k in range(fill):
        rows.append((2000.0, 2001.0, 1999.0, 2000.3) if k % 2 == 0 else (2000.3, 2001.0, 1999.0, 2000.0))
    rows += list(tail)
    idx = pd.date_range(end=last_open, periods=len(rows), freq="15min", name="ts")
    return pd.DataFrame(rows, index=idx, columns=["open", "high", "low", "close"], dtype=float)


def hours(last_open: pd.Timestamp, trend: str, *, n_trend: int = 240, n_flat: int = 30, lows=None, highs=None,
          tail=()) -> pd.DataFrame:
    """A 1h trend of ``n_trend`` candles (1.00 a candle, ending at 2000) then ``n_flat`` flat candles
    (close 2000, high 2001, low 1999), then ``tail``. ``lows`` / ``highs`` map "candles ago" (0 = the last
    flat candle) to a changed low / high: a swing low / high."""
    step = 1.0 if trend == "up" else -1.0
    rows, prev = [], 2000.0 - step * n_trend
    for k in range(n_trend):
        c = 2000.0 - step * (n_trend - 1 - k)
        rows.append((prev, max(prev, c) + 0.5, min(prev, c) - 0.5, c))
        prev = c
    flat = [[2000.0, 2001.0, 1999.0, 2000.0] for _ in range(n_flat)]
    for ago, v in (lows or {}).items():
        flat[n_flat - 1 - ago][2] = v
    for ago, v in (highs or {}).items():
        flat[n_flat - 1 - ago][1] = v
    rows += [tuple(r) for r in flat] + list(tail)
    idx = pd.date_range(end=last_open + len(tail) * H, periods=len(rows), freq="1h", name="ts")
    return pd.DataFrame(rows, index=idx, columns=["open", "high", "low", "close"], dtype=float)


def market(signal_open: str, trend: str = "up", tail=(BUY_BAR,), future_hour=None, **hour_kw):
    """15min candles ending with the breakout candle opening at ``signal_open`` and the 1h candles
    closed by its close (plus, optionally, the still-forming hour)."""
    t = ts(signal_open)
    sig = quarters(t, tail)
    last_h1 = (t + Q).floor("1h") - H
    h1 = hours(last_h1, trend, **hour_kw, tail=(future_hour,) if future_hour else ())
    return {"15min": sig, "1h": h1}


def run(frames, timeframe: str = "15min", **params) -> SignalIntent | None:
    intent = RajaBanksGold(**params).generate(frames, timeframe)
    return intent.check("raja_banks") if intent else None


def trend_of(h1: pd.DataFrame, upto: int | None = None) -> tuple[float, float]:
    closes = h1["close"].tolist()[: upto]
    return ema(closes, 50)[-1], ema(closes, 200)[-1]


def test_hand_made_trends_are_what_the_tests_assume():
    up = hours(ts("2024-03-05 08:00"), "up")
    down = hours(ts("2024-03-05 08:00"), "down")
    f, s = trend_of(up)
    assert f > s + 50  # clearly bullish
    f, s = trend_of(down)
    assert f < s - 50  # clearly bearish


# ------------------------------------------------------------------ the signal and its levels

def test_buy_breakout_levels():
    frames = market("2024-03-05 08:45")
    intent = run(frames)
    atr = frame_atr(frames["15min"])
    entry = 2002.4
    assert entry - 1.5 * atr < 1999.8  # precondition: the candle's low is the tighter stop here
    assert intent.direction == BUY
    assert intent.entry == entry
    assert intent.stop == 1999.8
    assert [tp.price for tp in intent.take_profits] == pytest.approx(
        [entry + 1.5 * atr, entry + 2.5 * atr, entry + 3.5 * atr], rel=1e-12)
    assert [tp.close_percent for tp in intent.take_profits] == [50.0, 30.0, 20.0]
    f, s = trend_of(frames["1h"])
    assert intent.indicators["atr"] == pytest.approx(atr, abs=1e-5)
    assert intent.indicators["ema50_1h"] == pytest.approx(f, abs=1e-5)
    assert intent.indicators["ema200_1h"] == pytest.approx(s, abs=1e-5)
    assert intent.indicators["trend"] == "bullish" and "sr_level" not in intent.indicators
    assert intent.reason.startswith("15min candle closed at 2002.40, beyond the previous high 2001.00, "
                                    "in the London session; 1h trend bullish")


def test_sell_breakout_levels():
    frames = market("2024-03-05 13:00", trend="down", tail=(SELL_BAR,))
    intent = run(frames)
    atr = frame_atr(frames["15min"])
    entry = 1997.6
    assert entry + 1.5 * atr > 2000.2
    assert intent.direction == SELL
    assert (intent.entry, intent.stop) == (entry, 2000.2)
    assert [tp.price for tp in intent.take_profits] == pytest.approx(
        [entry - 1.5 * atr, entry - 2.5 * atr, entry - 3.5 * atr], rel=1e-12)
    assert [tp.close_percent for tp in intent.take_profits] == [50.0, 30.0, 20.0]
    assert intent.indicators["trend"] == "bearish"
    assert "beyond the previous low 1999.00, in the New York session" in intent.reason


def test_buy_stop_is_the_atr_stop_when_the_candle_low_is_further():
    frames = market("2024-03-05 08:45", tail=((2000.2, 2002.6, 1996.0, 2002.4),))
    intent = run(frames)
    atr = frame_atr(frames["15min"])
    assert 2002.4 - 1.5 * atr > 1996.0  # precondition: the ATR stop is the tighter one
    assert intent.stop == pytest.approx(2002.4 - 1.5 * atr, rel=1e-12)


def test_sell_stop_is_the_atr_stop_when_the_candle_high_is_further():
    frames = market("2024-03-05 08:45", trend="down", tail=((1999.8, 2004.0, 1997.4, 1997.6),))
    intent = run(frames)
    atr = frame_atr(frames["15min"])
    assert 1997.6 + 1.5 * atr < 2004.0
    assert intent.stop == pytest.approx(1997.6 + 1.5 * atr, rel=1e-12)


def test_custom_stop_atr_and_percents():
    frames = market("2024-03-05 08:45", tail=((2000.2, 2002.6, 1996.0, 2002.4),))
    intent = run(frames, stop_atr=1.0, tp1_percent=40, tp2_percent=40, tp3_percent=20, tp2_atr=3, tp3_atr=4)
    atr = frame_atr(frames["15min"])
    assert intent.stop == pytest.approx(2002.4 - atr, rel=1e-12)
    assert [tp.close_percent for tp in intent.take_profits] == [40.0, 40.0, 20.0]
    assert [tp.price for tp in intent.take_profits][1:] == pytest.approx([2002.4 + 3 * atr, 2002.4 + 4 * atr])


# ------------------------------------------------------------------ TP1: the wick fill

WICKS_BUY = (
    (2000.0, 2002.6, 1999.0, 2000.3),  # i-5: nearer than the expected TP1, but outside the four candles
    (2000.3, 2004.0, 1999.0, 2000.0),  # i-4
    (2000.0, 2003.2, 1999.0, 2000.3),  # i-3: the nearest high above the entry -> TP1
    (2000.3, 2012.0, 1999.0, 2000.0),  # i-2: beyond TP2, not a wick fill
    (2000.0, 2001.0, 1999.0, 2000.3),  # i-1: the previous candle
    BUY_BAR,
)


def test_buy_tp1_fills_the_nearest_wick_of_the_last_four_candles():
    frames = market("2024-03-05 09:00", tail=WICKS_BUY)
    intent = run(frames)
    atr = frame_atr(frames["15min"])
    tp2 = 2002.4 + 2.5 * atr
    assert 2004.0 < tp2 < 2012.0  # precondition
    assert [tp.price for tp in intent.take_profits] == pytest.approx([2003.2, tp2, 2002.4 + 3.5 * atr], rel=1e-12)
    assert intent.reason.endswith("; TP1 fills the wick at 2003.20")


def test_buy_tp1_falls_back_to_atr_when_the_only_wick_is_beyond_tp2():
    tail = ((2000.0, 2001.0, 1999.0, 2000.3), (2000.3, 2001.0, 1999.0, 2000.0),
            (2000.0, 2001.0, 1999.0, 2000.3), (2000.3, 2012.0, 1999.0, 2000.0),
            (2000.0, 2001.0, 1999.0, 2000.3), BUY_BAR)
    frames = market("2024-03-05 09:00", tail=tail)
    intent = run(frames)
    atr = frame_atr(frames["15min"])
    assert 2002.4 + 2.5 * atr < 2012.0
    assert intent.take_profits[0].price == pytest.approx(2002.4 + 1.5 * atr, rel=1e-12)
    assert intent.reason.endswith("; TP1 at 1.5 ATR")


def test_sell_tp1_fills_the_nearest_wick_below():
    def m(o, hi, lo, c):  # mirror a BUY candle around 2000
        return (4000 - o, 4000 - lo, 4000 - hi, 4000 - c)

    tail = tuple(m(*bar) for bar in WICKS_BUY)
    frames = market("2024-03-05 09:00", trend="down", tail=tail)
    intent = run(frames)
    atr = frame_atr(frames["15min"])
    assert intent.direction == SELL and intent.entry == pytest.approx(1997.6)
    assert [tp.price for tp in intent.take_profits] == pytest.approx(
        [1996.8, 1997.6 - 2.5 * atr, 1997.6 - 3.5 * atr], rel=1e-12)


def test_tp1_atr_is_configurable():
    frames = market("2024-03-05 08:45")
    intent = run(frames, tp1_atr=2.0)
    assert intent.take_profits[0].price == pytest.approx(2002.4 + 2.0 * frame_atr(frames["15min"]), rel=1e-12)


def test_reason_names_the_configured_tp1_distance():
    intent = run(market("2024-03-05 08:45"), tp1_atr=2.0)
    assert intent.reason.endswith("; TP1 at 2 ATR")


def test_wick_lookback_parameter_widens_the_search():
    frames = market("2024-03-05 09:00", tail=WICKS_BUY)
    intent = run(frames, wick_lookback=5)
    assert intent.take_profits[0].price == pytest.approx(2002.6)


# ------------------------------------------------------------------ direction

@pytest.mark.parametrize("bar, expected", [
    (BUY_BAR, BUY),
    ((2000.2, 2001.5, 1999.8, 2001.0), None),   # closes exactly at the previous high: not beyond it
    ((2000.2, 2001.5, 1998.5, 2000.9), None),   # inside the previous range
    ((2000.2, 2001.5, 1998.5, 1999.0), None),   # exactly at the previous low
    (SELL_BAR, SELL),
])
def test_direction_needs_a_close_beyond_the_previous_candle(bar, expected):
    # the trend is irrelevant here: counter-trend signals find support/resistance right at the entry
    trend = "up" if expected != SELL else "down"
    intent = run(market("2024-03-05 08:45", trend=trend, tail=(bar,)))
    assert (intent.direction if intent else None) == expected


def test_a_wick_beyond_the_previous_high_is_not_a_breakout():
    intent = run(market("2024-03-05 08:45", tail=((2000.2, 2003.0, 1999.8, 2000.8),)))
    assert intent is None


# ------------------------------------------------------------------ sessions

@pytest.mark.parametrize("signal_open, signals", [
    ("2024-03-05 06:45", False),  # Tuesday, ends 07:00 but starts before London
    ("2024-03-05 07:00", True),
    ("2024-03-05 09:45", True),   # ends exactly at 10:00
    ("2024-03-05 10:00", False),
    ("2024-03-05 11:00", False),
    ("2024-03-05 11:45", False),
    ("2024-03-05 12:00", True),
    ("2024-03-05 15:45", True),
    ("2024-03-05 16:00", False),
    ("2024-03-04 07:00", True),   # Monday
    ("2024-03-08 15:45", True),   # Friday
    ("2024-03-09 08:00", False),  # Saturday
    ("2024-03-10 13:00", False),  # Sunday
])
def test_signals_only_in_london_and_new_york_on_weekdays(signal_open, signals):
    intent = run(market(signal_open))
    assert (intent is not None) == signals
    if signals:
        assert intent.direction == BUY
        session = "London" if ts(signal_open).hour < 12 else "New York"
        assert f"in the {session} session" in intent.reason


@pytest.mark.parametrize("signal_open, signals", [
    ("2024-03-05 06:00", False), ("2024-03-05 07:00", True), ("2024-03-05 09:00", True),
    ("2024-03-05 10:00", False), ("2024-03-05 12:00", True), ("2024-03-05 15:00", True),
    ("2024-03-05 16:00", False), ("2024-03-09 09:00", False),
])
def test_hourly_signals_need_the_whole_hour_inside_a_session(signal_open, signals):
    t = ts(signal_open)
    h1 = hours(t - H, "up", tail=((2000.2, 2002.6, 1999.8, 2002.4),))
    intent = run({"1h": h1}, "1h")
    assert (intent is not None) == signals
    if signals:
        atr = frame_atr(h1)
        assert intent.reason.startswith("1h candle closed at 2002.40")
        assert intent.stop == pytest.approx(max(1999.8, 2002.4 - 1.5 * atr))
        assert intent.indicators["atr"] == pytest.approx(atr, abs=1e-5)
        f, s = trend_of(h1)  # on the 1h timeframe the breakout candle itself is the last closed hour
        assert intent.indicators["ema50_1h"] == pytest.approx(f, abs=1e-5)


def test_custom_session_hours():
    frames = market("2024-03-05 10:30")
    assert run(frames) is None
    assert run(frames, london_session="08:00-11:00").direction == BUY


def test_the_whole_candle_must_lie_inside_the_session():
    # sessions that end off the hour: a candle that starts inside but ends after the session is out
    assert run(market("2024-03-05 09:30"), london_session="07:00-09:50") is not None  # 09:30-09:45
    assert run(market("2024-03-05 09:45"), london_session="07:00-09:50") is None      # 09:45-10:00
    t = ts("2024-03-05 09:00")
    h1 = hours(t - H, "up", tail=((2000.2, 2002.6, 1999.8, 2002.4),))
    assert run({"1h": h1}, "1h", london_session="07:00-10:00") is not None
    assert run({"1h": h1}, "1h", london_session="07:00-09:30") is None


def test_active_agrees_with_the_sessions_over_a_week():
    s = RajaBanksGold()
    for tf, per_day in (("15min", 12 + 16), ("1h", 3 + 4)):
        idx = pd.date_range("2024-03-04", "2024-03-11", freq=tf, inclusive="left", tz="UTC")
        f = pd.DataFrame({"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0}, index=idx)
        prepared = s.prepare({tf: f, "1h": f if tf == "1h" else f.iloc[::4]}, tf)
        active = [s.active(tf, t.to_pydatetime()) for t in idx]
        assert active == [s.in_session(prepared, i) for i in range(len(idx))]
        by_day = pd.Series(active, index=idx).groupby(idx.day_of_week).sum().tolist()
        assert by_day == [per_day] * 5 + [0, 0]


# ------------------------------------------------------------------ the 1h trend filter

def test_counter_trend_buy_near_support_passes():
    frames = market("2024-03-05 08:45", trend="down", lows={10: 1997.9})
    intent = run(frames)
    assert intent.direction == BUY
    assert intent.indicators["trend"] == "bearish"
    assert intent.indicators["sr_level"] == 1997.9  # 4.50 under the entry
    assert "counter-trend at 1h support 1997.90" in intent.reason


def test_counter_trend_buy_far_from_support_is_dropped():
    assert run(market("2024-03-05 08:45", trend="down", lows={10: 1996.9})) is None  # 5.50 away
    assert run(market("2024-03-05 08:45", trend="down")) is None  # no swing low at all


def test_sr_distance_is_configurable():
    frames = market("2024-03-05 08:45", trend="down", lows={10: 1996.9})
    assert run(frames, sr_distance=5.5).indicators["sr_level"] == 1996.9
    assert run(frames, sr_distance=5.4) is None


def test_support_must_be_a_swing_of_the_last_20_hours():
    assert run(market("2024-03-05 08:45", trend="down", lows={19: 1997.9})).direction == BUY
    assert run(market("2024-03-05 08:45", trend="down", lows={20: 1997.9})) is None
    # a swing needs two 1h candles on each side: the low of the last closed hour is not one yet
    assert run(market("2024-03-05 08:45", trend="down", lows={1: 1997.9})) is None
    assert run(market("2024-03-05 08:45", trend="down", lows={2: 1997.9})).direction == BUY


def test_nearest_support_is_used():
    intent = run(market("2024-03-05 08:45", trend="down", lows={6: 1990.0, 12: 1997.9, 16: 1985.0}))
    assert intent.indicators["sr_level"] == 1997.9


def test_counter_trend_sell_near_resistance_passes():
    frames = market("2024-03-05 13:00", trend="up", tail=(SELL_BAR,), highs={8: 2002.1})
    intent = run(frames)
    assert intent.direction == SELL and intent.indicators["trend"] == "bullish"
    assert intent.indicators["sr_level"] == 2002.1
    assert "counter-trend at 1h resistance 2002.10" in intent.reason
    assert run(market("2024-03-05 13:00", trend="up", tail=(SELL_BAR,), highs={8: 2003.1})) is None


def test_support_does_not_help_a_counter_trend_sell():
    # bullish trend, SELL breakout: a swing *low* near the entry is not resistance
    assert run(market("2024-03-05 13:00", trend="up", tail=(SELL_BAR,), lows={8: 1996.0})) is None


def test_trend_uses_only_closed_hours():
    # signal candle 08:30-08:45: the 08:00 hour is still forming and must not move the EMAs
    wild = (2000.0, 9000.0, 1999.0, 9000.0)
    frames = market("2024-03-05 08:30", trend="down", tail=(SELL_BAR,), future_hour=wild)
    assert frames["1h"].index[-1] == ts("2024-03-05 08:00")
    intent = run(frames)
    f, s = trend_of(frames["1h"], upto=-1)
    assert intent.indicators["ema50_1h"] == pytest.approx(f, abs=1e-5)
    assert intent.indicators["ema200_1h"] == pytest.approx(s, abs=1e-5)
    assert intent.indicators["trend"] == "bearish"
    assert trend_of(frames["1h"])[0] > trend_of(frames["1h"])[1]  # with the forming hour it would be bullish


def test_needs_200_closed_hours_for_the_trend():
    assert run(market("2024-03-05 08:45", n_trend=169)) is None  # 199 hours
    assert run(market("2024-03-05 08:45", n_trend=170)).direction == BUY  # 200 hours


def test_needs_15_candles_for_atr14():
    t = ts("2024-03-05 08:45")
    h1 = hours(t.floor("1h") - H, "up")
    assert RajaBanksGold().generate({"15min": quarters(t, fill=13), "1h": h1}, "15min") is None  # 14 candles
    assert RajaBanksGold().generate({"15min": quarters(t, fill=14), "1h": h1}, "15min").direction == BUY


def test_signal_at_matches_generate_on_the_truncated_history():
    frames = market("2024-03-05 08:45")
    s = RajaBanksGold()
    prepared = s.prepare(frames, "15min")
    assert s.signal_at(prepared, len(frames["15min"]) - 1) == s.generate(frames, "15min")
    assert s.signal_at(prepared, 0) is None


# ------------------------------------------------------------------ parameters

def test_defaults_match_the_published_rules():
    p = RajaBanksGold().params
    assert (p["london_session"], p["new_york_session"]) == ("07:00-10:00", "12:00-16:00")
    assert (p["ema_fast"], p["ema_slow"], p["atr_length"]) == (50, 200, 14)
    assert (p["stop_atr"], p["tp1_atr"], p["tp2_atr"], p["tp3_atr"]) == (1.5, 1.5, 2.5, 3.5)
    assert (p["tp1_percent"], p["tp2_percent"], p["tp3_percent"]) == (50, 30, 20)
    assert (p["wick_lookback"], p["sr_distance"], p["sr_lookback"]) == (4, 5.0, 20)


def test_parameters_are_coerced_from_strings():
    s = RajaBanksGold(sr_distance="7.5", wick_lookback="6")
    assert s.params["sr_distance"] == 7.5 and s.params["wick_lookback"] == 6


@pytest.mark.parametrize("params, message", [
    ({"tp1_percent": 60}, "tp1_percent + tp2_percent + tp3_percent must be 100."),
    ({"tp3_percent": 10}, "tp1_percent + tp2_percent + tp3_percent must be 100."),
    ({"london_session": "7-10"}, "london_session must look like 07:00-10:00 (UTC), not '7-10'."),
    ({"new_york_session": "16:00-12:00"}, "new_york_session must end after it starts"),
    ({"new_york_session": "23:00-24:30"}, "new_york_session must end after it starts"),
    ({"tp2_atr": 4.0}, "tp1_atr < tp2_atr < tp3_atr must hold."),
    ({"ema_fast": 200}, "ema_fast must be shorter than ema_slow."),
    ({"stop_atr": 0}, "stop_atr must be between 0.1 and 20, not 0.0."),
    ({"atr_length": "fourteen"}, "atr_length must be a"),
    ({"colour": "gold"}, "Strategy 'raja_banks' has no parameter colour."),
])
def test_bad_parameters_raise_validation_error(params, message):
    with pytest.raises(ValidationError) as exc:
        RajaBanksGold(**params)
    assert str(exc.value).startswith(message)


# ------------------------------------------------------------------ SignalIntent.check

TPS = (TakeProfit(2003.0, 50), TakeProfit(2005.0, 30), TakeProfit(2007.0, 20))


@pytest.mark.parametrize("intent, problem", [
    (SignalIntent(BUY, 2000.0, 2001.0, TPS), "stop 2001.0 is not on the losing side of entry 2000.0"),
    (SignalIntent(BUY, 2000.0, 2000.0, TPS), "stop 2000.0 is not on the losing side of entry 2000.0"),
    (SignalIntent(SELL, 2000.0, 1999.0, tuple(TakeProfit(4000 - t.price, t.close_percent) for t in TPS)),
     "stop 1999.0 is not on the losing side of entry 2000.0"),
    (SignalIntent(BUY, 2000.0, 1990.0, (TakeProfit(2005.0, 50), TakeProfit(2003.0, 30), TakeProfit(2007.0, 20))),
     "take-profits are not beyond the entry in increasing distance"),
    (SignalIntent(SELL, 2000.0, 2010.0, TPS), "take-profits are not beyond the entry in increasing distance"),
    (SignalIntent(BUY, 2000.0, 1990.0, (TakeProfit(2003.0, 50), TakeProfit(2005.0, 30))),
     "take-profit close percentages do not add up to 100"),
    (SignalIntent(BUY, 2000.0, 1990.0, ()), "no take-profit"),
    (SignalIntent("LONG", 2000.0, 1990.0, TPS), "direction 'LONG' is neither BUY nor SELL"),
])
def test_signal_intent_check_rejects_bad_levels(intent, problem):
    with pytest.raises(StrategyError) as exc:
        intent.check("mine")
    assert str(exc.value) == f"Strategy 'mine' returned an invalid signal: {problem}"


def test_signal_intent_check_accepts_a_good_one():
    good = SignalIntent(BUY, 2000.0, 1990.0, TPS)
    assert good.check("mine") is good


# ------------------------------------------------------------------ the strategy loader

def write(tmp_path, text: str, name: str = "s.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_available_lists_raja_banks_as_built_in():
    infos = strategy_loader.available()
    assert infos[0] == StrategyInfo("raja_banks", "built-in", "promostack_cli.forex.strategies.raja_banks:RajaBanksGold")
    assert [i.name for i in infos].count("raja_banks") == 1


def test_load_builtin_and_create():
    assert strategy_loader.load_class("raja_banks") is RajaBanksGold
    s = strategy_loader.create("raja_banks", {"sr_distance": "3"})
    assert isinstance(s, RajaBanksGold) and s.params["sr_distance"] == 3.0
    with pytest.raises(ValidationError, match="tp1_percent"):
        strategy_loader.create("raja_banks", {"tp1_percent": "70"})


def test_unknown_strategy_lists_the_available_ones():
    with pytest.raises(ValidationError) as exc:
        strategy_loader.load_class("nope")
    msg = str(exc.value)
    assert msg.startswith("Unknown strategy 'nope'; available: raja_banks")
    for info in strategy_loader.available():
        assert info.name in msg
    assert "path/to/file.py:ClassName" in msg


def test_strategy_from_a_file(tmp_path):
    path = write(tmp_path, """
        from promostack_cli.forex.base_strategy import Strategy, Param

        class Cls(Strategy):
            name = "mine"
            parameters = (Param("threshold", 2.0, "", 0, 10),)

            def generate(self, frames, timeframe):
                return None
    """)
    cls = strategy_loader.load_class(f"{path}:Cls")
    assert cls.name == "mine" and issubclass(cls, Strategy)
    s = strategy_loader.create(f"{path}:Cls", {"threshold": "3.5"})
    assert s.params == {"threshold": 3.5}
    with pytest.raises(ValidationError, match=r"threshold must be between 0 and 10, not 11.0"):
        strategy_loader.create(f"{path}:Cls", {"threshold": "11"})


def test_strategy_file_that_raises_at_import_names_the_file(tmp_path):
    path = write(tmp_path, """
        import math
        RATE = 1 / 0
    """, name="broken_strategy.py")
    with pytest.raises(StrategyError) as exc:
        strategy_loader.load_class(f"{path}:Cls")
    assert str(exc.value) == ("Strategy 'broken_strategy.py' could not be imported: "
                              "ZeroDivisionError: division by zero")


def test_strategy_file_without_the_class(tmp_path):
    path = write(tmp_path, "X = 1\n")
    with pytest.raises(ValidationError) as exc:
        strategy_loader.load_class(f"{path}:Missing")
    assert str(exc.value) == f"{path} has no class Missing."


def test_strategy_file_class_that_is_not_a_strategy(tmp_path):
    path = write(tmp_path, """
        class Cls:
            name = "impostor"
    """)
    with pytest.raises(ValidationError) as exc:
        strategy_loader.load_class(f"{path}:Cls")
    assert str(exc.value) == f"{path}:Cls is not a promostack Strategy subclass."


def test_strategy_file_class_without_a_name(tmp_path):
    path = write(tmp_path, """
        from promostack_cli.forex.base_strategy import Strategy

        class Cls(Strategy):
            pass
    """)
    with pytest.raises(ValidationError, match="does not set a strategy name"):
        strategy_loader.load_class(f"{path}:Cls")


def test_strategy_file_spec_errors(tmp_path):
    with pytest.raises(ValidationError, match=r"does not exist"):
        strategy_loader.load_class(f"{tmp_path / 'absent.py'}:Cls")
    with pytest.raises(ValidationError, match=r"is not path/to/file\.py:ClassName"):
        strategy_loader.load_class(str(tmp_path / "s.py"))


def test_strategy_that_fails_to_start_is_named(tmp_path):
    path = write(tmp_path, """
        from promostack_cli.forex.base_strategy import Strategy

        class Cls(Strategy):
            name = "fragile"

            def __init__(self, **params):
                super().__init__(**params)
                raise RuntimeError("no model file")
    """)
    with pytest.raises(StrategyError) as exc:
        strategy_loader.create(f"{path}:Cls")
    assert str(exc.value) == "Strategy 'fragile' could not start: RuntimeError: no model file"


def test_run_guarded_names_the_strategy():
    s = RajaBanksGold()
    with pytest.raises(StrategyError) as exc:
        strategy_loader.run_guarded(s, s.generate, {"15min": quarters(ts("2024-03-05 08:45"))}, "15min")
    assert str(exc.value) == "Strategy 'raja_banks' raised KeyError: '1h'"


def test_generate_only_strategy_uses_the_default_two_part_form():
    class LastClose(Strategy):
        name = "last_close"

        def generate(self, frames, timeframe):
            c = float(frames[timeframe]["close"].iloc[-1])
            return SignalIntent(BUY, c, c - 1, (TakeProfit(c + 1, 100),))

    f = quarters(ts("2024-03-05 08:45"))
    s = LastClose()
    prepared = s.prepare({"15min": f}, "15min")
    assert s.bars(prepared) == len(f)
    assert s.signal_at(prepared, 0).entry == 2000.3
    assert s.signal_at(prepared, len(f) - 1).entry == 2002.4


def test_strategy_with_neither_form_says_so():
    class Empty(Strategy):
        name = "empty"

    with pytest.raises(NotImplementedError, match="implements neither generate"):
        Empty().generate({"15min": quarters(ts("2024-03-05 08:45"))}, "15min")


def test_param_coerce_bool():
    p = Param("flag", True)
    assert [p.coerce(v) for v in ("yes", "off", "1", "False")] == [True, False, True, False]
    with pytest.raises(ValidationError, match="flag must be true or false, not 'maybe'"):
        p.coerce("maybe")
