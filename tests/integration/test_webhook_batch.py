"""The receiver's batch path gives what handling each update through the router gives.

A burst is processed in batches: runs of updates with no user or chat twice, every handler (and
hook) given all the updates of a run that reached it at once (``many=``: /start, cross promo's
attribution, the outbox's unblock). The same updates go to two tenants alike: one processes them
as the receiver does (``process_batch``), the other one update per transaction through the router
(the path a batch falls back to). Sessions, step visits, messages, attributions, chat blocks and
every update's outcome must be the same, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import sqlalchemy as sa

from promostack_cli.outbox.service import mark_chat_blocked
from promostack_cli.telegram.updates import BotRef, envelope
from promostack_cli.webhooks import inbox, service
from tests.conftest import EXAMPLES
from tests.factories import import_journeys, tenant
from tests.factories import telegram_message as message

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
QUESTIONS = """\
journey: {slug}
name: {slug}
status: active
re_entry: {policy}
triggers:
  - deep_link: {slug}
steps:
  - id: hello
    type: message
    text: "Hello {{{{ first_name }}}}, welcome!"
  - id: name
    type: question
    text: "What should I call you?"
    choices: ["Sam", "Ann"]
    save_as: nick
  - id: nice
    type: message
    text: "Nice to meet you, {{{{ nick }}}}!"
"""


def _member(update_id: int, user: int, status: str) -> dict:
    who = {"id": user, "is_bot": False, "first_name": "U"}
    bot = {"id": 1, "is_bot": True, "first_name": "bot"}
    return {"update_id": update_id, "my_chat_member": {
        "chat": {"id": user, "type": "private"}, "from": who, "date": 1,
        "old_chat_member": {"status": "member", "user": bot}, "new_chat_member": {"status": status, "user": bot}}}


def _button(update_id: int, user: int, data: str) -> dict:
    return {"update_id": update_id, "callback_query": {
        "id": f"cb{update_id}", "from": {"id": user, "is_bot": False, "first_name": "U"}, "chat_instance": "i",
        "data": data, "message": {"message_id": 1, "date": 1, "chat": {"id": user, "type": "private"}}}}


def burst() -> list[dict]:
    """A burst as Telegram sends it: many users' /start, and users who write several times."""
    ids = iter(range(1, 10_000))
    u = []
    u += [message(next(ids), "/start welcome", user_id=6_000_000 + i, first_name=f"N{i}") for i in range(60)]
    u += [message(next(ids), "/start welcome", user_id=6_000_001, first_name="Again")]   # restart
    u += [message(next(ids), "/start race", user_id=6_100_000) for _ in range(3)]        # block: one session
    u += [message(next(ids), "/start again", user_id=6_100_001) for _ in range(3)]       # restart, three times
    u += [message(next(ids), "/start welcome__cp1a", user_id=6_100_002),                 # attributed to a post
          message(next(ids), "/start cp9", user_id=6_100_003),                           # a plain /start from a post
          message(next(ids), "/start nosuchlink", user_id=6_100_004),
          message(next(ids), "/start", user_id=6_100_005),
          message(next(ids), "hello, gold prices?", user_id=6_100_006),                  # keyword
          message(next(ids), "/stop", user_id=6_000_002),
          message(next(ids), "Samuel", user_id=6_100_000),                               # answers race's question
          _button(next(ids), 6_100_001, "choice:1"),                                     # answers again's question
          _button(next(ids), 6_100_007, "choice:0"),                                     # nothing waiting
          _member(next(ids), 6_000_003, "kicked"),
          message(next(ids), "/start welcome", user_id=6_000_003),                       # after blocking the bot
          _member(next(ids), 6_100_008, "member"),
          message(next(ids), "back again", user_id=6_100_009),                           # unblocks a blocked chat
          {"update_id": next(ids), "message": "not an object"},
          {"update_id": next(ids), "message": {"message_id": 9, "date": 1, "text": "gold in a group",
                                              "chat": {"id": -100777, "type": "supergroup"},
                                              "from": {"id": 6_100_010, "is_bot": False, "first_name": "G"}}},
          {"update_id": next(ids), "edited_message": {"message_id": 9, "date": 1, "text": "edit",
                                                     "chat": {"id": 6_100_011, "type": "private"},
                                                     "from": {"id": 6_100_011, "is_bot": False, "first_name": "E"}}}]
    u += [message(next(ids), "/start welcome", user_id=6_000_000 + i) for i in range(50, 70)]  # again and new
    return u


