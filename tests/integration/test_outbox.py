"""Outbox semantics on SQLite and PostgreSQL: order per chat, typed failures, retries, dry runs."""

import pytest
from sqlmodel import select

from promostack_cli.core.clock import utcnow
from promostack_cli.core.errors import ValidationError
from promostack_cli.outbox import service
from promostack_cli.outbox.models import ChatState, OutboxMessage
from promostack_cli.outbox.sender import Sender, SenderConfig
from tests.conftest import MESSAGE_TOKEN, SIGNAL_TOKEN
from tests.factories import connect_bot, enqueue


@pytest.fixture
def bots(db, box, tenant_id):
    connect_bot(db, box, tenant_id, "message_bot", MESSAGE_TOKEN)
    connect_bot(db, box, tenant_id, "signal_bot", SIGNAL_TOKEN, vip_channel="-1001000000001", free_channel="@entrylab_free")


@pytest.fixture
def fake_tg(sim_tg):
    """Here the fake Bot API and the senders share the simulated ``clock``: the rates, pauses and backoffs
    are the real ones, the waits are skipped (tests/clock.py)."""
    return sim_tg


def send_all(db, box, fake, clock, *, deadline=20.0, **cfg):
    """One sender run (a tick's delivery step) on ``clock`` until nothing is due or ``deadline`` s pass."""
    config = SenderConfig(api_url=fake.base_url, **{"timeout": 2.0, **cfg})
    sender = Sender(db, box, config, clock=clock, sleep=clock.sleep)
    try:
        return sender.run(clock() + deadline)
    finally:
        sender.close()


def rows(db):
    with db.session() as s:
        return {m.id: m for m in s.exec(select(OutboxMessage))}


def test_enqueue_validation(db, tenant_id):
    with db.transaction() as s:
        with pytest.raises(ValidationError, match="empty"):
            service.enqueue(s, tenant_id, "message_bot", 1, "  ", now=utcnow())
        with pytest.raises(ValidationError, match="4097 characters"):
            service.enqueue(s, tenant_id, "message_bot", 1, "x" * 4097, now=utcnow())
        with pytest.raises(ValidationError, match="not a Telegram chat id"):
            service.enqueue(s, tenant_id, "message_bot", "chat one", "hi", now=utcnow())
        # tags do not count towards Telegram's limit
        service.enqueue(s, tenant_id, "message_bot", 1, "<b>" + "x" * 4090 + "</b>", now=utcnow())


def test_dedupe_key_enqueues_once(db, tenant_id):
    a = enqueue(db, tenant_id, 42, "signal #1", dedupe_key="signal:1:open")
    b = enqueue(db, tenant_id, 42, "signal #1 again", dedupe_key="signal:1:open")
    assert a == b and len(rows(db)) == 1


def test_delivers_in_order_per_chat_and_records_message_ids(db, box, tenant_id, bots, fake_tg, clock):
    ids = [enqueue(db, tenant_id, 5550001, f"m{i}") for i in range(3)]
    ids += [enqueue(db, tenant_id, "@entrylab_free", "free post", role="signal_bot")]
    fake_tg.add_chat("@entrylab_free", type="channel")
    report = send_all(db, box, fake_tg, clock)
    assert report.sent == 4 and report.failed == 0
    assert [m["text"] for m in fake_tg.sent(chat_id=5550001)] == ["m0", "m1", "m2"]
    stored = rows(db)
    assert all(stored[i].status == "sent" and stored[i].telegram_message_id for i in ids)
    assert fake_tg.count_429 == 0
    # the user's 1 message/second limit held: consecutive sends >= 1 s apart
    at = [m["at"] for m in fake_tg.sent(chat_id=5550001)]
    assert all(b - a >= 1.0 for a, b in zip(at, at[1:]))


def test_blocked_user_marks_chat_and_skips_later_messages(db, box, tenant_id, bots, fake_tg, clock):
    fake_tg.block(5550002)
    first = enqueue(db, tenant_id, 5550002, "hello")
    second = enqueue(db, tenant_id, 5550002, "follow-up")
    report = send_all(db, box, fake_tg, clock)
    stored = rows(db)
    assert stored[first].status == "failed" and "blocked" in stored[first].last_error and stored[first].error_code == 403
    assert stored[second].status == "failed" and "not sent" in stored[second].last_error
    assert len([c for c in fake_tg.calls if c.method == "sendMessage"]) == 1  # no second call to a blocked chat
    with db.session() as s:
        assert s.exec(select(ChatState).where(ChatState.chat_id == "5550002")).one().blocked_at is not None
    assert report.failed == 2


