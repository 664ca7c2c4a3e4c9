"""``forex tick``'s due checks (SQLAlchemy Core) answer what its steps would do: a minute with nothing
to do calls no step; each kind of work is seen, and stops being seen once done."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from promostack_cli.forex import due
from promostack_cli.forex.config import update as set_config
from promostack_cli.forex.models import ForexCandle, ForexSignal
from promostack_cli.scheduler import jobruns
from tests.forex_fixtures import connect_signal_bot

TUESDAY = datetime(2025, 3, 4, 8, 0, 30, tzinfo=UTC)   # the 07:45 15min and 07:00 1h candles have closed
SATURDAY = datetime(2025, 3, 8, 14, 0, 20, tzinfo=UTC)


def found(db, check, now, tenant_id=None) -> bool:
    with db.engine.connect() as conn:
        return getattr(due, check)(conn, now, now + timedelta(seconds=55), tenant_id)


def test_nothing_is_due_for_tenants_without_a_signal_bot(db, tenant_id):
    for check in ("monitor_due", "checks_due", "reports_due", "prune_due"):
        assert not found(db, check, TUESDAY), check


def test_checks_are_due_until_each_candles_run_is_done(db, box, tenant_id):
    connect_signal_bot(db, box, tenant_id)
    assert [p for _tf, _bar, p in due.check_periods({}, TUESDAY)] == ["15min@2025-03-04T07:45", "1h@2025-03-04T07:00"]
    assert found(db, "checks_due", TUESDAY)
    for period in ("15min@2025-03-04T07:45", "1h@2025-03-04T07:00"):
        assert jobruns.claim(db, tenant_id, "forex_check", period, now=TUESDAY)
        assert found(db, "checks_due", TUESDAY) is (period.startswith("15min"))  # the 1h one is still open
        jobruns.finish(db, tenant_id, "forex_check", period, ok=True, now=TUESDAY)
    assert not found(db, "checks_due", TUESDAY)
    with db.transaction() as s:  # a tenant who checks 1h only has nothing more to do either
        set_config(s, tenant_id, {"timeframes": "1h"}, TUESDAY)
    assert not found(db, "checks_due", TUESDAY)
    assert found(db, "checks_due", TUESDAY + timedelta(hours=1))  # the next candle


def test_a_failed_check_is_due_again_until_its_attempts_are_spent(db, box, tenant_id):
    connect_signal_bot(db, box, tenant_id)
    with db.transaction() as s:
        set_config(s, tenant_id, {"timeframes": "1h"}, TUESDAY)
    for attempt in range(due.CHECK_ATTEMPTS):
        assert found(db, "checks_due", TUESDAY), attempt
        assert jobruns.claim(db, tenant_id, "forex_check", "1h@2025-03-04T07:00", now=TUESDAY,
                             max_attempts=due.CHECK_ATTEMPTS)
        jobruns.finish(db, tenant_id, "forex_check", "1h@2025-03-04T07:00", ok=False, now=TUESDAY)
    assert not found(db, "checks_due", TUESDAY)


def test_reports_are_due_in_their_window_and_not_once_done(db, box, tenant_id):
    connect_signal_bot(db, box, tenant_id)
    assert due.due_reports({}, TUESDAY) == [("forex_briefing", "2025-03-04"), ("forex_daily_recap", "2025-03-03")]
    assert due.due_reports({}, SATURDAY) == []
    assert not found(db, "reports_due", SATURDAY)
    assert found(db, "reports_due", TUESDAY)
    for kind, period in due.due_reports({}, TUESDAY):
        assert jobruns.claim(db, tenant_id, kind, period, now=TUESDAY)
        jobruns.finish(db, tenant_id, kind, period, ok=True, now=TUESDAY)
    assert not found(db, "reports_due", TUESDAY)


def test_the_monitor_is_due_with_an_open_signal_on_its_minutes(db, box, tenant_id):
    connect_signal_bot(db, box, tenant_id)
    assert not found(db, "monitor_due", TUESDAY)
    with db.transaction() as s:
        s.add(ForexSignal(tenant_id=tenant_id, strategy="s", symbol="XAU/USD", timeframe="15min", direction="BUY",
                          bar_ts=TUESDAY, opened_at=TUESDAY, entry=1, initial_stop=0.5, stop=0.5, targets=[2, 3, 4],
                          close_percents=[50, 30, 20], pip_size=0.1, expires_at=TUESDAY, monitored_until=TUESDAY))
    assert found(db, "monitor_due", TUESDAY)
    with db.transaction() as s:
        set_config(s, tenant_id, {"monitor_every_minutes": "3"}, TUESDAY)
    assert not found(db, "monitor_due", TUESDAY + timedelta(minutes=1))    # 08:01: not a monitor minute
    assert found(db, "monitor_due", TUESDAY + timedelta(minutes=3))
    with db.transaction() as s:
        s.execute(update(ForexSignal).values(status="closed"))
    assert not found(db, "monitor_due", TUESDAY + timedelta(minutes=3))


def test_prune_is_due_only_with_one_minute_candles_older_than_three_days(db, tenant_id):
    def candle(ts, interval="1min"):
        return ForexCandle(tenant_id=tenant_id, symbol="XAU/USD", interval=interval, ts=ts, open=1, high=1, low=1,
                           close=1, fetched_at=TUESDAY)

    with db.transaction() as s:
        s.add(candle(TUESDAY - timedelta(days=2)))
        s.add(candle(TUESDAY - timedelta(days=30), "1h"))
    assert not found(db, "prune_due", TUESDAY)
    with db.transaction() as s:
        s.add(candle(TUESDAY - timedelta(days=3, minutes=1)))
    assert found(db, "prune_due", TUESDAY) and not found(db, "prune_due", TUESDAY, tenant_id + 1)
