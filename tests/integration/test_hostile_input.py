"""Hostile user input and oversized journey files: a conversation must never break.

Replies as long as Telegram allows (and longer), names of 100 KB, texts of entities, journey files
nested thousands of levels deep or with 150,000 steps: the user still gets every following step,
what arrives at Telegram fits its limit, and a bad file is one line and exit 2."""

from __future__ import annotations

import json
import time

import pytest

from promostack_cli.core.clock import utcnow
from promostack_cli.core.errors import ValidationError
from promostack_cli.journeys.service import apply_import, load_specs, plan_import
from promostack_cli.outbox import service as outbox
from promostack_cli.outbox.models import OutboxMessage
from promostack_cli.telegram import html
from tests.conftest import MESSAGE_TOKEN, Cli, base_env
from tests.fakes.telegram import parse_html
from tests.integration.test_webhook import message, receiver, wait_for  # noqa: F401 - receiver is a fixture

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


def import_journey(db, tenant_id, tmp_path, text, name):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    with db.transaction() as s:
        apply_import(s, tenant_id, plan_import(s, tenant_id, load_specs([str(path)])), utcnow())


def sent_to(fake_tg, n):
    assert wait_for(lambda: len(fake_tg.sent(chat_id=USER)) >= n, timeout=15), fake_tg.sent(chat_id=USER)
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
        receiver, fake_tg, tenant_id, tmp_path, first_name, reply):  # noqa: F811 - pytest fixture
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
        receiver, fake_tg, tenant_id, tmp_path):  # noqa: F811 - pytest fixture
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


def test_a_message_that_cannot_be_built_is_recorded_as_failed_and_the_session_goes_on(cli):
    assert cli("tenants", "add", "entrylab").code == 0
    r = cli("-t", "entrylab", "connections", "set", "message_bot", "--no-validate", "--token", MESSAGE_TOKEN)
    assert r.code == 0, r.stderr
    path = cli.cwd / "hostile.yaml"
    # validates (the sample value "x" has length 1); a five-letter answer divides by zero at run time
    path.write_text(HOSTILE.replace("Nice to meet you, {{ nick }}!", "{{ 100 // (nick|length - 5) }} points"))
    assert cli("-t", "entrylab", "journeys", "import", str(path)).code == 0
    for update_id, text in ((1, "/start hostile"), (2, "hello")):
        update = json.dumps(message(update_id, text, user_id=USER))
        r = cli("-t", "entrylab", "webhook", "inject", "--json", input=update)
        assert r.code == 0 and r.json()["status"] == "processed", r.stderr
    [session] = cli("-t", "entrylab", "journeys", "sessions", "hostile", "--json").json()
    assert (session["status"], session["step"]) == ("awaiting_reply", "next")
    r = cli("-t", "entrylab", "outbox", "list", "--status", "failed", "--json")
    [failed] = r.json()
    assert failed["error"] == "text of step 'greet' not sent: ZeroDivisionError: integer division or modulo by zero"
    assert failed["source"] == "journey:hostile/greet"
    r = cli("-t", "entrylab", "outbox", "list", "--status", "failed")
    assert r.code == 0 and "ZeroDivisionError" in r.stdout
    pending = cli("-t", "entrylab", "outbox", "list", "--status", "pending", "--json").json()
    assert [m["text"] for m in pending][::-1] == ["What should I call you?", "How long have you traded, Sam?"]


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


# --------------------------------------------------------------------------------------------------
# Splitting at safe boundaries


@pytest.mark.parametrize(
    "text",
    [
        "word " * 2000,
        "line\n" * 1500 + "x" * 3000,
        "<b>" + "&amp;" * 5000 + "</b>",
        '<a href="https://example.com/?a=1&amp;b=2">' + "x" * 9000 + "</a> tail",
        "<b>bold <i>both " + "y" * 5000 + "</i> bold</b> plain " + "z" * 3000,
        "\U0001f600" * 3000,
    ],
    ids=["spaces", "newlines", "entities", "link", "nested tags", "emoji"],
)
def test_split_message_parts_fit_and_are_valid_telegram_html(text):
    parts = html.split_message(text)
    assert len(parts) > 1
    for part in parts:
        assert html.visible_length(part) <= 4096
        parse_html(part)  # the fake Bot API's port of TDLib's parser: raises on broken tags or entities
    visible = "".join(html.visible_text(p) for p in parts)
    assert visible.replace(" ", "").replace("\n", "") == html.visible_text(text).replace(" ", "").replace("\n", "")


