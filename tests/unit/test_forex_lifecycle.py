"""The signal lifecycle (promostack_cli/forex/lifecycle.py) and what live checks and backtests share
(promostack_cli/forex/engine.py): guardrails, opening a trade, the replay. Pure: no database, no network.

Numbers follow the issue: gold, pip 0.10 USD. A BUY at 2000.00 with the stop at 1990.00 (-100 pips) and
targets 2002.00 / 2005.00 / 2008.00 (+20 / +50 / +80 pips), closing 50 / 30 / 20 %.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from promostack_cli.forex import candles
from promostack_cli.forex.base_strategy import BUY, SELL, SignalIntent, Strategy, TakeProfit
from promostack_cli.forex.engine import GuardConfig, Guardrails, open_trade, replay
from promostack_cli.forex.lifecycle import Trade, price_decimals
from promostack_cli.forex.strategies.raja_banks import RajaBanksGold
from promostack_cli.forex.strategy_loader import StrategyError

T0 = datetime(2024, 3, 5, 8, 0, tzinfo=UTC)  # a Tuesday
M15 = timedelta(minutes=15)


def at(k: int) -> datetime:
    """Close time of the k-th 15-minute candle after the trade opened."""
    return T0 + k * M15


def buy(expiry: timedelta = timedelta(hours=8)) -> Trade:
    return Trade("BUY", 2000.0, 1990.0, [2002.0, 2005.0, 2008.0], [50.0, 30.0, 20.0], 0.1, T0, T0 + expiry)


def sell(expiry: timedelta = timedelta(hours=8)) -> Trade:
    return Trade("SELL", 2000.0, 2010.0, [1998.0, 1995.0, 1992.0], [50.0, 30.0, 20.0], 0.1, T0, T0 + expiry)


def mirror(price: float) -> float:
    """The SELL twin of a BUY price (reflected around the entry 2000)."""
    return round(4000.0 - price, 6)


def candle(trade: Trade, k: int, high: float, low: float, close: float, **kw):
    """Feed one candle given in BUY terms; for a SELL trade the prices are mirrored around the entry."""
    if trade.direction == "SELL":
        high, low, close = mirror(low), mirror(high), mirror(close)
    return trade.apply(at(k), high, low, close, **kw)


def kinds(events) -> list[str]:
    return [e.kind for e in events]


both = pytest.mark.parametrize("make", [buy, sell], ids=["BUY", "SELL"])


# ------------------------------------------------------------------ results and pips

@both
def test_issue_example_tp1_then_stop_at_entry_is_breakeven_plus_10_pips(make):
    t = make()
    ev = candle(t, 1, 2002.5, 1999.0, 2002.2)
    assert kinds(ev) == ["tp1"]
    assert ev[0].price == pytest.approx(t.targets[0])
    assert ev[0].pips == 10.0  # +20 pips on 50 %
    assert ev[0].data["new_stop"] == 2000.0
    assert t.stop == 2000.0 and t.status == "open" and t.stage == 1 and t.remaining == 50.0
    ev = candle(t, 2, 2001.0, 1999.9, 2000.5)
    assert kinds(ev) == ["stop"]
    assert ev[0].price == 2000.0 and ev[0].pips == 0.0
    assert t.status == "closed" and t.result == "breakeven"
    assert t.pips == 10.0
    assert t.closed_at == at(2) and t.close_price == 2000.0
    assert ev[0].data == {"result": "breakeven", "total_pips": 10.0, "stage": 1}


@both
def test_plain_stop_out_loses_the_whole_distance(make):
    t = make()
    assert candle(t, 1, 2001.0, 1995.0, 1996.0, guidance=False) == []
    ev = candle(t, 2, 1996.0, 1989.5, 1990.5)
    assert kinds(ev) == ["stop"]
    assert t.result == "stop" and t.pips == -100.0 and ev[0].pips == -100.0
    assert t.close_price == t.initial_stop and t.stage == 0 and t.remaining == 0


@both
def test_stop_touched_exactly_closes(make):
    t = make()
    candle(t, 1, 2001.0, 1990.0, 1991.0)
    assert t.result == "stop" and t.pips == -100.0


@both
def test_tp1_tp2_then_stop_at_tp1_is_locked_with_weighted_pips(make):
    t = make()
    assert kinds(candle(t, 1, 2002.1, 2000.5, 2001.5)) == ["tp1"]
    ev = candle(t, 2, 2005.0, 2001.0, 2004.0)  # touches TP2 exactly
    assert kinds(ev) == ["tp2"]
    assert ev[0].pips == 15.0  # +50 pips on 30 %
    assert ev[0].data == {"new_stop": pytest.approx(t.targets[0]), "total_pips": 25.0}
    assert t.stop == pytest.approx(t.targets[0])
    ev = candle(t, 3, 2003.0, 2001.9, 2002.5)
    assert kinds(ev) == ["stop"]
    assert t.result == "locked"
    # 50 % at +20, 30 % at +50, the last 20 % at TP1 (+20): 10 + 15 + 4
    assert t.pips == 29.0
    assert ev[0].pips == 4.0
    assert t.close_price == pytest.approx(t.targets[0])


@both
def test_all_three_targets_in_one_candle_close_as_tp3(make):
    t = make()
    ev = candle(t, 1, 2008.5, 1999.5, 2007.0)
    assert kinds(ev) == ["tp1", "tp2", "tp3"]
    assert [e.pips for e in ev] == [10.0, 15.0, 16.0]
    assert [e.price for e in ev] == pytest.approx(t.targets)
    assert t.status == "closed" and t.result == "tp3" and t.stage == 3
    assert t.pips == 41.0  # 20*.5 + 50*.3 + 80*.2
    assert t.close_price == pytest.approx(t.targets[2]) and t.closed_at == at(1)
    assert candle(t, 2, 1980.0, 1970.0, 1975.0) == []  # closed trades ignore later candles
    assert t.pips == 41.0


@both
def test_tp3_after_earlier_targets(make):
    t = make()
    candle(t, 1, 2002.0, 2000.1, 2001.0)
    candle(t, 2, 2005.2, 2002.5, 2004.0)
    ev = candle(t, 3, 2008.0, 2005.5, 2007.0)
    assert kinds(ev) == ["tp3"]
    assert t.result == "tp3" and t.pips == 41.0 and ev[0].pips == 16.0


@both
def test_candle_reaching_stop_and_tp1_assumes_the_stop_first(make):
    t = make()
    ev = candle(t, 1, 2003.0, 1989.0, 2001.0)
    assert kinds(ev) == ["stop"]
    assert t.result == "stop" and t.pips == -100.0 and t.stage == 0


@both
def test_stop_moves_to_entry_only_from_the_next_candle(make):
    t = make()
    # TP1 and a low below entry in the same candle: still open, the move applies afterwards
    ev = candle(t, 1, 2002.5, 1995.0, 2001.0, guidance=False)
    assert kinds(ev) == ["tp1"]
    assert t.status == "open" and t.stop == 2000.0
    assert candle(t, 2, 2001.5, 2000.1, 2001.0, guidance=False) == []
    assert t.status == "open"
    assert kinds(candle(t, 3, 2001.0, 1999.9, 2000.0)) == ["stop"]
    assert t.result == "breakeven" and t.pips == 10.0


@both
def test_stop_after_tp2_moves_to_tp1_from_next_candle(make):
    t = make()
    candle(t, 1, 2002.0, 2000.5, 2001.5)
    # TP2 with a low under TP1 in the same candle: the new stop (TP1) is not checked yet
    assert kinds(candle(t, 2, 2005.5, 2001.0, 2003.0, guidance=False)) == ["tp2"]
    assert t.status == "open"
    assert kinds(candle(t, 3, 2003.0, 2002.0, 2002.5)) == ["stop"]
    assert t.result == "locked" and t.pips == 29.0


@both
def test_expiry_closes_at_that_candles_close(make):
    t = make(expiry=timedelta(hours=1))  # expires at 09:00, the close of candle 4
    for k in (1, 2, 3):
        assert candle(t, k, 2001.0, 1999.0, 2000.5, guidance=False) == []
    ev = candle(t, 4, 2001.5, 1999.5, 2001.0)
    assert kinds(ev) == ["expired"]
    assert t.status == "closed" and t.result == "expired"
    assert t.pips == 10.0 and ev[0].pips == 10.0  # +10 pips on the whole position
    assert t.close_price == pytest.approx(mirror(2001.0) if t.direction == "SELL" else 2001.0)
    assert t.closed_at == at(4)


@both
def test_expiry_after_tp1_weights_the_remaining_half(make):
    t = make(expiry=timedelta(minutes=30))
    assert kinds(candle(t, 1, 2002.0, 2000.5, 2001.0)) == ["tp1"]
    ev = candle(t, 2, 2003.5, 2001.0, 2003.0)
    assert kinds(ev) == ["expired"]
    assert ev[0].pips == 15.0  # +30 pips on the remaining 50 %
    assert t.pips == 25.0 and t.result == "expired" and t.stage == 1


@both
def test_stop_beats_expiry_on_the_expiry_candle(make):
    t = make(expiry=timedelta(minutes=15))
    candle(t, 1, 2001.0, 1989.0, 1990.5)
    assert t.result == "stop" and t.pips == -100.0


@both
def test_expire_closes_at_market(make):
    t = make()
    candle(t, 1, 2001.0, 1999.0, 2000.5, guidance=False)
    price = mirror(2001.5) if t.direction == "SELL" else 2001.5
    ev = t.expire(price, at(7))
    assert ev.kind == "expired" and ev.pips == 15.0
    assert t.result == "expired" and t.pips == 15.0 and t.closed_at == at(7) and t.close_price == price
    assert t.apply(at(8), 2010.0, 1980.0, 2000.0) == []


def test_expire_on_a_closed_trade_changes_nothing():
    t = buy()
    candle(t, 1, 2001.0, 1989.0, 1990.5)
    assert t.result == "stop"
    with pytest.raises(ValueError, match="only an open trade can expire"):
        t.expire(1995.0, at(30))
    assert (t.result, t.closed_at, t.close_price, t.pips) == ("stop", at(1), 1990.0, -100.0)


def test_trade_without_tp3_closes_at_its_last_target():
    t = Trade("BUY", 2000.0, 1990.0, [2002.0, 2005.0], [60.0, 40.0], 0.1, T0, T0 + timedelta(hours=8))
    ev = t.apply(at(1), 2005.5, 2000.5, 2005.0)
    assert kinds(ev) == ["tp1", "tp2"]
    assert t.result == "tp2" and t.status == "closed"
    assert t.pips == 32.0  # 20*.6 + 50*.4


def test_eurusd_pips_use_the_pip_size():
    t = Trade("BUY", 1.08500, 1.08300, [1.08600, 1.08700, 1.08800], [50.0, 30.0, 20.0], 0.0001, T0,
              T0 + timedelta(hours=8))
    t.apply(at(1), 1.08610, 1.08450, 1.08600)
    t.apply(at(2), 1.08560, 1.08490, 1.08500)
    assert t.result == "breakeven" and t.pips == 5.0  # +10 pips on 50 %


# ------------------------------------------------------------------ guidance

@both
def test_guidance_each_once_in_order(make):
    t = make()
    log = []
    # (high, low) in BUY terms; TP1 is 2.00 away (40 % = 2000.80, 70 % = 2001.40), the stop 10.00 away (60 % = 1994.00)
    steps = [
        (2000.79, 1999.50, []),                          # 39.5 %: nothing yet
        (2000.81, 1999.50, ["guidance_progress"]),       # 40.5 %
        (2001.00, 1999.00, []),                          # progress again: not repeated
        (2001.41, 1999.00, ["guidance_secure"]),         # 70.5 %
        (2000.90, 1999.00, []),                          # back under both levels, then above them again
        (2001.90, 1999.00, []),
        (2000.50, 1994.10, []),                          # 59 % of the way to the stop
        (2000.50, 1994.00, ["guidance_warning"]),        # 60 %
        (2000.50, 1993.00, []),                          # deeper: not repeated
        (2003.60, 1995.00, ["tp1"]),                     # TP1, already past halfway to TP2: not on the hit's candle
        (2003.49, 2000.50, []),                          # halfway TP1 -> TP2 is 2003.50
        (2003.51, 2000.50, ["guidance_halfway_tp2"]),
        (2004.00, 2001.00, []),
    ]
    for k, (high, low, expected) in enumerate(steps, start=1):
        ev = candle(t, k, high, low, (high + low) / 2)
        assert kinds(ev) == expected, f"candle {k}"
        log += ev
    assert t.guidance == ["guidance_progress", "guidance_secure", "guidance_warning", "guidance_halfway_tp2"]
    by_kind = {e.kind: e for e in log}
    assert by_kind["guidance_progress"].pips == 8.1
    assert by_kind["guidance_progress"].data["progress"] == pytest.approx(0.405)
    assert by_kind["guidance_secure"].pips == 14.1
    assert by_kind["guidance_warning"].pips == -60.0
    assert by_kind["guidance_warning"].data["progress"] == pytest.approx(0.6)
    assert by_kind["guidance_halfway_tp2"].pips == 35.1
    assert t.status == "open"


@both
def test_progress_and_secure_together_when_one_candle_jumps_past_70_percent(make):
    t = make()
    assert kinds(candle(t, 1, 2001.6, 1999.5, 2001.5)) == ["guidance_progress", "guidance_secure"]


@both
def test_no_guidance_when_disabled(make):
    t = make()
    seen = []
    for k, (high, low) in enumerate([(2001.5, 1994.0), (2002.2, 1995.0), (2003.8, 2001.0)], start=1):
        seen += candle(t, k, high, low, (high + low) / 2, guidance=False)
    assert kinds(seen) == ["tp1"]
    assert t.guidance == []


def test_progress_guidance_when_price_touches_exactly_40_percent():
    t = buy()
    assert kinds(t.apply(at(1), 2000.80, 1999.5, 2000.5)) == ["guidance_progress"]


def test_levels_that_collapse_when_rounded_give_no_trade():
    # the stop 0.003 under the entry rounds onto it at gold's precision: no tradeable signal
    intent = SignalIntent(BUY, 2000.004, 2000.001, (TakeProfit(2001.0, 50), TakeProfit(2002.0, 30),
                                                    TakeProfit(2003.0, 20))).check("x")
    assert open_trade(intent, pip_size=0.1, opened_at=T0, expiry=timedelta(hours=8)) is None
    wick = SignalIntent(BUY, 2000.001, 1999.0, (TakeProfit(2000.004, 50), TakeProfit(2002.0, 30),
                                                TakeProfit(2003.0, 20))).check("x")
    assert open_trade(wick, pip_size=0.1, opened_at=T0, expiry=timedelta(hours=8)) is None


# ------------------------------------------------------------------ quote precision and opening a trade

@pytest.mark.parametrize("pip, decimals", [(0.1, 2), (0.0001, 5), (0.01, 3), (1.0, 1)])
def test_price_decimals(pip, decimals):
    assert price_decimals(pip) == decimals


def test_open_trade_rounds_prices_to_quote_precision():
    intent = SignalIntent(BUY, 2000.12345, 1996.98765, (TakeProfit(2003.33333, 50), TakeProfit(2005.55555, 30),
                                                         TakeProfit(2007.77777, 20)))
    t = open_trade(intent, pip_size=0.1, opened_at=T0, expiry=timedelta(hours=6))
    assert (t.entry, t.stop, t.initial_stop) == (2000.12, 1996.99, 1996.99)
    assert t.targets == [2003.33, 2005.56, 2007.78]
    assert t.close_percents == [50, 30, 20]
    assert t.opened_at == T0 and t.expires_at == T0 + timedelta(hours=6)
    assert t.status == "open" and t.stage == 0 and t.remaining == 100.0


def test_open_trade_rounds_half_up_despite_binary_noise():
    # 2368.425 is stored as 2368.42499999...; the post must still show 2368.43
    intent = SignalIntent(BUY, 2368.425, 2360.115, (TakeProfit(2370.005, 50), TakeProfit(2372.0, 30),
                                                     TakeProfit(2374.0, 20)))
    t = open_trade(intent, pip_size=0.1, opened_at=T0, expiry=timedelta(hours=8))
    assert (t.entry, t.stop, t.targets[0]) == (2368.43, 2360.12, 2370.01)


def test_open_trade_eurusd_keeps_five_decimals():
    intent = SignalIntent(SELL, 1.0845678, 1.0861234, (TakeProfit(1.0831111, 50), TakeProfit(1.0822226, 30),
                                                         TakeProfit(1.0810004, 20)))
    t = open_trade(intent, pip_size=0.0001, opened_at=T0, expiry=timedelta(hours=8))
    assert (t.entry, t.stop) == (1.08457, 1.08612)
    assert t.targets == [1.08311, 1.08222, 1.081]


# ------------------------------------------------------------------ guardrails

def guards(**kw) -> Guardrails:
    base = dict(max_signals_per_day=4, min_minutes_between=15, daily_loss_limit_pips=50, max_open=1)
    return Guardrails(GuardConfig(**{**base, **kw}))


def day(h: int, m: int = 0, d: int = 5) -> datetime:
    return datetime(2024, 3, d, h, m, tzinfo=UTC)


def test_guard_max_signals_per_day_and_rollover():
    g = guards(max_signals_per_day=2, min_minutes_between=0, max_open=10)
    assert g.blocked(day(8)) is None
    g.record_open(day(8))
    g.record_open(day(9))
    assert g.blocked(day(10)) == "2 signals today (max_signals_per_day 2)"
    assert g.blocked(day(23, 59)) is not None
    assert g.blocked(day(0, 0, d=6)) is None  # a new UTC day
    assert g.opened_today == 0


def test_guard_min_minutes_between_signals():
    g = guards(min_minutes_between=30, max_open=5)
    g.record_open(day(8))
    assert g.blocked(day(8, 29)) == "last signal at 08:00 UTC (min_minutes_between_signals 30)"
    assert g.blocked(day(8, 30)) is None


def test_guard_min_minutes_between_spans_midnight():
    g = guards(min_minutes_between=30, max_open=5)
    g.record_open(day(23, 50))
    assert g.blocked(day(0, 10, d=6)) is not None
    assert g.blocked(day(0, 20, d=6)) is None


def test_guard_daily_loss_limit_counts_trades_closed_today():
    g = guards(max_open=5, min_minutes_between=0, max_signals_per_day=10)
    g.record_open(day(8))
    g.record_close(day(9), -30.0)
    assert g.blocked(day(9, 30)) is None
    g.record_open(day(10))
    g.record_close(day(11), -19.5)
    assert g.blocked(day(11, 30)) is None  # -49.5: not yet
    g.record_open(day(12))
    g.record_close(day(13), -0.5)
    assert g.blocked(day(13, 30)) == "today's realised result is -50.0 pips (daily_loss_limit_pips 50)"
    assert g.blocked(day(7, d=6)) is None  # tomorrow starts at zero


def test_guard_loss_of_yesterdays_close_does_not_block_today():
    g = guards()
    g.record_open(day(20, d=4))
    g.record_close(day(22, d=4), -80.0)
    assert g.blocked(day(8)) is None


def test_guard_loss_of_a_trade_opened_yesterday_counts_on_the_day_it_closes():
    g = guards()
    g.record_open(day(23, d=4))
    g.record_close(day(1), -60.0)
    assert g.blocked(day(8)).startswith("today's realised result is -60.0 pips")


def test_guard_max_open():
    g = guards(max_open=1, min_minutes_between=0)
    g.record_open(day(8))
    assert g.blocked(day(8, 15)) == "1 signal(s) still open (max_open_signals 1)"
    g.record_close(day(9), 12.0)
    assert g.blocked(day(9)) is None


def test_guard_open_count_survives_the_day_rollover():
    g = guards(max_open=1)
    g.record_open(day(23))
    assert g.blocked(day(1, d=6)).startswith("1 signal(s) still open")


# ------------------------------------------------------------------ replay: scripted strategies

def flat_frame(start: str, n: int, price: float = 2000.0) -> pd.DataFrame:
    idx = pd.date_range(start, periods=n, freq="15min", tz="UTC", name="ts")
    return pd.DataFrame({"open": price, "high": price + 0.5, "low": price - 0.5, "close": price}, index=idx)


class Always(Strategy):
    """BUY at every candle's close, stop 10.00 under, targets 2/5/8 above."""

    name = "always"

    def generate(self, frames, timeframe):
        c = float(frames[timeframe]["close"].iloc[-1])
        return SignalIntent(BUY, c, c - 10, (TakeProfit(c + 2, 50), TakeProfit(c + 5, 30), TakeProfit(c + 8, 20)))


