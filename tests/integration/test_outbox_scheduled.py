"""A post scheduled with ``outbox send --at`` on SQLite and PostgreSQL: it holds no lane until it is
due (later messages to its chat that are due go first), the idle tick's Core due-check and
``next_due_head`` see it only from its time, and it goes out at that time."""

import pytest

from promostack_cli.core.clock import from_epoch, to_epoch
from promostack_cli.outbox import posting
from tests.conftest import MESSAGE_TOKEN
from tests.factories import connect_bot
from tests.integration.test_outbox import rows, send_all


@pytest.fixture
def fake_tg(sim_tg):
    return sim_tg


def post(db, tenant_id, chat, text, *, now, at=None):
    with db.transaction() as s:
        return posting.post(s, tenant_id, "entrylab", "message_bot", chat, text, now=now, at=at).message.id


def test_a_scheduled_post_waits_for_its_time_without_holding_back_its_chat(db, box, tenant_id, fake_tg, clock):
    from jobs.tick import nothing_due
    from promostack_cli.outbox.claims import claim, next_due_head
    from promostack_cli.outbox.due import delivery_due

    connect_bot(db, box, tenant_id, "message_bot", MESSAGE_TOKEN)
    start = clock()
    at = from_epoch(start + 8)
    scheduled = post(db, tenant_id, 5550500, "weekly outlook", now=from_epoch(start), at=at)
    # the idle tick's check: nothing to do before its time, work once a tick's window reaches it
    with db.engine.connect() as conn:
        assert not delivery_due(conn, from_epoch(start), from_epoch(start + 1))
        assert delivery_due(conn, from_epoch(start), from_epoch(start + 9))
    assert nothing_due(db, "tick", from_epoch(start), from_epoch(start + 1))
    assert not nothing_due(db, "tick", from_epoch(start), from_epoch(start + 9))
    assert next_due_head(db, now=start) == pytest.approx(to_epoch(at))
    assert claim(db, "early", 10, now=start) == []

    due = post(db, tenant_id, 5550500, "due now", now=from_epoch(start))  # queued later, same chat
    assert [c.id for c in claim(db, "w1", 10, now=start, lease_seconds=0.001)] == [due]  # not held back

    report = send_all(db, box, fake_tg, clock, deadline=20)
    assert [m["text"] for m in fake_tg.sent(chat_id=5550500)] == ["due now", "weekly outlook"]
    stored = rows(db)
    assert stored[due].status == stored[scheduled].status == "sent" and report.sent == 2
    assert to_epoch(stored[scheduled].sent_at) >= to_epoch(at)  # not before its time
