"""The webhook receiver over real HTTP (uvicorn on 127.0.0.1), SQLite and PostgreSQL."""

import json
import time

from sqlmodel import select

from promostack_cli.core.clock import utcnow
from promostack_cli.journeys.models import JourneySession
from promostack_cli.outbox.models import ChatState
from promostack_cli.webhooks.models import TelegramUpdate
from tests.conftest import EXAMPLES, wait_for
from tests.factories import import_journeys
from tests.factories import telegram_message as message


def test_wrong_secret_or_header_is_401_and_nothing_stored(receiver):
    assert receiver.post(message(1, "/start welcome"), path="/api/bot-webhook/not-the-secret").status_code == 401
    assert receiver.post(message(1, "/start welcome"), secret="wrong").status_code == 401
    assert receiver.post(message(1, "/start welcome"), secret="").status_code == 401
    assert receiver.updates() == []


def test_oversized_body_is_413(receiver):
    r = receiver.post(None, raw=b'{"update_id": 1, "x": "' + b"a" * (1024 * 1024) + b'"}')
    assert r.status_code == 413 and receiver.updates() == []


def test_start_twice_starts_one_session_and_sends_first_message_once(receiver, fake_tg):
    update = message(100, "/start welcome", first_name="<b>&")
    assert receiver.post(update).json() == {"ok": True, "status": "stored"}
    assert receiver.post(update).json() == {"ok": True, "status": "duplicate"}
    assert len(receiver.sessions()) == 1 and [u.status for u in receiver.updates()] == ["processed"]
    # delivered right after the commit by the receiver itself (no tick is running)
    assert wait_for(lambda: len(fake_tg.sent(chat_id=5550001)) == 1)
    sent = fake_tg.sent(chat_id=5550001)[0]
    assert sent["plain_text"] == "Hi <b>&! Welcome to EntryLab."  # the name reached Telegram intact
    time.sleep(0.3)
    assert len(fake_tg.sent(chat_id=5550001)) == 1


def test_every_kind_of_update_gets_200(receiver):
    chat = {"id": -1001000000001, "type": "channel", "title": "VIP"}
    user = {"id": 5550002, "is_bot": False, "first_name": "Ann"}
    private = {"id": 5550002, "type": "private", "first_name": "Ann"}
    updates = [
        {"update_id": 201, "edited_message": {"message_id": 1, "date": 1, "chat": private, "from": user, "text": "edit"}},
        {"update_id": 202, "channel_post": {"message_id": 2, "date": 1, "chat": chat, "text": "post"}},
        {"update_id": 203, "callback_query": {"id": "cb1", "from": user, "chat_instance": "x", "data": "choice:0",
                                              "message": {"message_id": 3, "date": 1, "chat": private}}},
        {"update_id": 204, "chat_member": {"chat": chat, "from": user, "date": 1,
                                           "old_chat_member": {"status": "left", "user": user},
                                           "new_chat_member": {"status": "member", "user": user}}},
        {"update_id": 205, "chat_join_request": {"chat": chat, "from": user, "user_chat_id": 5550002, "date": 1}},
        {"update_id": 206, "message": {"message_id": 4, "date": 1, "chat": private, "from": user,
                                       "photo": [{"file_id": "x", "file_unique_id": "y", "width": 1, "height": 1}]}},
        {"update_id": 207, "message": {"message_id": 5, "date": 1, "chat": {"id": -100123, "type": "supergroup"},
                                       "from": user, "text": "gold in a group"}},
        {"update_id": 208, "poll": {"id": "p"}},
        {"update_id": 209, "message": "not an object"},
        {"update_id": 210},
    ]
    for update in updates:
        assert receiver.post(update).status_code == 200, update
    assert receiver.post(None, raw=b"{not json").status_code == 200
    assert receiver.post(None, raw=b"[]").status_code == 200
    stored = receiver.updates()
    assert len(stored) == len(updates) + 2
    failed = [u for u in stored if u.status == "failed"]
    assert {u.kind for u in failed} == {"malformed", "message"}  # 'not an object' failed inside processing