def opened(trades) -> list[str]:
    return [f"{t.trade.opened_at:%d %H:%M}" for t in trades]


def test_replay_never_asks_about_the_first_candle():
    seen = []

    class Spy(Always):
        name = "spy"

        def generate(self, frames, timeframe):
            seen.append(len(frames[timeframe]))
            return None

    for naive in (False, True):
        seen.clear()
        replay(Spy(), {"15min": flat_frame("2024-03-05 08:00", 5)}, "15min", pip_size=0.1,
               expiry=timedelta(hours=8), guard=GuardConfig(), naive=naive)
        assert seen == [2, 3, 4, 5]  # a breakout needs a previous candle


def test_replay_opens_at_the_signal_candles_close_and_follows_later_candles_only():
    f = flat_frame("2024-03-05 08:00", 7)
    # the signal candle (08:15) itself dips under the stop: it must not count against the trade
    f.iloc[1] = [2000.0, 2000.5, 1985.0, 2000.0]
    f.iloc[2] = [2000.0, 2002.5, 2000.2, 2002.0]   # TP1
    f.iloc[3] = [2002.0, 2002.2, 1999.5, 2000.0]   # back to entry: breakeven

    class Once(Always):
        name = "once"

        def generate(self, frames, timeframe):
            return super().generate(frames, timeframe) if len(frames[timeframe]) == 2 else None

    for naive in (False, True):
        [bt] = replay(Once(), {"15min": f}, "15min", pip_size=0.1, expiry=timedelta(hours=8), guard=GuardConfig(),
                      naive=naive)
        t = bt.trade
        assert bt.bar_ts == pd.Timestamp("2024-03-05 08:15", tz="UTC")
        assert t.opened_at == datetime(2024, 3, 5, 8, 30, tzinfo=UTC)
        assert (t.entry, t.initial_stop, t.targets) == (2000.0, 1990.0, [2002.0, 2005.0, 2008.0])
        assert t.result == "breakeven" and t.pips == 10.0
        assert t.closed_at == datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
        assert kinds(bt.events) == ["tp1", "stop"]