def test_permanent_errors_fail_with_the_error(db, box, tenant_id, bots, fake_tg, clock):
    a = enqueue(db, tenant_id, -1009999999999, "to nowhere", role="signal_bot")
    b = enqueue(db, tenant_id, 5550003, "<blink>bad</blink>")
    send_all(db, box, fake_tg, clock)
    stored = rows(db)
    assert stored[a].status == "failed" and "chat not found" in stored[a].last_error
    assert stored[b].status == "failed" and "can't parse entities" in stored[b].last_error
    assert stored[a].attempts == 1


def test_server_errors_are_retried_with_backoff_then_sent(db, box, tenant_id, bots, fake_tg, clock, monkeypatch):
    monkeypatch.setattr("promostack_cli.outbox.sender.backoff_seconds", lambda attempt: 0.2)
    fake_tg.fail_next("sendMessage", 502, count=2)
    mid = enqueue(db, tenant_id, 5550004, "eventually")
    # a tick ends when nothing is due; the retry is due later, so run ticks like cron would
    for _ in range(10):
        send_all(db, box, fake_tg, clock, deadline=5)
        if rows(db)[mid].status == "sent":
            break
        clock.sleep(0.25)
    m = rows(db)[mid]
    assert m.status == "sent" and m.attempts == 3
    assert len(fake_tg.sent(chat_id=5550004)) == 1


def test_gives_up_after_max_attempts(db, box, tenant_id, bots, fake_tg, clock, monkeypatch):
    monkeypatch.setattr("promostack_cli.outbox.sender.backoff_seconds", lambda attempt: 0.05)
    fake_tg.fail_next("sendMessage", 500, count=10)
    mid = enqueue(db, tenant_id, 5550005, "doomed")
    for _ in range(20):
        send_all(db, box, fake_tg, clock, deadline=5, max_attempts=3)
        if rows(db)[mid].status != "pending":
            break
        clock.sleep(0.1)
    m = rows(db)[mid]
    assert m.status == "failed" and m.attempts == 3 and "gave up after 3 attempts" in m.last_error


def test_429_is_waited_out_and_pauses_the_bot(db, box, tenant_id, bots, fake_tg, clock):
    fake_tg.fail_next("sendMessage", 429, retry_after=1)
    ids = [enqueue(db, tenant_id, 5550100 + i, f"u{i}") for i in range(3)]
    start = clock()
    report = send_all(db, box, fake_tg, clock, deadline=15)
    stored = rows(db)
    assert all(stored[i].status == "sent" for i in ids), [stored[i].last_error for i in ids]
    assert report.rate_limited == 1 and sum(stored[i].rate_limited for i in ids) == 1
    assert clock() - start >= 1.0  # the bot's pause was honoured


def test_missing_connection_fails_with_actionable_error(db, box, tenant_id, fake_tg, clock):
    mid = enqueue(db, tenant_id, 5550006, "hi")
    send_all(db, box, fake_tg, clock)
    m = rows(db)[mid]
    assert m.status == "failed" and "Message Bot not configured for tenant 'entrylab'" in m.last_error


def test_wrong_secret_key_keeps_messages_pending(db, tenant_id, bots, fake_tg, clock):
    from promostack_cli.core.secrets import SecretBox

    mid = enqueue(db, tenant_id, 5550007, "hi")
    report = send_all(db, SecretBox("another-key-" * 4), fake_tg, clock)
    assert rows(db)[mid].status == "pending" and report.errors and "Cannot decrypt" in report.errors[0]
    assert fake_tg.calls == []


def test_dry_run_prints_and_records_without_credentials(db, tenant_id, fake_tg, clock):
    enqueue(db, tenant_id, 5550008, "would be sent")
    printed = []
    sender = Sender(db, None, SenderConfig(api_url=fake_tg.base_url, dry_run=True), printer=printed.append,
                    clock=clock, sleep=clock.sleep)
    sender.run(clock() + 5)
    sender.close()
    assert [p.payload["text"] for p in printed] == ["would be sent"]
    assert list(rows(db).values())[0].status == "dry_run"
    assert fake_tg.calls == []