def test_blocked_user_ends_sessions(receiver):
    receiver.post(message(300, "/start welcome", user_id=5550003))
    kicked = {"update_id": 301, "my_chat_member": {
        "chat": {"id": 5550003, "type": "private"}, "from": {"id": 5550003, "is_bot": False, "first_name": "B"},
        "date": 1, "old_chat_member": {"status": "member", "user": {"id": 1, "is_bot": True, "first_name": "bot"}},
        "new_chat_member": {"status": "kicked", "user": {"id": 1, "is_bot": True, "first_name": "bot"},
                            "until_date": 0}}}
    assert receiver.post(kicked).status_code == 200
    assert receiver.sessions()[0].status == "blocked"
    with receiver.db.session() as s:
        assert s.exec(select(ChatState).where(ChatState.chat_id == "5550003")).one().blocked_at is not None


def test_button_press_is_answered(receiver, fake_tg):
    """Answered in the webhook reply itself (Telegram runs a method given in the response body)."""
    press = {"update_id": 400, "callback_query": {
        "id": "cbq-400", "from": {"id": 5550004, "is_bot": False, "first_name": "C"}, "chat_instance": "i",
        "data": "choice:1", "message": {"message_id": 9, "date": 1, "chat": {"id": 5550004, "type": "private"}}}}
    r = receiver.post(press)
    assert r.status_code == 200
    assert r.json() == {"method": "answerCallbackQuery", "callback_query_id": "cbq-400"}
    assert [u.status for u in receiver.updates()] == ["processed"]


def test_processing_failure_is_recorded_then_retried(receiver, monkeypatch):
    from promostack_cli.journeys import sessions as journeys
    from promostack_cli.webhooks.service import failures, retry

    real = journeys.start_by_links  # a batch's /start updates and a single one (a batch of one) alike

    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(journeys, "start_by_links", broken)
    assert receiver.post(message(500, "/start welcome", user_id=5550005)).status_code == 200
    with receiver.db.session() as s:
        failed = failures(s, receiver.updates()[0].tenant_id)
    assert len(failed) == 1 and "database hiccup" in failed[0].error
    monkeypatch.setattr(journeys, "start_by_links", real)
    with receiver.db.transaction() as s:
        outcomes = retry(receiver.dispatcher, s, failed[0].tenant_id, None, utcnow())
    assert [o.status for o in outcomes] == ["processed"]
    assert receiver.sessions()[0].chat_id == "5550005"


def test_healthz(receiver):
    r = receiver.client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"ok": True, "database": "ok"}


def test_unexpected_error_is_recorded_with_its_payload_and_retry_processes_it(receiver, monkeypatch):
    """A bug while processing (here: in parsing the stored update): the update was stored and answered
    200 (Telegram would hold later updates back otherwise); it ends failed with update_id and payload,
    so ``webhook retry`` processes it later."""
    import promostack_cli.webhooks.service as service

    real_parse = service.parse

    def explode(*args, **kwargs):
        raise RuntimeError("bug outside the journeys' code")

    monkeypatch.setattr(service, "parse", explode)
    r = receiver.post(message(600, "/start welcome"))
    assert r.status_code == 200 and r.json()["status"] == "stored"
    stored = receiver.updates()
    assert len(stored) == 1 and stored[0].status == "failed" and "bug outside the journeys' code" in stored[0].error
    assert stored[0].update_id == 600 and stored[0].kind == "message" and stored[0].payload["message"]["text"] == "/start welcome"
    monkeypatch.setattr(service, "parse", real_parse)
    assert receiver.post(message(600, "/start welcome")).json()["status"] == "duplicate"  # Telegram's repeat
    with receiver.db.transaction() as s:
        outcomes = service.retry(receiver.dispatcher, s, stored[0].tenant_id, None, utcnow())
    assert [o.status for o in outcomes] == ["processed"]
    assert [js.journey_slug for js in receiver.sessions()] == ["welcome"]