def test_replay_guardrails_max_per_day_and_one_open_at_a_time():
    f = flat_frame("2024-03-05 00:00", 2 * 96 - 1)  # two days of flat candles: trades only expire
    trades = replay(Always(), {"15min": f}, "15min", pip_size=0.1, expiry=timedelta(minutes=30),
                    guard=GuardConfig(max_signals_per_day=4, min_minutes_between=15, daily_loss_limit_pips=50,
                                      max_open=1))
    # the first candle only serves as "previous candle"; a signal opens at its candle's close
    assert opened(trades) == ["05 00:30", "05 01:00", "05 01:30", "05 02:00",
                              "06 00:00", "06 00:30", "06 01:00", "06 01:30"]
    assert all(t.trade.result == "expired" and t.trade.pips == 0.0 for t in trades)


def test_replay_guardrail_min_minutes_between():
    f = flat_frame("2024-03-05 00:00", 24)
    trades = replay(Always(), {"15min": f}, "15min", pip_size=0.1, expiry=timedelta(minutes=15),
                    guard=GuardConfig(max_signals_per_day=10, min_minutes_between=60, daily_loss_limit_pips=50,
                                      max_open=1))
    assert opened(trades) == ["05 00:30", "05 01:30", "05 02:30", "05 03:30", "05 04:30", "05 05:30"]


