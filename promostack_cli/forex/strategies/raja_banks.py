"""Raja Banks gold: a session breakout with a 1h trend filter (rules in the README, "Forex signals").

Vectorised: :meth:`RajaBanksGold.prepare` computes every indicator once over the history and maps
each signal bar to the last 1h candle closed by then; :meth:`signal_at` decides one bar from those
arrays. Both are causal, so a backtest and a live check decide a bar the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from promostack_cli.core.errors import ValidationError
from promostack_cli.forex.base_strategy import BUY, SELL, Param, SignalIntent, Strategy, TakeProfit
from promostack_cli.forex.config import parse_session
from promostack_cli.forex.intervals import INTERVAL_SECONDS
from promostack_cli.forex.lifecycle import round_price

if TYPE_CHECKING:
    import numpy as np


def _fmt(price: float) -> str:
    """Prices in reasons, rounded as the posted levels are: cents for gold-sized quotes, five
    decimals for FX rates."""
    decimals = 2 if abs(price) >= 50 else 5
    return f"{round_price(price, decimals):.{decimals}f}"


@dataclass
class Prepared:
    timeframe: str
    ts: np.ndarray        # open time of each signal bar, int64 seconds
    minute: np.ndarray    # minutes after midnight of the bar's open
    weekday: np.ndarray   # 0 = Monday
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    atr: np.ndarray
    h1_index: np.ndarray  # per signal bar: index of the last 1h candle closed by the bar's close (-1: none)
    h1_high: np.ndarray
    h1_low: np.ndarray
    ema_fast: np.ndarray
    ema_slow: np.ndarray

    def __len__(self) -> int:
        return len(self.close)


class RajaBanksGold(Strategy):
    name = "raja_banks"
    description = "Raja Banks gold: London/New York session breakout of the previous candle, 1h EMA50/200 trend filter, ATR stops, wick-fill TP1."
    timeframes = ("15min", "1h")
    signal_timeframes = ("15min", "1h")
    parameters = (
        Param("london_session", "07:00-10:00", "London session (UTC); the breakout candle must lie inside a session"),
        Param("new_york_session", "12:00-16:00", "New York session (UTC)"),
        Param("ema_fast", 50, "1h trend EMA, fast", 2, 1000),
        Param("ema_slow", 200, "1h trend EMA, slow", 3, 2000),
        Param("atr_length", 14, "ATR length on the signal timeframe", 2, 500),
        Param("stop_atr", 1.5, "stop at most this many ATRs from entry", 0.1, 20),
        Param("tp1_atr", 1.5, "TP1 distance in ATRs when no wick fill", 0.1, 50),
        Param("tp2_atr", 2.5, "TP2 distance in ATRs", 0.1, 50),
        Param("tp3_atr", 3.5, "TP3 distance in ATRs", 0.1, 50),
        Param("tp1_percent", 50.0, "% of the position closed at TP1", 0, 100),
        Param("tp2_percent", 30.0, "% closed at TP2", 0, 100),
        Param("tp3_percent", 20.0, "% closed at TP3", 0, 100),
        Param("wick_lookback", 4, "candles before the breakout searched for a wick-fill TP1", 1, 50),
        Param("sr_distance", 5.0, "counter-trend signals need 1h support/resistance within this many price units", 0, 1000),
        Param("sr_lookback", 20, "1h candles searched for swing highs/lows", 3, 500),
        Param("swing_width", 2, "a swing high/low beats this many 1h candles on each side", 1, 10),
    )

    def __init__(self, **params):
        super().__init__(**params)
        p = self.params
        self.sessions = [parse_session("london_session", p["london_session"]),
                         parse_session("new_york_session", p["new_york_session"])]
        if abs(p["tp1_percent"] + p["tp2_percent"] + p["tp3_percent"] - 100) > 1e-9:
            raise ValidationError("tp1_percent + tp2_percent + tp3_percent must be 100.")
        if not p["tp1_atr"] < p["tp2_atr"] < p["tp3_atr"]:
            raise ValidationError("tp1_atr < tp2_atr < tp3_atr must hold.")
        if p["ema_fast"] >= p["ema_slow"]:
            raise ValidationError("ema_fast must be shorter than ema_slow.")

    @property
    def warmup(self) -> int:
        return max(self.params["atr_length"] + 1, self.params["wick_lookback"] + 1)

    def prepare(self, frames: Mapping, timeframe: str) -> Prepared:
        import numpy as np
        import pandas_ta as ta

        from promostack_cli.forex.candles import epoch_seconds

        p = self.params
        sig, h1 = frames[timeframe], frames["1h"]
        atr = ta.atr(sig["high"], sig["low"], sig["close"], length=p["atr_length"], talib=False)
        fast = ta.ema(h1["close"], length=p["ema_fast"], talib=False)
        slow = ta.ema(h1["close"], length=p["ema_slow"], talib=False)
        ts = epoch_seconds(sig.index)
        h1_ts = epoch_seconds(h1.index)
        # the last 1h candle whose close (open + 3600) is at or before the signal bar's close
        bar_close = ts + INTERVAL_SECONDS[timeframe]
        h1_index = np.searchsorted(h1_ts + 3600, bar_close, side="right") - 1
        nan = np.full(len(h1), np.nan)
        return Prepared(
            timeframe=timeframe,
            ts=ts,
            minute=(ts % 86400) // 60,
            weekday=((ts // 86400) + 3) % 7,  # 1970-01-01 was a Thursday
            open=sig["open"].to_numpy(float), high=sig["high"].to_numpy(float),
            low=sig["low"].to_numpy(float), close=sig["close"].to_numpy(float),
            atr=(atr.to_numpy(float) if atr is not None else np.full(len(sig), np.nan)),
            h1_index=h1_index,
            h1_high=h1["high"].to_numpy(float), h1_low=h1["low"].to_numpy(float),
            ema_fast=fast.to_numpy(float) if fast is not None else nan,
            ema_slow=slow.to_numpy(float) if slow is not None else nan,
        )

    def needs(self, timeframe: str) -> set[str]:
        return {timeframe, "1h"}

    def bars(self, prepared: Prepared) -> int:
        return len(prepared)

    def in_session(self, prepared: Prepared, i: int) -> bool:
        return self._in_session(prepared.timeframe, int(prepared.weekday[i]), int(prepared.minute[i]))

    def _in_session(self, timeframe: str, weekday: int, start: int) -> bool:
        """The candle (opening ``start`` minutes after midnight) lies inside a session, on a weekday."""
        if weekday >= 5:
            return False
        end = start + INTERVAL_SECONDS[timeframe] // 60
        return any(s <= start and end <= e for s, e in self.sessions)

    def active(self, timeframe: str, bar_open) -> bool:
        return self._in_session(timeframe, bar_open.weekday(), bar_open.hour * 60 + bar_open.minute)

    def signal_at(self, d: Prepared, i: int) -> SignalIntent | None:
        p = self.params
        if i < 1 or not self.in_session(d, i):
            return None
        close, prev_high, prev_low = d.close[i], d.high[i - 1], d.low[i - 1]
        if close > prev_high:
            direction, sign = BUY, 1.0
        elif close < prev_low:
            direction, sign = SELL, -1.0
        else:
            return None
        atr, j = d.atr[i], d.h1_index[i]
        if not math.isfinite(atr) or atr <= 0 or j < 0:
            return None
        fast, slow = d.ema_fast[j], d.ema_slow[j]
        if not (math.isfinite(fast) and math.isfinite(slow)):
            return None
        trend = "bullish" if fast > slow else "bearish" if fast < slow else "flat"
        with_trend = (trend == "bullish" and direction == BUY) or (trend == "bearish" and direction == SELL)
        entry = close
        level = None
        if not with_trend:
            level = self._nearest_level(d, j, entry, support=direction == BUY)
            if level is None or abs(entry - level) > p["sr_distance"]:
                return None
        extreme = d.low[i] if direction == BUY else d.high[i]
        atr_stop = entry - sign * p["stop_atr"] * atr
        stop = max(extreme, atr_stop) if direction == BUY else min(extreme, atr_stop)
        if sign * (entry - stop) <= 0:
            return None  # the breakout candle closed at its extreme: no room for a stop
        tp2, tp3 = entry + sign * p["tp2_atr"] * atr, entry + sign * p["tp3_atr"] * atr
        tp1, wick = entry + sign * p["tp1_atr"] * atr, None
        lo = max(0, i - p["wick_lookback"])
        earlier = d.high[lo:i] if direction == BUY else d.low[lo:i]
        beyond = earlier[(sign * (earlier - entry) > 0) & (sign * (earlier - tp2) < 0)]
        if beyond.size:
            wick = float(beyond.min() if direction == BUY else beyond.max())
            tp1 = wick
        session = "London" if d.minute[i] < self.sessions[1][0] else "New York"
        reason = (f"{d.timeframe} candle closed at {_fmt(entry)}, beyond the previous {'high' if sign > 0 else 'low'} "
                  f"{_fmt(prev_high if sign > 0 else prev_low)}, in the {session} session; 1h trend {trend} "
                  f"(EMA{p['ema_fast']} {_fmt(fast)} vs EMA{p['ema_slow']} {_fmt(slow)})")
        if level is not None:
            reason += f"; counter-trend at 1h {'support' if direction == BUY else 'resistance'} {_fmt(level)}"
        reason += f"; TP1 fills the wick at {_fmt(wick)}" if wick is not None else f"; TP1 at {p['tp1_atr']:g} ATR"
        return SignalIntent(
            direction=direction, entry=float(entry), stop=float(stop),
            take_profits=(TakeProfit(float(tp1), p["tp1_percent"]), TakeProfit(float(tp2), p["tp2_percent"]),
                          TakeProfit(float(tp3), p["tp3_percent"])),
            indicators={"atr": round(float(atr), 5), f"ema{p['ema_fast']}_1h": round(float(fast), 5),
                        f"ema{p['ema_slow']}_1h": round(float(slow), 5), "trend": trend,
                        **({"sr_level": round(float(level), 5)} if level is not None else {})},
            reason=reason,
        )

    def _nearest_level(self, d: Prepared, j: int, entry: float, *, support: bool) -> float | None:
        """The nearest swing low (support) or swing high (resistance) among the last ``sr_lookback``
        closed 1h candles; a swing beats ``swing_width`` candles on each side."""
        w, n = self.params["swing_width"], self.params["sr_lookback"]
        values = d.h1_low if support else d.h1_high
        levels = []
        for k in range(max(w, j - n + 1), j - w + 1):
            left, right, v = values[k - w:k], values[k + 1:k + w + 1], values[k]
            if (support and v < left.min() and v <= right.min()) or (not support and v > left.max() and v >= right.max()):
                levels.append(v)
        if not levels:
            return None
        return float(min(levels, key=lambda v: abs(v - entry)))