def _setup(db, tmp_path, slug: str) -> int:
    tenant_id = tenant(db, slug, "EntryLab")
    journeys = tmp_path / "journeys"
    journeys.mkdir(exist_ok=True)
    (journeys / "race.yaml").write_text(QUESTIONS.format(slug="race", policy="block"))
    (journeys / "again.yaml").write_text(QUESTIONS.format(slug="again", policy="restart"))
    import_journeys(db, tenant_id, EXAMPLES, journeys)
    with db.transaction() as s:  # a chat the outbox marked blocked (a 403), whose user now writes again
        mark_chat_blocked(s, tenant_id, "message_bot", "6100009", "403", NOW)
    return tenant_id


def _store(db, bot: BotRef, updates: list[dict]) -> None:
    bodies = [json.dumps(u).encode() for u in updates]
    with db.transaction() as s:
        assert set(inbox.store(s, [inbox.Incoming(bot, envelope(b), b) for b in bodies], NOW)) == {"stored"}


def _state(db, tenant_id: int) -> dict:
    """What processing left for a tenant, without its ids (each chat's rows in their order)."""
    q = {
        "updates": "SELECT update_id, status, result, error FROM telegram_updates WHERE tenant_id = :t "
                   "ORDER BY update_id",
        "sessions": "SELECT chat_id, journey_slug, status, step_id, variables, wake_at, ended_at, end_reason, "
                    "end_code, exclusive, started_at, last_activity_at FROM journey_sessions WHERE tenant_id = :t "
                    "ORDER BY chat_id, id",
        "visits": "SELECT chat_id, journey_slug, step_id, reached_at, session_id IS NULL FROM journey_step_visits "
                  "WHERE tenant_id = :t ORDER BY chat_id, id",
        "messages": "SELECT chat_id, bot_role, chat_kind, method, payload, status, not_before, attempts, "
                    "last_error, dedupe_key, source, priority, created_at FROM outbox_messages WHERE tenant_id = :t "
                    "ORDER BY chat_id, id",
        "attributions": "SELECT ref, chat_id, started_at FROM crosspromo_starts WHERE tenant_id = :t ORDER BY ref, chat_id",
        "blocks": "SELECT chat_id, blocked_at IS NOT NULL, blocked_reason FROM chat_states WHERE tenant_id = :t "
                  "ORDER BY chat_id",
    }
    with db.engine.connect() as conn:
        return {name: [tuple(row) for row in conn.execute(sa.text(sql), {"t": tenant_id})] for name, sql in q.items()}


def test_a_burst_processed_in_batches_ends_as_one_update_at_a_time_through_the_router(db, tmp_path, dispatcher,
                                                                                     monkeypatch):
    updates = burst()
    batched, alone = _setup(db, tmp_path, "batched"), _setup(db, tmp_path, "alone")
    bot_b, bot_a = BotRef(batched, 81, "message_bot"), BotRef(alone, 82, "message_bot")
    _store(db, bot_b, updates)
    _store(db, bot_a, updates)

    with monkeypatch.context() as m:  # the batch path itself, not its one-at-a-time fallback
        m.setattr(service, "_process_one", lambda *a: (_ for _ in ()).throw(AssertionError("the batch fell back")))
        result = service.process_batch(dispatcher, db, bot_b, lambda: NOW)
    assert result.processed == len(updates) and not result.more
    done = 0
    while service._process_one(dispatcher, db, bot_a, lambda: NOW).processed:  # the router, one update each
        done += 1
    assert done == len(updates)

    got, want = _state(db, batched), _state(db, alone)
    for part in want:
        assert got[part] == want[part], part
    # and the burst did what a user would see: one live welcome per /start user, block kept one race
    statuses = [row[2] for row in want["sessions"] if row[0] == "6100000"]
    assert statuses == ["completed"]  # race started once (block), answered "Samuel", ended
    assert [row[2] for row in want["sessions"] if row[0] == "6100001"] == ["cancelled", "cancelled", "completed"]
    assert len(want["attributions"]) == 2 and ("6100009", False, None) in want["blocks"]
    failed = [row for row in want["updates"] if row[1] == "failed"]
    assert len(failed) == 1 and "not an object" in failed[0][3]


def test_a_batch_takes_few_statements_however_many_users_start(db, tmp_path, dispatcher):
    """Set-based: 200 users' /start cost the same dozen statements as 2 users' (no per-user round trip)."""
    from sqlalchemy import event

    tenant_id = _setup(db, tmp_path, "many")
    counts = []
    for n, first in ((2, 1), (200, 10)):
        bot = BotRef(tenant_id, 90 + n, "message_bot")
        _store(db, bot, [message(first + i, "/start welcome", user_id=7_000_000 + first + i) for i in range(n)])
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert service.process_batch(dispatcher, db, bot, lambda: NOW).processed == n
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        counts.append(len(statements))
    assert counts[1] == counts[0] <= 14, counts
