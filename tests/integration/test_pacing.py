"""The shared send schedule of a bot never runs away from real time (SQLite and PostgreSQL).

Regression: slots were reserved for every claimed message; those past a sender's deadline were
handed back without their slots, so at every loop boundary and during every 429 pause the
schedule ran further ahead of every sender and the bot stopped delivering.
"""

import threading
import time

import pytest
import sqlalchemy as sa

from promostack_cli.outbox.models import BotRateLimit
from promostack_cli.outbox.pacing import HORIZON_SECONDS, Pacer
from tests.conftest import MESSAGE_TOKEN
from tests.factories import backlog, connect_bot
from tests.integration.test_outbox import send_all

BOT = int(MESSAGE_TOKEN.split(":")[0])
RATE = 28.0


@pytest.fixture
def fake_tg(sim_tg):
    """The senders below run on the simulated ``clock``, and the fake Bot API measures on it too."""
    return sim_tg


def schedule(db) -> tuple[float, float]:
    with db.session() as s:
        row = s.execute(sa.select(BotRateLimit.next_slot_at, BotRateLimit.paused_until)
                        .where(BotRateLimit.bot_id == BOT)).first()
    return (row.next_slot_at, row.paused_until) if row else (0.0, 0.0)


def test_grants_only_within_the_horizon_and_the_deadline(db, tenant_id):
    pacer = Pacer(db, 0.1, horizon=1.0)
    now = 1_000_000.0
    first = pacer.reserve(BOT, tenant_id, 50, now=now, until=now + 10)
    assert first.slots == pytest.approx([now + i * 0.1 for i in range(11)])  # now .. now+1.0
    refused = pacer.reserve(BOT, tenant_id, 5, now=now, until=now + 10)
    assert refused.slots == [] and refused.retry_at == pytest.approx(now + 0.1)
    assert schedule(db)[0] == pytest.approx(now + 1.1)  # a refusal does not move the schedule
    later = pacer.reserve(BOT, tenant_id, 5, now=now + 0.5, until=now + 1.25)  # the caller's deadline binds
    assert later.slots == pytest.approx([now + 1.1, now + 1.2])
    # an idle bot starts from the clock, not from an old schedule
    assert pacer.reserve(BOT, tenant_id, 1, now=now + 60, until=now + 70).slots == [now + 60]


def test_a_429_pause_grants_nothing_and_resumes_when_it_ends(db, tenant_id):
    pacer = Pacer(db, 0.1, horizon=1.0)
    now = 2_000_000.0
    pacer.reserve(BOT, tenant_id, 1, now=now, until=now + 1)
    pacer.pause(BOT, now + 90)
    for t in range(0, 89, 3):  # senders keep asking during the whole pause
        grant = pacer.reserve(BOT, tenant_id, 30, now=now + t, until=now + 200)
        assert grant.slots == [] and grant.retry_at == pytest.approx(now + 89)
    assert schedule(db) == pytest.approx((now + 0.1, now + 90))
    # a sender whose deadline falls inside the pause is told at once that it gets nothing
    assert pacer.reserve(BOT, tenant_id, 30, now=now + 10, until=now + 40).exhausted
    after = pacer.reserve(BOT, tenant_id, 30, now=now + 89.5, until=now + 200)
    assert after.slots[0] == pytest.approx(now + 90)  # the first slot is the end of the pause
    assert len(after.slots) == 6 and schedule(db)[0] == pytest.approx(now + 90.6)


@pytest.mark.serial  # real time: run alone
def test_concurrent_reservations_never_share_a_slot(db, tenant_id):
    pacer = Pacer(db, 1.0 / RATE)
    granted: list[float] = []
    lock = threading.Lock()
    start = time.time()

    def reserve_for_a_while():
        while time.time() < start + 2.0:
            grant = pacer.reserve(BOT, tenant_id, 3, now=time.time(), until=time.time() + 30)
            with lock:
                granted.extend(grant.slots)
            ahead = schedule(db)[0] - time.time()
            assert ahead <= HORIZON_SECONDS + 3 / RATE + 0.05, f"schedule {ahead:.2f} s ahead"
            time.sleep(0.01)

    threads = [threading.Thread(target=reserve_for_a_while) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    granted.sort()
    gaps = [b - a for a, b in zip(granted, granted[1:])]
    assert min(gaps) >= 1.0 / RATE - 1e-6, "two senders got the same slot"
    assert len(granted) >= RATE * 2.0 * 0.9  # the schedule was kept full


@pytest.mark.serial  # waits are simulated, the work between them is real: run alone
def test_a_sender_stopped_by_its_deadline_leaves_the_schedule_at_the_clock(db, box, tenant_id, fake_tg, clock):
    """The loop boundary: a 1.5 s delivery window over a long backlog, then the next window."""
    connect_bot(db, box, tenant_id, "message_bot", MESSAGE_TOKEN)
    backlog(db, tenant_id, 600, 300, first_chat=6100000)
    send_all(db, box, fake_tg, clock, deadline=1.5, rate_per_bot=RATE)
    ahead = schedule(db)[0] - clock()
    assert ahead <= HORIZON_SECONDS, f"the schedule was left {ahead:.1f} s ahead of the clock"
    first_window = len(fake_tg.sent())
    report = send_all(db, box, fake_tg, clock, deadline=3.0, rate_per_bot=RATE)  # the next loop sends at once
    assert report.sent >= RATE * 2, f"the next window sent only {report.sent}"
    assert first_window > 0 and fake_tg.count_429 == 0
    with db.session() as s:
        statuses = dict(s.execute(sa.text("SELECT status, count(*) FROM outbox_messages GROUP BY status")).all())
    assert "sending" not in statuses, "claimed messages were not handed back at the deadline"


@pytest.mark.serial  # waits are simulated, the work between them is real: run alone
def test_after_a_429_pause_sending_resumes_as_it_ends(db, box, tenant_id, fake_tg, clock, sender_timeline):
    connect_bot(db, box, tenant_id, "message_bot", MESSAGE_TOKEN)
    backlog(db, tenant_id, 400, 400, first_chat=6100000)
    fake_tg.fail_next("sendMessage", 429, retry_after=3)
    send_all(db, box, fake_tg, clock, deadline=7.0, rate_per_bot=RATE)
    sent = fake_tg.sent()
    rate_limited = [c.at for c in fake_tg.calls if c.status == 429]
    assert len(rate_limited) == 1
    # nothing started once the sender knew of the pause (requests already past their check may land after
    # the 429: how many depends on how the threads were scheduled, not on the sender)
    [(_known_at, pause_end)] = sender_timeline.pauses
    assert pause_end >= rate_limited[0] + 3 - 0.01 and sender_timeline.decided_in_a_pause() == []
    after = [m["at"] for m in sent if m["at"] >= pause_end]
    assert after, "nothing was sent after the pause"
    assert after[0] - pause_end < 2.0, f"sending resumed {after[0] - pause_end:.1f} s after the pause"
    in_two_seconds = [t for t in after if t < after[0] + 2.0]
    assert len(in_two_seconds) >= RATE * 2 * 0.8, f"only {len(in_two_seconds)} sent in the 2 s after the pause"
    assert len(sent) >= RATE * 2.5 and fake_tg.count_429 == 0
    ahead = schedule(db)[0] - clock()
    assert ahead <= HORIZON_SECONDS, f"the schedule was left {ahead:.1f} s ahead"