def test_expired_lease_is_claimed_again(db, box, tenant_id, bots, fake_tg, clock):
    from promostack_cli.outbox.claims import claim

    mid = enqueue(db, tenant_id, 5550009, "survives a crash")
    assert [c.id for c in claim(db, "crashed-worker", 10, lease_seconds=-1)] == [mid]
    send_all(db, box, fake_tg, clock)
    assert rows(db)[mid].status == "sent"


def test_retry_and_cancel(db, tenant_id):
    a = enqueue(db, tenant_id, 5550010, "a")
    b = enqueue(db, tenant_id, 5550011, "b")
    with db.transaction() as s:
        m = s.get(OutboxMessage, a)
        m.status, m.last_error = "failed", "boom"
        s.add(m)
    with db.transaction() as s:
        assert service.retry(s, tenant_id, utcnow(), all_failed=True) == 1
    with db.transaction() as s:
        assert service.cancel(s, tenant_id, [b], utcnow()) == 1
    stored = rows(db)
    assert stored[a].status == "pending" and stored[a].last_error is None
    assert stored[b].status == "cancelled"
    with db.transaction() as s, pytest.raises(ValidationError, match="only pending"):
        service.cancel(s, tenant_id, [b], utcnow())


# -- regressions from review ------------------------------------------------------------------

def _pause_bot(db, clock, seconds: float, bot_id: int = 7000000002, tenant_id: int = 1) -> None:
    from promostack_cli.core.upsert import upsert
    from promostack_cli.outbox.models import BotRateLimit

    with db.transaction() as s:
        upsert(s, BotRateLimit, {"bot_id": bot_id, "tenant_id": tenant_id, "next_slot_at": 0.0,
                                 "paused_until": clock() + seconds}, ["bot_id"],
               {"paused_until": clock() + seconds})