def test_replay_guardrail_daily_loss_limit():
    # every candle after a signal falls 10.00: each trade is stopped out at -100 pips on the next candle
    idx = pd.date_range("2024-03-05 00:00", periods=12, freq="15min", tz="UTC", name="ts")
    close = 2000.0 - 10.0 * np.arange(12)
    f = pd.DataFrame({"open": close + 10, "high": close + 10.5, "low": close - 0.5, "close": close}, index=idx)
    trades = replay(Always(), {"15min": f}, "15min", pip_size=0.1, expiry=timedelta(hours=8),
                    guard=GuardConfig(max_signals_per_day=10, min_minutes_between=0, daily_loss_limit_pips=50,
                                      max_open=1))
    assert len(trades) == 1  # -100 pips reaches the 50-pip limit: nothing more that day
    assert trades[0].trade.result == "stop" and trades[0].trade.pips == -100.0


def test_replay_rounds_to_quote_precision():
    class Odd(Always):
        name = "odd"

        def generate(self, frames, timeframe):
            if len(frames[timeframe]) != 2:
                return None
            return SignalIntent(BUY, 2000.004, 1990.126, (TakeProfit(2002.339, 50), TakeProfit(2005.0049, 30),
                                                          TakeProfit(2008.5, 20)))

    [bt] = replay(Odd(), {"15min": flat_frame("2024-03-05 08:00", 3)}, "15min", pip_size=0.1,
                  expiry=timedelta(hours=8), guard=GuardConfig())
    assert (bt.trade.entry, bt.trade.stop, bt.trade.targets) == (2000.0, 1990.13, [2002.34, 2005.0, 2008.5])


