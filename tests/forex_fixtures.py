"""Shared builders for forex tests: market series with known outcomes and a wired tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import SIGNAL_TOKEN

VIP = "-1001000000001"


def uptrend(start: datetime, end: datetime, step_minutes: int, *, base: float = 2000.0, per_bar: float = 0.25):
    """A steady climb: every candle closes ``per_bar`` above the last, high = close + 0.10,
    low = open - 0.10, so every candle breaks the previous high and ATR is 0.45 (per 15 min)."""
    bars, k, t = [], 0, start
    while t < end:
        close = base + per_bar * k
        open_ = close - per_bar
        bars.append((t, open_, round(close + 0.1, 2), round(open_ - 0.1, 2), close))
        k += 1
        t += timedelta(minutes=step_minutes)
    return bars


def hourly_from(bars15):
    """1h candles made of four 15min candles."""
    out, group = [], []
    for b in bars15:
        if b[0].minute == 0 and group:
            out.append(_merge(group))
            group = []
        group.append(b)
    if len(group) == 4:
        out.append(_merge(group))
    return out


def _merge(group):
    return (group[0][0], group[0][1], max(b[2] for b in group), min(b[3] for b in group), group[-1][4])


START = datetime(2025, 2, 17, 0, 0, tzinfo=UTC)


def gold_market(fake, until: datetime):
    """15min and 1h gold series up to ``until`` in the fake; returns the 15min bars."""
    bars15 = uptrend(START, until, 15)
    fake.set_series("XAU/USD", "15min", bars15)
    fake.set_series("XAU/USD", "1h", hourly_from(bars15))
    return bars15


def connect_signal_bot(db, box, tenant_id, token=SIGNAL_TOKEN, vip=VIP):
    """The tenant's signal bot, offline, posting to ``vip`` and ``@free``."""
    from tests.factories import connect_bot

    connect_bot(db, box, tenant_id, "signal_bot", token, vip_channel=vip, free_channel="@free")
