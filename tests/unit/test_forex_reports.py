"""Forex reports from candles alone (no database, no Twelve Data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


def test_monday_briefing_takes_pivots_from_friday_not_sundays_first_candles():
    from promostack_cli.forex.candles import frame_from_rows
    from promostack_cli.forex.config import resolve
    from promostack_cli.forex.reports import briefing_context

    rows = []
    friday = datetime(2025, 3, 7, tzinfo=UTC)
    for h in range(21):  # Friday: H 2030, L 1990, C 2020
        rows.append((friday + timedelta(hours=h), 2000, 2030 if h == 15 else 2005, 1990 if h == 3 else 1995, 2020 if h == 20 else 2000))
    sunday = datetime(2025, 3, 9, 22, tzinfo=UTC)
    rows += [(sunday, 2021, 2024, 2019, 2022), (sunday + timedelta(hours=1), 2022, 2023, 2020, 2021)]
    monday = datetime(2025, 3, 10, tzinfo=UTC)
    rows += [(monday + timedelta(hours=h), 2021, 2025, 2018, 2022) for h in range(7)]
    ctx = briefing_context(frame_from_rows(rows), resolve({}), monday + timedelta(hours=7, minutes=20))
    p = (2030 + 1990 + 2020) / 3
    assert ctx["prev_day"].date() == friday.date()
    assert ctx["pivots"]["p"] == pytest.approx(p) and ctx["pivots"]["r1"] == pytest.approx(2 * p - 1990)