# ------------------------------------------------------------------ replay: strategy errors

class BoomAt(Strategy):
    name = "boom"

    def prepare(self, frames, timeframe):
        return list(range(len(frames[timeframe])))

    def bars(self, prepared):
        return len(prepared)

    def signal_at(self, prepared, i):
        if i == 3:
            raise RuntimeError("bad bar")
        return None


def test_replay_strategy_error_names_the_strategy():
    f = flat_frame("2024-03-05 08:00", 8)
    for naive in (False, True):
        with pytest.raises(StrategyError) as exc:
            replay(BoomAt(), {"15min": f}, "15min", pip_size=0.1, expiry=timedelta(hours=8), guard=GuardConfig(),
                   naive=naive)
        assert str(exc.value) == "Strategy 'boom' raised RuntimeError: bad bar"
        assert exc.value.strategy == "boom"


def test_replay_prepare_error_names_the_strategy():
    class BadPrepare(BoomAt):
        name = "badprep"

        def prepare(self, frames, timeframe):
            raise KeyError("1h")

    with pytest.raises(StrategyError, match=r"^Strategy 'badprep' raised KeyError"):
        replay(BadPrepare(), {"15min": flat_frame("2024-03-05 08:00", 4)}, "15min", pip_size=0.1,
               expiry=timedelta(hours=8), guard=GuardConfig())