def test_update_id_must_be_a_real_integer(receiver):
    for i, bad in enumerate([True, "12", 1.5, -3, None]):
        r = receiver.post({"update_id": bad, "message": {"text": "/start welcome", "chat": {"id": 5 + i, "type": "private"}}})
        assert r.status_code == 200 and r.json()["status"] == "failed"
    stored = receiver.updates()
    assert [u.kind for u in stored] == ["malformed"] * 5 and all(u.update_id is None for u in stored)
    assert receiver.sessions() == []


def test_an_update_that_cannot_be_stored_is_answered_503_and_not_acknowledged(receiver, monkeypatch):
    """Transient (the database is failing) or not (a bug in the store): never a 200 for it."""
    from sqlalchemy.exc import OperationalError

    import promostack_cli.webhooks.inbox as inbox
    import promostack_cli.webhooks.telegram_routes as routes

    real_store = inbox.store
    monkeypatch.setattr(routes, "DB_RETRY_DELAY", 0.001)
    for error in (OperationalError("INSERT", {}, Exception("server closed the connection")), RuntimeError("bug")):
        def broken(*args, _error=error, **kwargs):
            raise _error

        monkeypatch.setattr(inbox, "store", broken)
        r = receiver.post(message(900, "/start welcome"))
        assert r.status_code == 503 and r.json()["ok"] is False
    assert receiver.updates() == []
    monkeypatch.setattr(inbox, "store", real_store)
    assert receiver.post(message(900, "/start welcome")).json() == {"ok": True, "status": "stored"}  # Telegram's resend
    assert [u.status for u in receiver.updates()] == ["processed"] and len(receiver.sessions()) == 1


def test_one_failing_update_in_a_batch_does_not_hold_the_others_back(db, box, tenant_id, dispatcher):
    from promostack_cli.telegram.updates import BotRef, envelope
    from promostack_cli.webhooks import inbox, service

    import_journeys(db, tenant_id, EXAMPLES)
    bot = BotRef(tenant_id, 4242, "message_bot")
    bodies = [json.dumps(message(1, "/start welcome", user_id=1)).encode(),
              json.dumps({"update_id": 2, "message": "not an object"}).encode(),
              json.dumps(message(3, "/start welcome", user_id=3)).encode()]
    with db.transaction() as s:
        assert inbox.store(s, [inbox.Incoming(bot, envelope(b), b) for b in bodies], utcnow()) == ["stored"] * 3
    result = service.process_batch(dispatcher, db, bot, utcnow)
    assert result.processed == 3 and result.enqueued
    with db.session() as s:
        rows = list(s.exec(select(TelegramUpdate).order_by(TelegramUpdate.update_id)))
    assert [(u.update_id, u.status) for u in rows] == [(1, "processed"), (2, "failed"), (3, "processed")]
    assert "not an object" in rows[1].error and rows[1].payload == {"update_id": 2, "message": "not an object"}
    with db.session() as s:
        assert sorted(js.chat_id for js in s.exec(select(JourneySession))) == ["1", "3"]


def test_a_starting_receiver_processes_what_a_crashed_one_left(db, tenant_id, dispatcher):
    from promostack_cli.telegram.updates import BotRef, envelope
    from promostack_cli.webhooks import inbox
    from promostack_cli.webhooks.workers import Processor

    import_journeys(db, tenant_id, EXAMPLES)
    with db.transaction() as s:
        body = json.dumps(message(5, "/start welcome")).encode()
        inbox.store(s, [inbox.Incoming(BotRef(tenant_id, 4242, "message_bot"), envelope(body), body)], utcnow())
    processor = Processor(db, dispatcher)  # no update arrives: it looks for left-over ones when it starts
    processor.start()
    try:
        def statuses():
            with db.session() as s:
                return [u.status for u in s.exec(select(TelegramUpdate))]
        assert wait_for(lambda: statuses() == ["processed"])
    finally:
        processor.close()
