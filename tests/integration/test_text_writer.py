"""The text seam: forex and cross promo write every post through a writer, with no database transaction
open, and queue exactly what it wrote. A stand-in writer (as issue 21's AI writer will stand) records,
at each call, how many transactions this process has open on the database and what the database holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select

from promostack_cli.forex import service
from promostack_cli.forex.models import ForexSignal
from promostack_cli.outbox.models import OutboxMessage
from promostack_cli.text.fit import MESSAGE
from promostack_cli.text.writer import Text
from tests.forex_fixtures import gold_market
from tests.integration.test_crosspromo import MONDAY, market, promo, run, signal_with  # noqa: F401 - promo: a fixture
from tests.integration.test_forex_live import NOW, runtime, settings, td  # noqa: F401 - fixtures

MARK = "\n✍ stand-in"


class Transactions:
    """How many transactions this process has open on ``engine`` (SQLAlchemy's connection events)."""

    def __init__(self, engine):
        self.engine, self.open = engine, 0
        self._hooks = {"begin": self._begin, "commit": self._end, "rollback": self._end}
        for name, hook in self._hooks.items():
            event.listen(engine, name, hook)

    def _begin(self, _conn):
        self.open += 1

    def _end(self, _conn):
        self.open -= 1

    def close(self):
        for name, hook in self._hooks.items():
            event.remove(self.engine, name, hook)


class StandIn:
    """A writer in front of ``inner``: records (kind, transactions open, ``probe()``) per call and returns
    the inner writer's text with a mark, so the queued text shows whose it is."""

    def __init__(self, inner, transactions: Transactions, probe=None, before=None):
        self.inner, self.transactions, self.probe, self.before = inner, transactions, probe, before
        self.calls: list[tuple[str, int, object]] = []

    def write(self, kind, facts, *, limit=MESSAGE):
        open_now = self.transactions.open  # before the probe opens a session of its own
        self.calls.append((kind, open_now, self.probe() if self.probe else None))
        if self.before:
            self.before(self)
        return Text(self.inner.write(kind, facts, limit=limit).text + MARK, source="stand-in")


@pytest.fixture
def forex(db, tenant_id, runtime, settings, td):
    """The tenant's runtime, forex config and market, gold rising to NOW, and the transactions watched."""
    from promostack_cli.forex.config import load
    from promostack_cli.forex.market import live_market

    gold_market(td, NOW)
    with db.session() as s:
        cfg = load(s, tenant_id)
    transactions = Transactions(db.engine)
    yield runtime, cfg, live_market(runtime, settings, cfg.symbol), transactions
    transactions.close()


def _signals(db, tenant_id) -> list[ForexSignal]:
    with db.session() as s:
        return list(s.exec(select(ForexSignal).where(ForexSignal.tenant_id == tenant_id).order_by(ForexSignal.id)))


def _texts(db, source_prefix: str) -> dict[str, str]:
    with db.session() as s:
        return {m.dedupe_key: m.payload["text"] for m in s.exec(select(OutboxMessage).order_by(OutboxMessage.id))
                if (m.source or "").startswith(source_prefix)}


def test_a_signal_and_its_updates_are_written_before_their_transactions_and_queued_as_written(db, tenant_id, forex, td):
    from promostack_cli.forex import messages

    runtime, cfg, market, transactions = forex
    writer = StandIn(messages.writer(runtime, cfg), transactions, probe=lambda: _signals(db, tenant_id))

    out = service.check(runtime, cfg, market, "15min", NOW, writer=writer)
    assert out.status == "signal", out.detail
    [(kind, open_then, stored_then)] = writer.calls
    assert (kind, open_then, stored_then) == ("signal", 0, [])  # no transaction open, nothing stored yet
    [signal] = _signals(db, tenant_id)
    posted = _texts(db, "forex:")[f"forex:signal:{signal.id}:open"]
    assert posted == out.text and posted.endswith(MARK)
    assert f"Signal #{signal.id} · raja_banks" in posted  # the id it names was reserved before it was written

    # the monitor: TP1 within the next minutes; the update is written while the signal still stands at stage 0
    e, tp1 = signal.entry, signal.targets[0]
    td.set_series("XAU/USD", "1min", [(signal.opened_at + timedelta(minutes=i), e, h, low, e)
                                      for i, (h, low) in enumerate([(e + 0.1, e - 0.05), (tp1 + 0.01, e),
                                                                    (e + 0.1, e + 0.05)])])
    td.now = at = signal.opened_at + timedelta(minutes=3, seconds=5)
    writer.calls.clear()
    writer.probe = lambda: [(s.stage, s.monitored_until) for s in _signals(db, tenant_id)]
    [moved] = service.monitor(runtime, cfg, market, at, writer=writer)
    assert [ev.kind for ev in moved.events] == ["tp1"]
    assert writer.calls == [("update", 0, [(0, signal.opened_at)])]
    update = _texts(db, "forex:")[f"forex:signal:{signal.id}:tp1"]
    assert update == moved.texts[0] and update.startswith("✅ <b>TP1 hit</b>") and update.endswith(MARK)
    [after] = _signals(db, tenant_id)
    assert (after.stage, after.monitored_until) == (1, signal.opened_at + timedelta(minutes=3))

    # a report: read, written, then queued
    from promostack_cli.forex.reports import post_report

    writer.calls.clear()
    writer.probe = None
    text = post_report(runtime, cfg, market, "forex_daily_recap", "2025-03-04", at, writer=writer)
    assert writer.calls == [("daily_recap", 0, None)]
    assert _texts(db, "forex_daily_recap")["forex_daily_recap:2025-03-04"] == text and text.endswith(MARK)


def test_a_signal_id_taken_while_its_post_is_written_is_reserved_and_written_again(db, tenant_id, forex):
    """SQLite has no sequence: the id the post names is the next rowid, claimed by the insert. Another
    tenant's signal stored meanwhile takes it: the check writes the post again for the next id.
    PostgreSQL reserves from the sequence: the other signal gets an id of its own, the first text stands."""
    from promostack_cli.forex import messages
    from tests.factories import tenant

    runtime, cfg, market, transactions = forex
    other_tenant = tenant(db, "other", "Other")

    def another_signal_meanwhile(stand_in):
        if len(stand_in.calls) == 1:
            with db.transaction() as s:
                s.add(ForexSignal(tenant_id=other_tenant, strategy="other", symbol="XAU/USD", timeframe="15min",
                                  direction="SELL", bar_ts=NOW, opened_at=NOW, entry=1.0, initial_stop=2.0, stop=2.0,
                                  targets=[0.5], close_percents=[100.0], pip_size=0.1, expires_at=NOW,
                                  monitored_until=NOW))

    writer = StandIn(messages.writer(runtime, cfg), transactions, before=another_signal_meanwhile)
    out = service.check(runtime, cfg, market, "15min", NOW, writer=writer)
    assert out.status == "signal", out.detail
    assert len(writer.calls) == (2 if db.dialect == "sqlite" else 1)
    [ours], [other] = _signals(db, tenant_id), _signals(db, other_tenant)
    assert other.id != ours.id
    posted = _texts(db, "forex:")[f"forex:signal:{ours.id}:open"]
    assert f"Signal #{ours.id} · raja_banks" in posted and posted == out.text


def test_a_signal_another_monitor_moves_on_while_its_update_is_written_gets_each_event_once(db, tenant_id, forex, td):
    """The update is written with no lock held, so another monitor can apply the same candles meanwhile:
    under the row lock the signal no longer stands as it was read, so nothing of the first plan is stored;
    it is worked out again from where the signal stands (nothing left to do)."""
    from promostack_cli.forex import messages
    from promostack_cli.forex.models import ForexSignalEvent

    runtime, cfg, market, transactions = forex
    signal = service.check(runtime, cfg, market, "15min", NOW).signal
    e, tp1 = signal.entry, signal.targets[0]
    td.set_series("XAU/USD", "1min", [(signal.opened_at + timedelta(minutes=i), e, h, low, e)
                                      for i, (h, low) in enumerate([(e + 0.1, e - 0.05), (tp1 + 0.01, e)])])
    td.now = at = signal.opened_at + timedelta(minutes=2, seconds=5)

    def other_monitor_meanwhile(stand_in):
        if len(stand_in.calls) == 1:
            [theirs] = service.monitor(runtime, cfg, market, at)
            assert [ev.kind for ev in theirs.events] == ["tp1"]

    writer = StandIn(messages.writer(runtime, cfg), transactions, before=other_monitor_meanwhile)
    [ours] = service.monitor(runtime, cfg, market, at, writer=writer)
    assert ours.events == [] and [kind for kind, _, _ in writer.calls] == ["update"]
    with db.session() as s:
        kinds = [ev.kind for ev in s.exec(select(ForexSignalEvent).where(ForexSignalEvent.signal_id == signal.id))]
    assert kinds == ["opened", "tp1"]
    update = _texts(db, "forex:")[f"forex:signal:{signal.id}:tp1"]
    assert "TP1 hit" in update and not update.endswith(MARK)  # the other monitor's post, queued once


def test_a_dry_run_check_writes_through_the_writer_and_stores_nothing(db, tenant_id, forex):
    from promostack_cli.forex import messages

    runtime, cfg, market, transactions = forex
    writer = StandIn(messages.writer(runtime, cfg), transactions)
    out = service.check(runtime, cfg, market, "15min", NOW, writer=writer, dry_run=True)
    assert out.status == "signal" and out.text.endswith(MARK) and "Signal #— · raja_banks" in out.text
    assert [(kind, open_then) for kind, open_then, _ in writer.calls] == [("signal", 0)]
    assert _signals(db, tenant_id) == [] and _texts(db, "") == {}


def test_cross_promo_writes_each_post_with_no_transaction_open_and_queues_its_text(promo, tenant_id):
    from promostack_cli.crosspromo import posts

    db = promo
    transactions = Transactions(db.engine)
    writers: list[StandIn] = []

    def stand_in(runtime, settings):
        writers.append(StandIn(posts.writer(runtime, settings), transactions))
        return writers[-1]

    try:
        opened = MONDAY.replace(hour=7, minute=30)  # TP1 at 07:50: its copy is due at 08:20 (30 min later)
        signal_with(db, tenant_id, opened, [("tp1", opened + timedelta(minutes=20))])
        report = run(db, MONDAY.replace(hour=9, minute=1), market_for=market(), writers=stand_in)
    finally:
        transactions.close()
    assert report.queued == 3, report.as_dict()  # the morning news (09:00 BST), the teaser (10:00 BST), the win
    calls = [call for w in writers for call in w.calls]
    assert sorted(kind for kind, _, _ in calls) == ["morning_news", "teaser", "win"]
    assert all(open_then == 0 for _, open_then, _ in calls), calls
    texts = _texts(db, "crosspromo:")
    assert len(texts) == 3 and all(text.endswith(MARK) for text in texts.values()), texts