def test_replay_answer_that_is_not_an_intent_is_a_strategy_error():
    class Chatty(Always):
        name = "chatty"

        def generate(self, frames, timeframe):
            return {"direction": "BUY"}

    with pytest.raises(StrategyError) as exc:
        replay(Chatty(), {"15min": flat_frame("2024-03-05 08:00", 4)}, "15min", pip_size=0.1,
               expiry=timedelta(hours=8), guard=GuardConfig())
    assert str(exc.value) == "Strategy 'chatty' returned dict, not a SignalIntent or None"


def test_replay_invalid_intent_is_a_strategy_error():
    class Upside(Always):
        name = "upside"

        def generate(self, frames, timeframe):
            return SignalIntent(BUY, 2000.0, 2001.0, (TakeProfit(2002, 50), TakeProfit(2005, 30),
                                                      TakeProfit(2008, 20)))

    with pytest.raises(StrategyError) as exc:
        replay(Upside(), {"15min": flat_frame("2024-03-05 08:00", 4)}, "15min", pip_size=0.1,
               expiry=timedelta(hours=8), guard=GuardConfig())
    assert str(exc.value) == ("Strategy 'upside' returned an invalid signal: stop 2001.0 is not on the losing side "
                              "of entry 2000.0")


# ------------------------------------------------------------------ replay: Raja Banks on a random walk