def test_split_prefers_a_newline_then_a_space():
    text = "a" * 3000 + "\n" + "b" * 500 + " " + "c" * 1000
    assert [html.visible_text(p) for p in html.split_message(text)] == ["a" * 3000, "b" * 500 + " " + "c" * 1000]
    text = "a" * 3000 + " " + "b" * 2000
    assert html.split_message(text) == ["a" * 3000, "b" * 2000]
    assert html.split_message("short <b>text</b>") == ["short <b>text</b>"]


# --------------------------------------------------------------------------------------------------
# C. Journey files: deep nesting, too many steps, too large


HEAD = "journey: deep\nname: Deep\ntriggers:\n  - deep_link: deep\nsteps:\n  - {id: a, type: message, text: hi}\n"


def steps_file(n: int) -> str:
    return "journey: many\nname: Many\ntriggers:\n  - deep_link: many\nsteps:\n" + "".join(
        f"  - {{id: s{i}, type: message, text: hi}}\n" for i in range(n))


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("block.yaml", HEAD + "extra:\n " + "- " * 3000 + "x\n",  # block sequences, 3,000 levels
         "block.yaml:8: the YAML is nested more than 20 levels deep"),
        ("flow.yaml", HEAD + "extra: " + "[" * 50_000 + "]" * 50_000 + "\n",
         "flow.yaml:7: the YAML is nested more than 20 levels deep"),
        ("many.yaml", steps_file(501), "many.yaml:506: more than 500 steps; a journey may have at most 500"),
        ("huge.yaml", steps_file(150_000), "huge.yaml:1: the file is 6,"),
    ],
    ids=["3000 levels block style", "50000 levels flow style", "501 steps", "150000 steps"],
)
def test_oversized_journey_files_are_refused_in_one_line(tmp_path, name, content, expected):
    cli = Cli(base_env(tmp_path), tmp_path)  # validate needs no database
    (tmp_path / name).write_text(content)
    started = time.perf_counter()
    r = cli("journeys", "validate", name, timeout=60)
    assert time.perf_counter() - started < 20
    assert r.code == 2 and r.stderr.startswith(expected) and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.stderr.count("\n") == 2, r.stderr  # the problem, then the summary


@pytest.mark.parametrize("content", [HEAD + "extra: " + "[" * 50_000 + "]" * 50_000 + "\n", steps_file(501)],
                         ids=["nested", "501 steps"])
def test_a_refused_file_leaves_the_database_unchanged(cli, content):
    (cli.cwd / "bad.yaml").write_text(content)
    assert cli("tenants", "add", "entrylab").code == 0
    r = cli("-t", "entrylab", "journeys", "import", "bad.yaml", timeout=60)
    assert r.code == 2 and r.stderr.startswith("bad.yaml:") and "Nothing was imported" in r.stderr, r.stderr[-3000:]
    assert cli("-t", "entrylab", "journeys", "list", "--json").json() == []


def test_a_journey_has_at_most_500_steps():
    from promostack_cli.journeys.spec.parser import parse_text

    spec, errors = parse_text(steps_file(500), "many.yaml")
    assert errors == [] and len(spec.steps) == 500
    # a steps list reached through an alias is counted once composed
    aliased = steps_file(0).replace("steps:\n", "x-steps: &s [" + ", ".join(["{id: a, type: message, text: hi}"] * 501)
                                    + "]\nsteps: *s\n")
    assert [str(e) for e in parse_text(aliased, "many.yaml")[1]] == [
        "many.yaml:5: more than 500 steps; a journey may have at most 500 (split it into several)"]


def test_a_large_file_is_refused_before_it_is_read(tmp_path):
    from promostack_cli.journeys.spec.parser import parse_file

    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (1024 * 1024 + 1))
    assert [str(e) for e in parse_file(path)[1]] == [
        f"{path}:1: the file is 1,048,577 bytes; a journey file may be at most 1 MiB (1,048,576 bytes)"]
    path.write_bytes(b"#" * (1024 * 1024 - 1) + b"\n")
    assert "the file is empty" in str(parse_file(path)[1][0])
