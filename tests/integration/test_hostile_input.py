"""Hostile user input and oversized journey files: a conversation must never break.

Replies as long as Telegram allows (and longer), names of 100 KB, texts of entities, journey files
nested thousands of levels deep or with 150,000 steps: the user still gets every following step,
what arrives at Telegram fits its limit, and a bad file is one line and exit 2."""

from __future__ import annotations

import pytest

from promostack_cli.core.clock import utcnow
from promostack_cli.core.errors import ValidationError
from promostack_cli.outbox import service as outbox
from promostack_cli.outbox.models import OutboxMessage
from promostack_cli.telegram import html
from tests.conftest import wait_for
from tests.factories import import_journey_text as import_journey
from tests.factories import telegram_message as message

USER = 5550101
HOSTILE = """\
journey: hostile
name: Hostile input
status: active
re_entry: restart
triggers:
  - deep_link: hostile
steps:
  - id: ask
    type: question
    text: "What should I call you?"
    save_as: nick
  - id: greet
    type: message
    text: "Nice to meet you, {{ nick }}!"
  - id: next
    type: question
    text: "How long have you traded, {{ first_name }}?"
    choices: ["< 1 year", "1-3 years"]
"""
TERMS = """\
journey: terms
name: Terms
status: active
triggers:
  - deep_link: terms
steps:
  - id: ask
    type: question
    text: "Short or long?"
    save_as: nick
  - id: terms
    type: question
    text: "<b>Terms</b>\\n<i>{% if nick == 'long' %}{{ 'Terms apply to every signal. ' * 200 }}{% endif %}</i>Accept?"
    choices: ["Yes", "No"]
"""


def sent_to(fake_tg, n):
    assert wait_for(lambda: len(fake_tg.sent(chat_id=USER)) >= n), fake_tg.sent(chat_id=USER)
    return fake_tg.sent(chat_id=USER)


# --------------------------------------------------------------------------------------------------
# A. Long replies reused through save_as, through the receiver (webhooks.service.ingest)


@pytest.mark.parametrize(
    ("first_name", "reply"),
    [
        ("Sam", "a" * 4096),                       # as long as Telegram allows
        ("Sam", ("word " * 2000).strip()),         # longer than Telegram allows (an injected update)
        ("Sam", "&" * 4090),                       # five times longer once escaped
        ("Sam", "<" * 4090),
        ("Sam", "\U0001f600" * 2048),              # 4,096 UTF-16 code units
        ("N" * 100_000, "Sam"),                    # a 100 KB first_name
    ],
    ids=["4096 chars", "10000 chars", "4090 ampersands", "4090 less-than", "2048 emoji", "100 KB first_name"],
)
def test_long_reply_reused_by_a_template_is_delivered_and_the_session_goes_on(
        receiver, fake_tg, tenant_id, tmp_path, first_name, reply):
    import_journey(receiver.db, tenant_id, tmp_path, HOSTILE, "hostile")
    assert receiver.post(message(1, "/start hostile", user_id=USER, first_name=first_name)).status_code == 200
    r = receiver.post(message(2, reply, user_id=USER, first_name=first_name))
    assert r.json() == {"ok": True, "status": "stored"}

    session = receiver.sessions()[-1]
    assert (session.status, session.step_id) == ("awaiting_reply", "next")  # the session advanced
    assert session.variables["nick"] == reply and session.variables["first_name"] == first_name  # kept in full
    ask, greet, next_question = sent_to(fake_tg, 3)
    assert ask["plain_text"] == "What should I call you?"
    for sent in (greet, next_question):
        assert html.utf16_length(sent["plain_text"]) <= 4096
    # the template's own text survives; the value is cut (with an ellipsis) only if it must be
    assert greet["plain_text"].startswith("Nice to meet you, " + reply[:1000]) and greet["plain_text"].endswith("!")
    assert next_question["plain_text"].startswith("How long have you traded, " + first_name[:1000])
    assert next_question["plain_text"].endswith("?")
    assert next_question["reply_markup"]["inline_keyboard"][0][0]["text"] == "< 1 year"
    assert [u.status for u in receiver.updates()] == ["processed", "processed"]


def test_a_text_too_long_by_itself_is_split_with_the_buttons_on_the_last_part(
        receiver, fake_tg, tenant_id, tmp_path):
    import_journey(receiver.db, tenant_id, tmp_path, TERMS, "terms")
    receiver.post(message(1, "/start terms", user_id=USER))
    receiver.post(message(2, "long", user_id=USER))
    _ask, first, second = sent_to(fake_tg, 3)
    assert first["reply_markup"] is None and second["reply_markup"]["inline_keyboard"][0][0]["text"] == "Yes"
    assert all(html.utf16_length(p["plain_text"]) <= 4096 for p in (first, second))
    # the italic run was closed at the cut and opened again: both parts are valid Telegram HTML
    assert first["text"].startswith("<b>Terms</b>\n<i>Terms apply") and first["text"].endswith("</i>")
    assert second["text"].startswith("<i>") and second["text"].endswith("</i>Accept?")
    whole = "Terms\n" + "Terms apply to every signal. " * 200 + "Accept?"
    assert first["plain_text"] + " " + second["plain_text"] == whole
    assert receiver.sessions()[-1].step_id == "terms"


def test_enqueue_counts_length_as_telegram_does(db, tenant_id):
    with db.transaction() as s:
        with pytest.raises(ValidationError, match="4098 characters"):  # emoji count 2 (UTF-16)
            outbox.enqueue(s, tenant_id, "message_bot", USER, "\U0001f600" * 2049, now=utcnow())
        with pytest.raises(ValidationError, match="4097 characters"):  # an entity is one character
            outbox.enqueue(s, tenant_id, "message_bot", USER, "<b>" + "&amp;" * 4097 + "</b>", now=utcnow())
        outbox.enqueue(s, tenant_id, "message_bot", USER, "\U0001f600" * 2048, now=utcnow())
        outbox.enqueue(s, tenant_id, "message_bot", USER, "<i>" + "&lt;" * 4096 + "</i>", now=utcnow())
        failed = outbox.enqueue(s, tenant_id, "message_bot", USER, "", now=utcnow(), failed="step 'a' not sent: why")
    with db.session() as s:
        row = s.get(OutboxMessage, failed.id)
        assert (row.status, row.last_error) == ("failed", "step 'a' not sent: why")