def random_walk(n: int = 3000, seed: int = 20240305) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2024-01-01 00:00", periods=n, freq="15min", tz="UTC", name="ts")
    close = 2000.0 + np.cumsum(rng.normal(0.0, 1.0, n))
    open_ = np.r_[2000.0, close[:-1]]
    high = np.maximum(open_, close) + rng.exponential(0.6, n)
    low = np.minimum(open_, close) - rng.exponential(0.6, n)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close}, index=idx).round(2)


GUARD = GuardConfig()
EXPIRY = timedelta(hours=8)


@pytest.fixture(scope="module")
def walk():
    f = random_walk()
    return {"15min": f, "1h": candles.resample(f, "15min", "1h")}


def summary(trades) -> list[tuple]:
    return [(t.trade.direction, t.trade.entry, t.trade.initial_stop, tuple(t.trade.targets), t.trade.opened_at,
             t.trade.closed_at, t.trade.result, t.trade.pips) for t in trades]


@pytest.fixture(scope="module")
def fast_trades(walk):
    return replay(RajaBanksGold(), walk, "15min", pip_size=0.1, expiry=EXPIRY, guard=GUARD)


def test_walk_fixture_is_a_real_workout(walk, fast_trades):
    assert len(walk["15min"]) == 3000 and len(walk["1h"]) == 750
    results = {t.trade.result for t in fast_trades}
    assert len(fast_trades) >= 20
    assert {"stop", "breakeven"} <= results  # several outcomes, not one