def test_slot_beyond_the_lease_is_handed_back_not_sent_twice(db, box, tenant_id, bots, fake_tg, clock):
    """Two senders, a 2 s lease and a 4 s pause: the claim would expire before the send slot."""
    import threading

    _pause_bot(db, clock, 4.0, tenant_id=tenant_id)
    enqueue(db, tenant_id, 5550200, "hello once")
    reports = []

    def one_sender():
        reports.append(send_all(db, box, fake_tg, clock, deadline=9, lease_seconds=2.0, timeout=0.5))

    threads = [threading.Thread(target=one_sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [m["text"] for m in fake_tg.sent(chat_id=5550200)] == ["hello once"]
    assert sum(r.sent for r in reports) == 1


def test_senders_holding_slots_do_not_send_into_a_429_pause(db, box, tenant_id, bots, fake_tg, clock, sender_timeline):
    fake_tg.fail_next("sendMessage", 429, retry_after=2)
    for i in range(20):
        enqueue(db, tenant_id, 5550300 + i, f"u{i}")
    send_all(db, box, fake_tg, clock, deadline=20)
    [(known_at, until)] = sender_timeline.pauses
    assert until >= known_at + 2 - 0.01   # retry_after=2
    # once the sender knows of the pause, no worker starts a call until it ends, though they hold slots in it
    # (requests already past their check may still land after the 429: how many depends on scheduling)
    assert sender_timeline.decided_in_a_pause() == []
    assert [t for _, t, _ in sender_timeline.calls if t >= until], "nothing was sent after the pause"
    assert len(fake_tg.sent()) == 20 and fake_tg.count_429 == 0


def test_each_tick_reads_replaced_tokens(db, box, tenant_id, fake_tg, clock):
    stale = "7000000002:AAFstalestalestalestalestalestale999"
    connect_bot(db, box, tenant_id, "message_bot", stale)
    first = enqueue(db, tenant_id, 5550400, "one")
    config = SenderConfig(api_url=fake_tg.base_url, timeout=2.0)
    sender = Sender(db, box, config, clock=clock, sleep=clock.sleep)
    try:
        sender.run(clock() + 5)
        assert rows(db)[first].status == "failed" and "401" in rows(db)[first].last_error
        connect_bot(db, box, tenant_id, "message_bot", MESSAGE_TOKEN)  # the operator runs connections set with the right token
        second = enqueue(db, tenant_id, 5550401, "two")
        sender.run(clock() + 5)  # the same long-lived sender (scheduler tick --loop)
        assert rows(db)[second].status == "sent"
    finally:
        sender.close()


def test_unexpected_errors_count_as_attempts_and_end_failed(db, box, tenant_id, bots, fake_tg, clock, monkeypatch):
    def broken(self, method, **params):
        raise ValueError("unexpected")

    monkeypatch.setattr("promostack_cli.telegram.client.TelegramClient.call", broken)
    monkeypatch.setattr("promostack_cli.outbox.sender.backoff_seconds", lambda attempt: 0.05)
    mid = enqueue(db, tenant_id, 5550500, "never")
    for _ in range(20):
        report = send_all(db, box, fake_tg, clock, deadline=3, max_attempts=3)
        if rows(db)[mid].status != "pending":
            break
        clock.sleep(0.1)
    m = rows(db)[mid]
    assert m.status == "failed" and m.attempts == 3 and "internal error: unexpected" in m.last_error
    assert report.errors


def test_a_database_error_before_the_send_is_not_an_attempt(db, box, tenant_id, bots, fake_tg, clock, monkeypatch):
    """Only Telegram's answers count: a lost connection while preparing a send hands the message
    back untouched (it used to count an attempt with 'internal error: OperationalError')."""
    import sqlalchemy.exc

    real = Sender._paused_until
    calls = []

    def flaky(self, bot_id):
        calls.append(bot_id)
        if len(calls) == 1:
            raise sqlalchemy.exc.OperationalError("SELECT paused_until", {}, Exception("server closed the connection"))
        return real(self, bot_id)

    monkeypatch.setattr(Sender, "_paused_until", flaky)
    mid = enqueue(db, tenant_id, 5550300, "survives a database blip")
    report = send_all(db, box, fake_tg, clock, deadline=10)
    assert report.sent == 1 and report.db_errors == 1 and report.failed == 0
    msg = rows(db)[mid]
    assert msg.status == "sent" and msg.attempts == 1, (msg.attempts, msg.last_error)
    assert [m["text"] for m in fake_tg.sent(chat_id=5550300)] == ["survives a database blip"]


def test_an_interactive_message_goes_before_the_bots_backlog_but_not_before_its_own_chat(db, tenant_id):
    """A new user's welcome is not kept waiting behind a broadcast of the same bot; per chat,
    messages still go in the order they were queued."""
    from promostack_cli.outbox.claims import claim
    from promostack_cli.outbox.models import INTERACTIVE

    backlog = [enqueue(db, tenant_id, 5560000 + i, f"broadcast {i}") for i in range(50)]
    earlier = enqueue(db, tenant_id, 5569999, "queued before, same chat")
    welcome = enqueue(db, tenant_id, 5569998, "welcome!", priority=INTERACTIVE)
    same_chat = enqueue(db, tenant_id, 5569999, "answer in a busy chat", priority=INTERACTIVE)
    first = [c.id for c in claim(db, "w1", 3)]
    assert first[0] == welcome and same_chat not in first
    assert backlog[0] in first or earlier in first


def test_a_message_scheduled_days_ahead_does_not_hold_back_what_is_due_in_its_chat(db, box, tenant_id, bots, fake_tg, clock):
    from datetime import timedelta

    later = enqueue(db, tenant_id, 5550400, "see you next week", not_before=utcnow() + timedelta(days=6))
    first = enqueue(db, tenant_id, 5550400, "due now 1")
    second = enqueue(db, tenant_id, 5550400, "due now 2")
    report = send_all(db, box, fake_tg, clock, deadline=10)
    assert [m["text"] for m in fake_tg.sent(chat_id=5550400)] == ["due now 1", "due now 2"]  # in order
    stored = rows(db)
    assert stored[first].status == stored[second].status == "sent" and report.sent == 2
    assert stored[later].status == "pending"


def test_a_message_in_retry_backoff_keeps_its_place_in_the_chat(db, tenant_id):
    """Order among due messages holds: a message waiting out a backoff is not overtaken."""
    from promostack_cli.core.clock import epoch
    from promostack_cli.outbox.claims import claim
    from promostack_cli.outbox.models import OutboxStatus
    from promostack_cli.outbox.recorder import Outcome, write_outcomes

    first = enqueue(db, tenant_id, 5550410, "first")
    [claimed] = claim(db, "w1", 10)
    with db.transaction() as s:  # Telegram answered 502: back in the queue for 30 s
        write_outcomes(s, [Outcome(claimed, "w1", OutboxStatus.pending, not_before=epoch() + 30, attempted=True)], now=epoch())
    enqueue(db, tenant_id, 5550410, "second")
    assert claim(db, "w2", 10) == []
    assert [c.id for c in claim(db, "w3", 10, now=epoch() + 31)] == [first]


def test_retrying_an_older_message_waits_while_a_later_one_to_its_chat_is_in_flight(db, tenant_id):
    """Never two messages in flight for one chat: the retried message waits for the one being
    sent, then goes before the later messages still queued there (its place in the chat)."""
    from promostack_cli.outbox.claims import claim
    from promostack_cli.outbox.models import OutboxStatus
    from promostack_cli.outbox.recorder import Outcome, write_outcomes

    old = enqueue(db, tenant_id, 5550420, "old")
    with db.transaction() as s:
        m = s.get(OutboxMessage, old)
        m.status, m.last_error = "failed", "Bad Request: chat not found"
        s.add(m)
    later = enqueue(db, tenant_id, 5550420, "later")
    last = enqueue(db, tenant_id, 5550420, "last")
    [in_flight] = claim(db, "w1", 10)
    assert in_flight.id == later
    with db.transaction() as s:
        assert service.retry(s, tenant_id, utcnow(), ids=[old]) == 1
    assert claim(db, "w2", 10) == []  # 'later' is still being sent
    with db.transaction() as s:
        write_outcomes(s, [Outcome(in_flight, "w1", OutboxStatus.sent, message_id=1)], now=utcnow().timestamp())
    assert [c.id for c in claim(db, "w3", 10)] == [old]
    assert last not in [c.id for c in claim(db, "w4", 10)]


def test_a_message_may_use_an_earlier_calls_result_and_waits_for_it(db, box, tenant_id, bots, fake_tg, clock):
    """result_of: the call's result is recorded; the message is filled from it at send time, after a
    5xx retry of the call; a call that fails for good fails the message that needs it, saying why."""
    vip = "-1001000000001"
    fake_tg.add_chat(int(vip), type="channel")
    fake_tg.fail_next("createChatInviteLink", 502)
    with db.transaction() as s:
        service.enqueue_call(s, tenant_id, "signal_bot", vip, "createChatInviteLink", {"member_limit": 1},
                             now=utcnow(), dedupe_key="link:1")
        service.enqueue(s, tenant_id, "message_bot", 5550009, "Your link: {{result.invite_link}}", now=utcnow(),
                        result_of="link:1")
        with pytest.raises(ValidationError, match="no outbox message"):
            service.enqueue(s, tenant_id, "message_bot", 5550009, "x", now=utcnow(), result_of="link:none")
    report = send_all(db, box, fake_tg, clock)
    assert report.sent == 2 and report.failed == 0
    link = next(iter(fake_tg.invite_links))
    assert [m["text"] for m in fake_tg.sent(chat_id=5550009)] == [f"Your link: {link}"]
    stored = sorted(rows(db).values(), key=lambda m: m.id)
    assert stored[0].result["invite_link"] == link and stored[0].attempts == 2 and stored[1].result is None
    fake_tg.fail_next("createChatInviteLink", 400, "Bad Request: not enough rights to manage chat invite links")
    with db.transaction() as s:
        service.enqueue_call(s, tenant_id, "signal_bot", vip, "createChatInviteLink", {}, now=utcnow(),
                             dedupe_key="link:2")
        service.enqueue(s, tenant_id, "message_bot", 5550009, "Again: {{result.invite_link}}", now=utcnow(),
                        result_of="link:2")
    send_all(db, box, fake_tg, clock)
    last = max(rows(db).values(), key=lambda m: m.id)
    assert last.status == "failed" and "createChatInviteLink" in last.last_error and "not enough rights" in last.last_error
    assert len(fake_tg.sent(chat_id=5550009)) == 1
