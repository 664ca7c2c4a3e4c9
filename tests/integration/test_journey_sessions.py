"""Persisted journey sessions (SQLite and PostgreSQL): what the user receives, through the outbox."""

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from promostack_cli.core.clock import utcnow
from promostack_cli.journeys import sessions as js_service
from promostack_cli.journeys.models import JourneySession
from promostack_cli.journeys.service import apply_import, load_specs, plan_import
from promostack_cli.outbox.models import OutboxMessage
from tests.conftest import EXAMPLES
from tests.factories import connect_bot, import_journeys

USER = {"first_name": "Sam", "last_name": "", "username": "sam"}


@pytest.fixture
def journeys(db, tenant_id):
    import_journeys(db, tenant_id, EXAMPLES)
    return db


def say(db, tenant_id, text, chat="5550001"):
    with db.transaction() as s:
        return js_service.handle_message(s, tenant_id, chat, USER, text, utcnow())


def press(db, tenant_id, data, chat="5550001"):
    with db.transaction() as s:
        return js_service.handle_callback(s, tenant_id, chat, data, utcnow())


def outbox_texts(db, chat="5550001"):
    with db.session() as s:
        return [m.payload["text"] for m in s.exec(select(OutboxMessage).where(OutboxMessage.chat_id == chat).order_by(OutboxMessage.id))]


def sessions(db):
    with db.session() as s:
        return list(s.exec(select(JourneySession).order_by(JourneySession.id)))


def fast_forward(db):
    """Make every waiting session due now, as if its delay or timeout had passed."""
    with db.transaction() as s:
        s.exec(update(JourneySession).where(JourneySession.wake_at.is_not(None))
               .values(wake_at=utcnow() - timedelta(seconds=1)))