@pytest.mark.slow
def test_replay_naive_and_prepared_give_identical_trades(walk, fast_trades):
    naive = replay(RajaBanksGold(), walk, "15min", pip_size=0.1, expiry=EXPIRY, guard=GUARD, naive=True)
    assert summary(naive) == summary(fast_trades)
    assert [t.intent for t in naive] == [t.intent for t in fast_trades]


@pytest.mark.parametrize("chunk", [1, 7, 5000])
def test_replay_chunk_never_changes_trades(walk, fast_trades, chunk):
    told = []
    trades = replay(RajaBanksGold(), walk, "15min", pip_size=0.1, expiry=EXPIRY, guard=GUARD, chunk=chunk,
                    progress=told.append)
    assert summary(trades) == summary(fast_trades)
    assert sum(told) == 3000
    assert len(told) == -(-3000 // chunk)


@pytest.mark.parametrize("chunk", [0, -5])
def test_replay_nonpositive_chunk_does_not_drop_every_candle(walk, fast_trades, chunk):
    trades = replay(RajaBanksGold(), walk, "15min", pip_size=0.1, expiry=EXPIRY, guard=GUARD, chunk=chunk)
    assert summary(trades) == summary(fast_trades)


def test_replay_start_end_restrict_where_signals_open(walk, fast_trades):
    start, end = datetime(2024, 1, 10, tzinfo=UTC), datetime(2024, 1, 20, tzinfo=UTC)
    trades = replay(RajaBanksGold(), walk, "15min", pip_size=0.1, expiry=EXPIRY, guard=GUARD, start=start, end=end)
    assert trades
    assert all(start <= t.bar_ts < end for t in trades)
    assert any(t.bar_ts < start for t in fast_trades) and any(t.bar_ts >= end for t in fast_trades)
    # at both midnights no trade of the full run is open, so the guardrails start the window in the same
    # state: the window's trades are exactly the full run's trades whose candle lies in the window
    assert not any(t.trade.opened_at < edge < t.trade.closed_at for t in fast_trades for edge in (start, end))
    inside = [t for t in fast_trades if start <= t.bar_ts < end]
    assert summary(trades) == summary(inside)
    assert all(t.trade.status == "closed" for t in trades)


def test_replay_follows_a_trade_opened_before_end_past_end(walk, fast_trades):
    last = fast_trades[-2]
    end = last.bar_ts + timedelta(minutes=15)  # the trade's candle is the last one allowed to open a signal
    trades = replay(RajaBanksGold(), walk, "15min", pip_size=0.1, expiry=EXPIRY, guard=GUARD, end=end)
    assert summary(trades) == summary(fast_trades[:-1])
    assert trades[-1].trade.closed_at > end
