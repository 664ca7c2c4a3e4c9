"""Forex checks, the monitor and forex tick against a Twelve Data stand-in, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import func, select

from promostack_cli.core.clock import utcnow
from promostack_cli.core.errors import OperationalError
from promostack_cli.runtime import TenantRuntime
from promostack_cli.forex import service
from promostack_cli.forex.config import load as load_config
from promostack_cli.forex.market import CreditBudget, CreditsExhausted, live_market
from promostack_cli.forex.models import ForexCandle, ForexSignal, ForexSignalEvent
from promostack_cli.outbox.models import OutboxMessage
from promostack_cli.settings import Settings
from tests.fakes.twelvedata import FakeTwelveData
from tests.forex_fixtures import VIP, connect_signal_bot, gold_market

# Tuesday 4 March 2025, 08:00:30 UTC: the 07:45 candle (London session) has just closed
NOW = datetime(2025, 3, 4, 8, 0, 30, tzinfo=UTC)


@pytest.fixture
def td():
    fake = FakeTwelveData(credits_per_minute=None, credits_per_day=None).start()
    fake.now = NOW
    yield fake
    fake.stop()


@pytest.fixture
def settings(td):
    return Settings(twelvedata_api_url=td.base_url, twelvedata_api_key=td.api_key, twelvedata_credits_per_minute=8,
                    twelvedata_credits_per_day=800)


@pytest.fixture
def runtime(db, box, tenant_id, settings):
    connect_signal_bot(db, box, tenant_id)
    rt = TenantRuntime(tenant_id, settings=settings, db=db, box=box)
    yield rt
    rt.close()


def _config(db, tenant_id):
    with db.session() as s:
        return load_config(s, tenant_id)


def _count(db, model, *where):
    with db.session() as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).one()


def test_check_fetches_caches_posts_and_then_fetches_only_new_bars(db, tenant_id, runtime, settings, td):
    bars = gold_market(td, NOW)
    cfg = _config(db, tenant_id)
    market = live_market(runtime, settings, cfg.symbol)

    out = service.check(runtime, cfg, market, "15min", NOW)
    assert out.status == "signal", out.detail
    first = {r["params"]["interval"]: r["params"] for r in td.requests}
    assert set(first) == {"15min", "1h"}
    assert first["15min"]["outputsize"] == "1001" and "start_date" not in first["15min"]
    # history_bars (1000) closed candles are stored; the forming 08:00 candle (the 1001st) is not
    assert _count(db, ForexCandle, ForexCandle.interval == "15min") == 1000
    with db.session() as ses:
        newest = ses.exec(select(func.max(ForexCandle.ts)).where(ForexCandle.interval == "15min")).one()
    assert newest == datetime(2025, 3, 4, 7, 45, tzinfo=UTC) and bars[-1][0] == datetime(2025, 3, 4, 8, 0, tzinfo=UTC)

    s = out.signal
    # breakout candle 07:45: close 2000 + 0.25 * k; the trend is up; ATR = 0.45
    k = int((datetime(2025, 3, 4, 7, 45, tzinfo=UTC) - datetime(2025, 2, 17, tzinfo=UTC)).total_seconds() // 900)
    entry = 2000 + 0.25 * k
    assert (s.direction, s.entry, s.bar_ts.hour, s.bar_ts.minute) == ("BUY", entry, 7, 45)
    assert s.stop == pytest.approx(entry - 0.35)  # the candle's low is tighter than 1.5 ATR (0.675)
    atr = s.indicators["atr"]
    assert atr == pytest.approx(0.45, abs=1e-6)
    # no earlier high above entry: 1.5 / 2.5 / 3.5 ATR, rounded half-up to the cent
    assert s.targets == [entry + 0.68, entry + 1.13, entry + 1.58]
    with db.session() as ses:
        posts = list(ses.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == f"forex:signal:{s.id}:open")))
        assert len(posts) == 1 and posts[0].chat_id == VIP and posts[0].bot_role == "signal_bot"
        assert "BUY XAU/USD" in posts[0].payload["text"] and f"{entry:,.2f}" in posts[0].payload["text"]
        assert [e.kind for e in ses.exec(select(ForexSignalEvent))] == ["opened"]

    # the same candle again: nothing fetched (no newer candle can have closed), nothing posted
    td.requests.clear()
    again = service.check(runtime, cfg, market, "15min", NOW + timedelta(seconds=20))
    assert again.status == "duplicate" and td.requests == []
    assert _count(db, OutboxMessage) == 1

    # 15 minutes later: only the new bars are asked for, from the one after the newest cached
    later = NOW + timedelta(minutes=15)
    td.now = later
    gold_market(td, later)
    td.requests.clear()
    third = service.check(runtime, cfg, market, "15min", later)
    asked = {r["params"]["interval"]: r["params"] for r in td.requests}
    assert asked["15min"]["start_date"] == "2025-03-04 08:00:00"
    assert asked["15min"]["outputsize"] == "3"  # the gap, never the API's default of 30
    assert "1h" not in asked  # the 08:00 1h candle closes at 09:00
    assert market.fetched["15min"] == 1000 + 1  # first check: 1000 candles; this one: only the 08:00 candle
    assert third.status == "suppressed" and "still open" in third.detail  # one open signal at a time
    assert _count(db, ForexSignal) == 1


def test_stale_market_data_gives_no_signal(db, tenant_id, runtime, settings, td):
    gold_market(td, NOW - timedelta(hours=2))  # the feed stopped two hours ago
    cfg = _config(db, tenant_id)
    out = service.check(runtime, cfg, live_market(runtime, settings, cfg.symbol), "15min", NOW)
    assert out.status == "stale" and _count(db, ForexSignal) == 0


def test_credit_budget_is_shared_and_never_exceeded(db, tenant_id):
    budget = CreditBudget(db, "key-1", per_minute=8, per_day=800)
    now = datetime(2025, 3, 4, 8, 0, 10, tzinfo=UTC)
    ok, refused = [], []

    def worker():
        for _ in range(5):
            try:
                CreditBudget(db, "key-1", 8, 800).reserve(1, now)
                ok.append(1)
            except CreditsExhausted as exc:
                refused.append(str(exc))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ok) == 8 and len(refused) == 12
    assert "credits for this minute are spent (8/8 used" in refused[0]
    # the next minute has credits again; the day counts all of them
    budget.reserve(3, now + timedelta(minutes=1))
    assert budget.used("day", now.replace(hour=0, minute=0, second=0)) == 11
    with pytest.raises(CreditsExhausted, match="for today"):
        CreditBudget(db, "key-1", 8, 12).reserve(2, now + timedelta(minutes=2))


def test_budget_too_small_for_a_check_fetches_nothing(db, tenant_id, runtime, td):
    gold_market(td, NOW)
    small = Settings(twelvedata_api_url=td.base_url, twelvedata_api_key=td.api_key, twelvedata_credits_per_minute=1)
    cfg = _config(db, tenant_id)
    with pytest.raises(CreditsExhausted, match="nothing was fetched"):
        service.check(runtime, cfg, live_market(runtime, small, cfg.symbol), "15min", NOW)
    assert td.requests == [] and _count(db, ForexCandle) == 0


def _open_signal(db, tenant_id, runtime, settings, td):
    gold_market(td, NOW)
    cfg = _config(db, tenant_id)
    out = service.check(runtime, cfg, live_market(runtime, settings, cfg.symbol), "15min", NOW)
    assert out.status == "signal"
    return cfg, out.signal


def _minutes(start, rows):
    """1min candles from (high, low, close) tuples, one per minute from ``start``."""
    return [(start + timedelta(minutes=i), c, h, lo, c) for i, (h, lo, c) in enumerate(rows)]


def test_monitor_counts_wicks_between_checks_and_replies_to_the_post(db, tenant_id, runtime, settings, td, fake_tg, box):
    cfg, s = _open_signal(db, tenant_id, runtime, settings, td)
    e, tp1 = s.entry, s.targets[0]
    opened = s.opened_at  # 08:00
    # 08:00-08:04: a wick to TP1 at 08:02 that closes back below; the monitor runs at 08:05 only
    td.set_series("XAU/USD", "1min", _minutes(opened, [(e + 0.1, e - 0.05, e), (e + 0.2, e, e + 0.1),
                                                       (tp1 + 0.01, e, e + 0.2), (e + 0.3, e + 0.1, e + 0.2),
                                                       (e + 0.3, e + 0.1, e + 0.2)]))
    at = opened + timedelta(minutes=5, seconds=10)
    td.now = at
    market = live_market(runtime, settings, cfg.symbol)
    outs = service.monitor(runtime, cfg, market, at)
    # 08:00 and 08:01 reach 15 % and 30 % of the way to TP1 (no guidance); 08:02 touches TP1
    assert [ev.kind for ev in outs[0].events] == ["tp1"]
    with db.session() as ses:
        row = ses.get(ForexSignal, s.id)
        assert row.stage == 1 and row.stop == e and row.status == "open"
        assert row.pips == pytest.approx(round((tp1 - e) / 0.1 * 0.5, 2))
        update = ses.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == f"forex:signal:{s.id}:tp1")).one()
        assert "TP1 hit" in update.payload["text"] and "Move your stop to entry" in update.payload["text"]

    # the next candles fall back to entry: the rest closes at entry (breakeven), +half the TP1 pips in all
    td.add_bar("XAU/USD", "1min", opened + timedelta(minutes=5), e + 0.1, e + 0.1, e - 0.2, e - 0.1)
    at2 = at + timedelta(minutes=1)
    td.now = at2
    outs = service.monitor(runtime, cfg, market, at2)
    assert [ev.kind for ev in outs[0].events] == ["stop"] and outs[0].status == "closed"
    with db.session() as ses:
        row = ses.get(ForexSignal, s.id)
        assert (row.result, row.close_price) == ("breakeven", e)
        assert row.pips == pytest.approx(round((tp1 - e) / 0.1 * 0.5, 2))
        kinds = [ev.kind for ev in ses.exec(select(ForexSignalEvent).where(ForexSignalEvent.signal_id == s.id))]
        assert kinds[0] == "opened" and "tp1" in kinds and kinds[-1] == "stop"

    # delivery: the updates are replies to the signal's post in the VIP channel
    from promostack_cli.outbox.sender import Sender, SenderConfig
    import time

    fake_tg.add_chat(int(VIP), type="channel")
    sender = Sender(db, box, SenderConfig(api_url=fake_tg.base_url, timeout=2.0, interval_group=0.01))
    try:
        sender.run(time.time() + 20)
    finally:
        sender.close()
    sent = fake_tg.sent(chat_id=VIP)
    assert "BUY XAU/USD" in sent[0]["text"]
    first_id = sent[0]["message_id"]
    assert len(sent) >= 3 and all(m["reply_to_message_id"] == first_id for m in sent[1:]), sent


def test_expired_signal_closes_at_market(db, tenant_id, runtime, settings, td):
    cfg, s = _open_signal(db, tenant_id, runtime, settings, td)
    e = s.entry
    # quiet candles for 8 hours (the default expiry), price 0.2 above entry at the end
    rows = [(e + 0.25, e - 0.05, e + 0.2)] * (8 * 60 + 2)
    td.set_series("XAU/USD", "1min", _minutes(s.opened_at, rows))
    at = s.opened_at + timedelta(hours=8, minutes=3)
    td.now = at
    outs = service.monitor(runtime, cfg, live_market(runtime, settings, cfg.symbol), at)
    assert outs[0].events[-1].kind == "expired"
    with db.session() as ses:
        row = ses.get(ForexSignal, s.id)
        assert (row.status, row.result, row.close_price) == ("closed", "expired", e + 0.2)
        assert row.pips == pytest.approx(2.0)
        assert row.closed_at == s.opened_at + timedelta(hours=8)


def test_forex_tick_runs_each_candle_once_across_concurrent_ticks(db, tenant_id, box, settings, td):
    from promostack_cli.forex.steps import tick as run
    from promostack_cli.scheduler.jobruns import JobRun

    connect_signal_bot(db, box, tenant_id)
    gold_market(td, NOW)
    reports = []

    def tick():
        reports.append(run(db, settings, NOW, box=box))

    threads = [threading.Thread(target=tick) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(not r.errors for r in reports), [r.errors for r in reports]
    assert _count(db, ForexSignal) == 1
    with db.session() as ses:
        runs = list(ses.exec(select(JobRun)))
        posts = sorted(m.source for m in ses.exec(select(OutboxMessage)))
    # at 08:00 on a Tuesday: the 07:45 15min candle and the 07:00 1h candle are checked once each, and the briefing (06:20) and the
    # recap of Monday (06:30) are still due: each once
    assert sorted((r.kind, r.period, r.status) for r in runs) == [
        ("forex_briefing", "2025-03-04", "done"), ("forex_check", "15min@2025-03-04T07:45", "done"),
        ("forex_check", "1h@2025-03-04T07:00", "done"), ("forex_daily_recap", "2025-03-03", "done")]
    assert posts == ["forex:signal:1", "forex_briefing", "forex_daily_recap"]
    lines = [line for r in reports for line in r.details]
    # whichever check stored first holds the one open slot; the other was held back by the guardrail
    assert sum(": signal: " in line for line in lines) == 1
    assert sum(": suppressed: " in line and "still open" in line for line in lines) == 1


def test_tick_skips_candles_outside_the_sessions_without_fetching(db, tenant_id, box, settings, td):
    from promostack_cli.forex.steps import tick as run

    connect_signal_bot(db, box, tenant_id)
    gold_market(td, NOW)
    report = run(db, settings, datetime(2025, 3, 4, 17, 0, 20, tzinfo=UTC), box=box)  # after New York; no report due
    assert report.errors == [] and report.details == [] and td.requests == []


def test_a_raising_strategy_is_reported_and_other_tenants_go_on(db, box, tenant_id, settings, td, tmp_path):
    from promostack_cli.forex.steps import tick as run
    from promostack_cli.forex.config import update
    from promostack_cli.tenants.service import add_tenant

    bad = tmp_path / "broken.py"
    bad.write_text(
        "from promostack_cli.forex.base_strategy import Strategy\n"
        "class Broken(Strategy):\n"
        "    name = 'broken'\n"
        "    timeframes = ('15min',)\n"
        "    signal_timeframes = ('15min',)\n"
        "    def generate(self, frames, timeframe):\n"
        "        raise ZeroDivisionError('division by zero')\n")
    with db.transaction() as s:
        other = add_tenant(s, "goldpros", "Gold Pros").id
    connect_signal_bot(db, box, tenant_id)
    connect_signal_bot(db, box, other, token="7000000003:AAFsignalsignalsignalsignalsignal003", vip="-1001000000003")
    with db.transaction() as s:
        update(s, tenant_id, {"strategy": f"{bad}:Broken", "timeframes": "15min"}, utcnow())
    gold_market(td, NOW)
    report = run(db, settings, NOW, box=box)
    assert report.errors == ["entrylab: checks: Strategy 'broken' raised ZeroDivisionError: division by zero"]
    with db.session() as s:
        signals = list(s.exec(select(ForexSignal)))
    assert [x.tenant_id for x in signals] == [other]


def test_twelve_data_errors_surface_as_one_operational_error(db, tenant_id, runtime, settings, td):
    gold_market(td, NOW)
    td.script_errors([(200, {"code": 429, "message": "You have run out of API credits for the current minute. "
                                                     "9 API credits were used, with the current limit being 8. Wait for the next minute "
                                                     "or consider switching to a higher tier plan at https://twelvedata.com/pricing",
                             "status": "error"})])
    cfg = _config(db, tenant_id)
    with pytest.raises(OperationalError) as info:
        service.check(runtime, cfg, live_market(runtime, settings, cfg.symbol), "15min", NOW)
    assert "credits" in str(info.value) and "\n" not in str(info.value) and td.api_key not in str(info.value)
    assert _count(db, ForexSignal) == 0


def test_tick_runs_the_monitor_every_n_minutes_without_missing_candles(db, tenant_id, runtime, settings, td, box):
    from promostack_cli.forex.steps import tick as run
    from promostack_cli.forex.config import update

    cfg, s = _open_signal(db, tenant_id, runtime, settings, td)
    with db.transaction() as ses:
        update(ses, tenant_id, {"monitor_every_minutes": "3", "timeframes": "1h"}, utcnow())
    e, tp1 = s.entry, s.targets[0]
    td.set_series("XAU/USD", "1min", _minutes(s.opened_at, [(e + 0.1, e - 0.05, e), (tp1 + 0.01, e, e + 0.1),
                                                            (e + 0.2, e, e + 0.1), (e + 0.2, e, e + 0.1)]))
    td.requests.clear()
    at = s.opened_at + timedelta(minutes=2, seconds=10)  # 08:02: not a monitor minute
    td.now = at
    run(db, settings, at, box=box)
    assert [r for r in td.requests if r["params"]["interval"] == "1min"] == []
    at = s.opened_at + timedelta(minutes=3, seconds=10)  # 08:03: the wick of 08:01 still counts
    td.now = at
    report = run(db, settings, at, box=box)
    assert any(f"signal #{s.id}: tp1" in line for line in report.details), report.details


def test_expiry_without_any_candles_closes_at_the_current_price(db, tenant_id, runtime, settings, td):
    cfg, s = _open_signal(db, tenant_id, runtime, settings, td)
    bars = gold_market(td, NOW)  # the feed has no 1min candles at all (market closed, say)
    at = s.opened_at + timedelta(hours=8, minutes=20)
    td.now = at
    td.requests.clear()
    outs = service.monitor(runtime, cfg, live_market(runtime, settings, cfg.symbol), at)
    assert [e.kind for e in outs[0].events] == ["expired"]
    assert [r["path"] for r in td.requests] == ["/time_series", "/price"]
    with db.session() as ses:
        row = ses.get(ForexSignal, s.id)
    last = bars[-1][4]
    assert (row.result, row.close_price, row.closed_at) == ("expired", last, s.expires_at)
    assert row.pips == pytest.approx(round((last - s.entry) / 0.1, 2))


def test_looking_back_with_now_never_sees_later_candles(db, tenant_id, runtime, settings, td):
    _open_signal(db, tenant_id, runtime, settings, td)  # the cache now holds candles up to 07:45
    cfg = _config(db, tenant_id)
    early = NOW.replace(hour=5)  # 05:00:30: the 04:45 candle is the newest closed one
    out = service.check(runtime, cfg, live_market(runtime, settings, cfg.symbol), "15min", early, dry_run=True, live=False)
    assert out.status == "none" and "04:45" in out.detail, out.detail


def test_symbol_cannot_change_under_open_signals(db, tenant_id, runtime, settings, td):
    from promostack_cli.core.errors import ValidationError
    from promostack_cli.forex.config import update

    _open_signal(db, tenant_id, runtime, settings, td)
    with pytest.raises(ValidationError, match="symbol and pip_size cannot change while signals are open"):
        with db.transaction() as s:
            update(s, tenant_id, {"symbol": "EUR/USD", "pip_size": "0.0001"}, utcnow())
    assert _config(db, tenant_id).symbol == "XAU/USD"


def test_spent_credits_still_apply_cached_candles_and_expire(db, tenant_id, runtime, td):
    from promostack_cli.forex.service import MonitorIncomplete

    rich = Settings(twelvedata_api_url=td.base_url, twelvedata_api_key=td.api_key)
    cfg, s = _open_signal(db, tenant_id, runtime, rich, td)
    e = s.entry
    td.set_series("XAU/USD", "1min", _minutes(s.opened_at, [(e + 0.1, e - 0.05, e + 0.05)] * 30))
    at = s.opened_at + timedelta(minutes=30, seconds=5)
    td.now = at
    service.monitor(runtime, cfg, live_market(runtime, rich, cfg.symbol), at)  # caches 30 candles
    # the day's credits are gone: 9 hours later nothing can be fetched, yet the signal expires
    broke = Settings(twelvedata_api_url=td.base_url, twelvedata_api_key=td.api_key, twelvedata_credits_per_day=2)
    later = s.opened_at + timedelta(hours=9)
    with pytest.raises(MonitorIncomplete, match="credits for today") as info:
        service.monitor(runtime, cfg, live_market(runtime, broke, cfg.symbol), later)
    assert [e.kind for e in info.value.outcomes[0].events] == ["expired"]
    with db.session() as ses:
        row = ses.get(ForexSignal, s.id)
    assert (row.status, row.result, row.close_price) == ("closed", "expired", e + 0.05)


def test_monitor_fetches_nothing_at_the_weekend(db, tenant_id, runtime, settings, td):
    cfg, s = _open_signal(db, tenant_id, runtime, settings, td)
    saturday = datetime(2025, 3, 8, 12, 0, 5, tzinfo=UTC)
    td.requests.clear()
    td.now = saturday
    service.monitor(runtime, cfg, live_market(runtime, settings, cfg.symbol), saturday)
    assert [r["path"] for r in td.requests] == ["/price"]  # the expiry's price only (no candles cached)


def test_a_strategy_crashing_anywhere_never_stops_the_other_tenants(db, box, tenant_id, settings, td, tmp_path):
    from promostack_cli.forex.steps import tick as run
    from promostack_cli.forex.config import update
    from promostack_cli.tenants.service import add_tenant

    bad = tmp_path / "odd.py"
    bad.write_text(
        "from promostack_cli.forex.base_strategy import Strategy\n"
        "class Odd(Strategy):\n"
        "    name = 'odd'\n"
        "    def active(self, timeframe, bar_open):\n"
        "        return {}['session']\n"
        "    def generate(self, frames, timeframe):\n"
        "        return None\n")
    nan = tmp_path / "nan.py"
    nan.write_text(
        "from promostack_cli.forex.base_strategy import BUY, SignalIntent, Strategy, TakeProfit\n"
        "class Nan(Strategy):\n"
        "    name = 'nan'\n"
        "    def generate(self, frames, timeframe):\n"
        "        e = float(frames['15min']['close'].iloc[-1])\n"
        "        return SignalIntent(BUY, e, float('nan'), (TakeProfit(e + 1, 100.0),))\n")
    with db.transaction() as s:
        second = add_tenant(s, "second", "Second").id
        third = add_tenant(s, "third", "Third").id
    connect_signal_bot(db, box, tenant_id)
    connect_signal_bot(db, box, second, token="7000000003:AAFsignalsignalsignalsignalsignal003", vip="-1001000000003")
    connect_signal_bot(db, box, third, token="7000000004:AAFsignalsignalsignalsignalsignal004", vip="-1001000000004")
    with db.transaction() as s:
        update(s, tenant_id, {"strategy": f"{bad}:Odd", "timeframes": "15min"}, utcnow())
        update(s, second, {"strategy": f"{nan}:Nan", "timeframes": "15min"}, utcnow())
    gold_market(td, NOW)
    report = run(db, settings, NOW, box=box)
    assert report.errors == ["entrylab: checks: Strategy 'odd' raised KeyError: 'session'",
                             "second: checks: Strategy 'nan' returned an invalid signal: a price or percentage is not a finite number"]
    with db.session() as s:
        assert [x.tenant_id for x in s.exec(select(ForexSignal))] == [third]


def test_tick_prunes_one_minute_candles_older_than_three_days(db, tenant_id, box, settings, td):
    from promostack_cli.forex.steps import tick as run
    from promostack_cli.forex.market import store
    from promostack_cli.forex.twelvedata import Bar

    connect_signal_bot(db, box, tenant_id)
    gold_market(td, NOW)
    old, recent = NOW - timedelta(days=3, minutes=5), NOW - timedelta(days=2)
    with db.transaction() as s:
        store(s, tenant_id, "XAU/USD", "1min", [Bar(old, 1, 2, 0.5, 1.5), Bar(recent, 1, 2, 0.5, 1.5)], NOW)
    run(db, settings, datetime(2025, 3, 4, 17, 0, 20, tzinfo=UTC), box=box)
    with db.session() as s:
        kept = list(s.exec(select(ForexCandle.ts).where(ForexCandle.interval == "1min")))
    assert kept == [recent]
