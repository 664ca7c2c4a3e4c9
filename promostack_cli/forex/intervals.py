"""Candle intervals as Twelve Data names them (no pandas here: config and listing commands use it)."""

from __future__ import annotations

from datetime import timedelta

from promostack_cli.core.errors import ValidationError

INTERVAL_SECONDS = {
    "1min": 60, "5min": 300, "15min": 900, "30min": 1800, "45min": 2700,
    "1h": 3600, "2h": 7200, "4h": 14400, "1day": 86400,
}


def interval_delta(interval: str) -> timedelta:
    try:
        return timedelta(seconds=INTERVAL_SECONDS[interval])
    except KeyError:
        raise ValidationError(f"Unknown interval '{interval}'; use one of {', '.join(INTERVAL_SECONDS)}.") from None