def test_deep_link_walkthrough(journeys, tenant_id):
    db = journeys
    assert say(db, tenant_id, "/start welcome") == "started welcome"
    assert outbox_texts(db) == ["Hi Sam! Welcome to <b>EntryLab</b>."]
    assert sessions(db)[0].status == "waiting_delay"
    assert js_service.run_due(db) == 0  # the 10 minutes have not passed
    fast_forward(db)
    assert js_service.run_due(db) == 1
    assert outbox_texts(db)[1:] == ["Here is today's free analysis.", "How long have you traded?"]
    with db.session() as s:
        question = s.exec(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert question.payload["reply_markup"]["inline_keyboard"][1][0] == {"text": "1-3 years", "callback_data": "choice:1"}
    assert press(db, tenant_id, "choice:1") is True
    assert say(db, tenant_id, "YES!").startswith("reply to welcome")
    assert outbox_texts(db)[-2:] == ["Reply YES for the VIP link.", "Here is your VIP trial: https://example.com/vip?ref=sam"]
    session = sessions(db)[0]
    assert session.status == "completed" and session.variables["experience"] == "1-3 years"
    with db.session() as s:
        sources = [m.source for m in s.exec(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert sources[0] == "journey:welcome/hello" and all(src.startswith("journey:welcome/") for src in sources)


def test_re_entry_restart_and_stop(journeys, tenant_id):
    db = journeys
    say(db, tenant_id, "/start welcome")
    say(db, tenant_id, "/start welcome")  # welcome has re_entry: restart
    first, second = sessions(db)
    assert first.status == "cancelled" and first.end_reason == "restarted" and second.status == "waiting_delay"
    assert say(db, tenant_id, "/stop") == "stopped 1 session(s)"
    assert sessions(db)[1].status == "cancelled"
    assert say(db, tenant_id, "/start nosuchcode") == "start: no active journey for that link"


def test_keyword_starts_and_unrelated_text_is_ignored(journeys, tenant_id):
    db = journeys
    assert say(db, tenant_id, "hello there") == "ignored"
    assert say(db, tenant_id, "Any GOLD signals today?") == "started welcome by keyword"
    assert say(db, tenant_id, "goldfish", chat="5550002") == "ignored"


def test_reply_timeout_and_block(journeys, tenant_id):
    db = journeys
    say(db, tenant_id, "/start welcome")
    fast_forward(db)
    js_service.run_due(db)
    press(db, tenant_id, "choice:0")
    fast_forward(db)  # nobody answers the offer within the hour
    js_service.run_due(db)
    s = sessions(db)[0]
    assert s.status == "completed" and s.end_reason == "no reply before the timeout"
    assert outbox_texts(db)[-1] == "No worries, the offer stands."
    say(db, tenant_id, "/start welcome", chat="5550003")
    with db.transaction() as session:
        assert js_service.block_user(session, tenant_id, "5550003", utcnow()) == 1
    assert sessions(db)[-1].status == "blocked"


def test_reimport_ends_sessions_on_removed_steps_and_removed_journeys(journeys, tenant_id, tmp_path):
    db = journeys
    say(db, tenant_id, "/start welcome")  # waits on step 'pause'
    src = tmp_path / "j"
    src.mkdir()
    text = (EXAMPLES / "welcome.yaml").read_text()
    (src / "welcome.yaml").write_text(text.replace("  - id: pause\n    type: delay\n    duration: 10m\n"
                                                   "    text: \"Here is today's free analysis.\"\n", ""))
    with db.transaction() as s:
        apply_import(s, tenant_id, plan_import(s, tenant_id, load_specs([str(src)]), prune=True), utcnow())
    s0 = sessions(db)[0]
    assert s0.status == "cancelled" and s0.end_reason == "step 'pause' removed by an import"
    say(db, tenant_id, "/start welcome")
    from promostack_cli.journeys.service import delete_journey

    with db.transaction() as s:
        assert delete_journey(s, tenant_id, "welcome", utcnow()) == 1
    last = sessions(db)[-1]
    assert last.status == "cancelled" and last.end_reason == "journey removed" and last.journey_id is None


def test_inactivity_timeout(journeys, tenant_id):
    db = journeys
    say(db, tenant_id, "/start welcome")
    with db.transaction() as s:
        s.exec(update(JourneySession).values(last_activity_at=utcnow() - timedelta(days=3, seconds=1)))
    assert js_service.end_inactive(db, utcnow()) == 1
    assert sessions(db)[0].end_reason == "inactive for 3d"


def test_concurrent_run_due_advances_each_session_once(tenant_id, db):
    import_journeys(db, tenant_id, EXAMPLES)
    for i in range(150):
        say(db, tenant_id, "/start welcome", chat=str(6000000 + i))
    fast_forward(db)
    counts = []
    threads = [threading.Thread(target=lambda: counts.append(js_service.run_due(db, batch=20))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 150
    with db.session() as s:
        texts = [m.payload["text"] for m in s.exec(select(OutboxMessage))]
    assert texts.count("Here is today's free analysis.") == 150
    assert texts.count("How long have you traded?") == 150


def test_stats_funnel_and_sessions_listing(journeys, tenant_id):
    from promostack_cli.journeys.service import journey_stats, list_sessions

    db = journeys
    for chat in ("5550101", "5550102", "5550103"):
        say(db, tenant_id, "/start welcome", chat=chat)
    fast_forward(db)
    js_service.run_due(db)                       # all three get the analysis and the question
    press(db, tenant_id, "choice:0", chat="5550101")
    say(db, tenant_id, "yes", chat="5550101")      # completes
    press(db, tenant_id, "choice:2", chat="5550102")
    fast_forward(db)
    js_service.run_due(db)                       # 5550102's offer times out
    with db.transaction() as s:
        js_service.block_user(s, tenant_id, "5550103", utcnow())
    with db.session() as s:
        stats = journey_stats(s, tenant_id, "welcome")
        listed = list_sessions(s, tenant_id, "welcome", ["blocked"], 10)
    assert (stats["started"], stats["completed"], stats["timed_out"], stats["blocked"], stats["in_progress"]) == (3, 1, 1, 1, 0)
    reached = {s["step"]: s["reached"] for s in stats["steps"]}
    assert reached == {"hello": 3, "pause": 3, "experience": 3, "offer": 2, "maybe-later": 0, "no-thanks": 0, "vip": 1}
    assert [r["chat_id"] for r in listed] == ["5550103"]


def test_event_trigger_starts_with_event_variables(journeys, tenant_id):
    db = journeys
    with db.transaction() as s:
        started = js_service.start_by_event(s, tenant_id, "stripe_payment_successful", "5550201",
                                            {**USER, "vip_link": "https://t.me/+abc&def", "plan": "monthly"}, utcnow())
        assert [j.journey_slug for j in started] == ["vip-welcome"]
        assert js_service.start_by_event(s, tenant_id, "stripe_sub_cancelled", "5550201", USER, utcnow()) == []
    assert outbox_texts(db, chat="5550201") == ["Thank you, Sam! Your VIP access is ready: https://t.me/+abc&amp;def"]


def test_an_event_journey_greets_the_user_by_the_name_their_start_gave(journeys, tenant_id):
    """A Stripe payment carries no Telegram name; the user's earlier /start did."""
    db = journeys
    no_names = {"first_name": "", "last_name": "", "username": "", "vip_link": "https://t.me/+v", "plan": "monthly"}
    with db.transaction() as s:  # someone who never wrote to the bot: no name, and no ", !" either way
        js_service.start_by_event(s, tenant_id, "stripe_payment_successful", "5550202", no_names, utcnow())
    with db.transaction() as s:
        js_service.start_by_link(s, tenant_id, "5550201", {"first_name": "Dana", "last_name": "", "username": "dana"},
                                 "welcome", utcnow())
    with db.transaction() as s:
        started = js_service.start_by_event(s, tenant_id, "stripe_payment_successful", "5550201", no_names, utcnow())
        assert started[0].variables["first_name"] == "Dana" and started[0].variables["username"] == "dana"
    assert outbox_texts(db, chat="5550201")[-1] == "Thank you, Dana! Your VIP access is ready: https://t.me/+v"
    assert outbox_texts(db, chat="5550202") == ["Thank you! Your VIP access is ready: https://t.me/+v"]


def test_answers_to_the_user_are_interactive_timers_are_not(journeys, tenant_id):
    """What answers the user's own /start, reply or button is sent before the bot's backlog."""
    db = journeys
    say(db, tenant_id, "/start welcome")
    fast_forward(db)
    js_service.run_due(db)
    press(db, tenant_id, "choice:0")
    with db.session() as s:
        rows = [(m.payload["text"][:20], m.priority) for m in s.exec(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert [p for _, p in rows] == [0, 1, 1, 0], rows  # welcome; delay text + question (timer); answer (button)


def test_a_403_from_the_sender_ends_the_users_sessions_and_writing_again_unblocks(journeys, tenant_id, box, fake_tg,
                                                                                   tmp_path):
    """Telegram answers a journey message with 403 "bot was blocked by the user": the user's
    sessions end as blocked (no more timers run for them). When they write to the bot again, the
    chat is unblocked and what the journey sends them from then on is delivered."""
    from jobs.runner import run
    from jobs.steps import TickContext
    from jobs.tick import make_steps
    from promostack_cli.webhooks.handlers import Dispatcher
    from promostack_cli.connections.models import BotConnection
    from promostack_cli.settings import Settings
    from promostack_cli.telegram.updates import BotRef
    from promostack_cli.webhooks.service import ingest
    from tests.conftest import MESSAGE_TOKEN

    db = journeys
    connect_bot(db, box, tenant_id, "message_bot", MESSAGE_TOKEN)
    settings = Settings(telegram_api_url=fake_tg.base_url, data_dir=tmp_path)
    fake_tg.block(5550201)
    say(db, tenant_id, "/start welcome", chat="5550201")  # the welcome is queued; the 10-minute delay runs
    tick = TickContext(db=db, box=box, settings=settings)
    report = run(tick, lambda: make_steps(tick, "tick"), budget=10).as_dict()
    assert report["failed"] == 1
    [ended] = sessions(db)
    assert (ended.status, ended.wake_at) == ("blocked", None)
    assert ended.end_code == "blocked" and report["sessions_ended_blocked"] == 1

    fake_tg.unblock(5550201)
    update = {"update_id": 901, "message": {"message_id": 5, "date": 0, "text": "/start welcome",
                                            "chat": {"id": 5550201, "type": "private"},
                                            "from": {"id": 5550201, "is_bot": False, "first_name": "Sam"}}}
    with db.transaction() as s:
        conn = s.exec(select(BotConnection).where(BotConnection.tenant_id == tenant_id)).one()
        bot = BotRef(conn.tenant_id, conn.bot_id, conn.role)
        assert ingest(Dispatcher(settings, box), s, bot, json.dumps(update).encode(), utcnow()).status == "processed"
    report = run(tick, lambda: make_steps(tick, "tick"), budget=10).as_dict()
    assert [m["text"] for m in fake_tg.sent(chat_id=5550201)] == ["Hi Sam! Welcome to <b>EntryLab</b>."]
    assert [s.status for s in sessions(db)] == ["blocked", "waiting_delay"]
    assert report["sent"] == 1 and report["sessions_ended_blocked"] == 0


def test_stats_count_outcomes_by_code_not_by_the_words_shown(journeys, tenant_id):
    """Rewording an end reason, or clearing old outbox rows, leaves the funnel as it was."""
    from promostack_cli.journeys.service import journey_stats

    db = journeys
    for chat in ("5550301", "5550302"):
        say(db, tenant_id, "/start welcome", chat=chat)
    fast_forward(db)
    js_service.run_due(db)
    press(db, tenant_id, "choice:0", chat="5550301")
    fast_forward(db)
    js_service.run_due(db)  # 5550301: no reply to the offer; 5550302 still at the question
    with db.transaction() as s:
        s.exec(update(JourneySession).where(JourneySession.chat_id == "5550302")
               .values(last_activity_at=utcnow() - timedelta(days=4)))
    assert js_service.end_inactive(db, utcnow()) == 1

    def funnel():
        with db.session() as s:
            stats = journey_stats(s, tenant_id, "welcome")
        return ({k: stats[k] for k in ("started", "completed", "timed_out", "cancelled")},
                {st["step"]: st["reached"] for st in stats["steps"]})

    before = funnel()
    assert before == ({"started": 2, "completed": 0, "timed_out": 2, "cancelled": 0},
                      {"hello": 2, "pause": 2, "experience": 2, "offer": 1, "maybe-later": 0, "no-thanks": 0, "vip": 0})
    with db.transaction() as s:  # a release rewords the texts; an operator clears sent messages
        s.exec(update(JourneySession).values(end_reason="Ended: the user went quiet"))
        s.exec(update(OutboxMessage).values(source=None))
    assert funnel() == before


def test_a_journey_with_a_long_slug_and_step_id_queues_and_counts_its_messages(db, tenant_id, tmp_path):
    """Slugs and step ids may each be 64 characters: the message is still queued (PostgreSQL
    refused the 137-character source before) and the funnel counts the user."""
    from promostack_cli.journeys.service import journey_stats

    slug, step = "a" * 64, "s" * 64
    (tmp_path / f"{slug}.yaml").write_text(
        f"journey: {slug}\nname: Long\nstatus: active\ntriggers:\n  - deep_link: long\nsteps:\n"
        f"  - id: {step}\n    type: message\n    text: Hello\n")
    import_journeys(db, tenant_id, tmp_path)
    assert say(db, tenant_id, "/start long") == f"started {slug}"
    assert outbox_texts(db) == ["Hello"]
    with db.session() as s:
        stats = journey_stats(s, tenant_id, slug)
    assert stats["completed"] == 1 and stats["steps"][0]["reached"] == 1
