"""The outbox in an operator's first hour, through the installed ``promostack``: a post Telegram would
refuse is refused when queued (one line, exit 2, nothing queued), a dedupe key says which message has
it, ``--at`` schedules a post without holding back its chat, blocked chats are listed and cleared,
``outbox list --csv`` exports every field. SQLite (the default database) and the fake Bot API."""

from __future__ import annotations

import csv
import io

import pytest

from tests.acceptance.conftest import Cli, base_env, one_line
from tests.conftest import MESSAGE_TOKEN

T = ("-t", "entrylab")


@pytest.fixture
def cli(tmp_path, fake_tg):
    env = {**base_env(tmp_path), "PROMOSTACK_TELEGRAM_API_URL": fake_tg.base_url}
    runner = Cli(env, tmp_path)
    assert runner("tenants", "add", "entrylab").code == 0
    return runner


def connect(cli):
    r = cli(*T, "connections", "set", "message_bot", "--token", MESSAGE_TOKEN)
    assert r.code == 0, r.stderr


def send(cli, *args, text="hi", chat="5550001", **kw):
    return cli(*T, "outbox", "send", "message_bot", "--chat", chat, "--text", text, *args, **kw)


def queued(cli) -> list[dict]:
    return cli(*T, "outbox", "list", "--json").json()


def test_a_post_telegram_would_refuse_is_refused_when_queued_and_a_dedupe_key_names_its_message(cli):
    line = one_line(send(cli), 2)
    assert line == ("Error: Message Bot not configured for tenant 'entrylab'. Run: promostack --tenant entrylab "
                    "connections set message_bot --token <token>; nothing queued.")
    connect(cli)
    refused = {
        "a < b & c": "Error: Telegram would refuse this HTML: '<' at position 3 does not start a tag; write it as "
                     "&lt; (or send with --parse-mode none).",
        "Gold &nbsp; silver": "Error: Telegram would refuse this HTML: '&' at position 6 is not part of an entity "
                              "(&lt; &gt; &amp; &quot; or &#NN;); write it as &amp; (or send with --parse-mode none).",
        "<b>Gold</i>": "Error: Telegram would refuse this HTML: </i> at position 8 does not close <b> opened at "
                       "position 1; close tags in the reverse order they were opened.",
        "<b>Gold": "Error: Telegram would refuse this HTML: <b> at position 1 is never closed; add </b>.",
        "<div>Gold</div>": "Error: Telegram would refuse this HTML: <div> at position 1 is not a tag Telegram "
                           "supports (b, strong, i, em, u, ins, s, strike, del, a, code, pre, tg-spoiler, tg-emoji, "
                           "blockquote, span); write a literal '<' as &lt; (or send with --parse-mode none).",
    }
    for text, expected in refused.items():
        assert one_line(send(cli, text=text), 2) == expected
    assert queued(cli) == []  # nothing was queued

    # the fixes the messages name are accepted
    assert send(cli, "--parse-mode", "none", text="a < b & c").code == 0
    first = send(cli, "--dedupe-key", "gold-0800", text="<b>Gold</b> a &lt; b &amp; c")
    assert first.code == 0 and "Queued message 2 for message_bot → 5550001" in first.stderr
    again = send(cli, "--dedupe-key", "gold-0800", text="<b>Gold</b> a &lt; b &amp; c")
    assert one_line(again, 0) == "Already queued as message 2 (dedupe key 'gold-0800', pending); nothing new queued."
    as_json = send(cli, "--dedupe-key", "gold-0800", "--json", text="changed")
    assert as_json.code == 0 and as_json.json()["id"] == 2 and as_json.json()["created"] is False
    assert as_json.json()["text"] == "<b>Gold</b> a &lt; b &amp; c"
    assert [m["id"] for m in queued(cli)] == [2, 1]


def test_at_schedules_a_post_that_does_not_hold_back_its_chat(cli, fake_tg):
    connect(cli)
    r = send(cli, "--at", "2099-12-02T08:00+00:00", text="weekly outlook")
    assert one_line(r, 0) == ("Scheduled message 1 for message_bot → 5550001 at 2099-12-02 08:00 UTC; "
                              "the first scheduler tick from then delivers it.")
    # without an offset the time is UTC; another offset is converted
    assert "at 2099-12-02 08:00 UTC" in send(cli, "--at", "2099-12-02T08:00", chat="5550002").stderr
    assert "at 2099-12-02 06:00 UTC" in send(cli, "--at", "2099-12-02T08:00+02:00", chat="5550003").stderr
    past = one_line(send(cli, "--at", "2020-01-01T00:00Z"), 2)
    assert past.startswith("Error: --at 2020-01-01 00:00 UTC is in the past (it is ") and past.endswith(
        "now); give a later time, or leave out --at to send at the next tick.")
    assert one_line(send(cli, "--at", "next monday"), 2) == (
        "Error: --at 'next monday' is not an ISO 8601 time like 2026-12-02T08:00+00:00 or 2026-12-02T08:00Z "
        "(without an offset it is UTC).")
    assert send(cli, text="due now").code == 0  # queued after the scheduled post, same chat
    tick = cli("scheduler", "tick", "--for", "5s", "--json")
    assert tick.code == 0 and tick.json()["sent"] == 1, tick.stdout + tick.stderr
    assert [m["text"] for m in fake_tg.sent(chat_id=5550001)] == ["due now"]
    stored = {m["id"]: m for m in queued(cli)}
    assert stored[1]["status"] == "pending" and stored[1]["not_before"].startswith("2099-12-02T08:00:00")
    # the table shows when the scheduled post goes, whole, also piped with COLUMNS=60
    table = cli(*T, "outbox", "list", "--status", "pending", env={"COLUMNS": "60"}).stdout
    assert [line for line in table.splitlines() if "weekly outlook" in line][0].count("2099-12-02 08:00") == 1


def test_blocked_users_are_listed_and_unblocked(cli, fake_tg):
    connect(cli)
    fake_tg.block(5550001)
    assert send(cli, text="first").code == 0 and send(cli, text="second").code == 0
    assert cli("scheduler", "tick", "--for", "5s").code == 0
    [blocked] = cli(*T, "outbox", "blocked", "--json").json()
    assert blocked["tenant"] == "entrylab" and blocked["chat_id"] == "5550001" and blocked["bot"] == "message_bot"
    assert "blocked" in blocked["reason"] and blocked["blocked_at"] and blocked["failed_messages"] == [1, 2]
    table = cli(*T, "outbox", "blocked").stdout
    assert "5550001" in table and "message_bot" in table and "1 2" in table
    fake_tg.unblock(5550001)
    r = cli(*T, "outbox", "unblock", "5550001")
    assert one_line(r, 0) == ("Chat 5550001 unblocked for message_bot: new messages to it are sent. 2 message(s) "
                              "that failed while it was blocked stay failed; send them with: promostack --tenant "
                              "entrylab outbox retry 1 2")
    assert cli(*T, "outbox", "blocked", "--json").json() == []
    assert one_line(cli(*T, "outbox", "unblock", "5550001"), 2) == (
        "Error: Chat 5550001 is not blocked in tenant 'entrylab'. See: promostack --tenant entrylab outbox blocked")
    assert send(cli, text="third").code == 0
    assert cli("scheduler", "tick", "--for", "5s", "--json").json()["sent"] == 1
    assert [m["text"] for m in fake_tg.sent(chat_id=5550001)] == ["third"]
    assert {m["id"]: m["status"] for m in queued(cli)} == {1: "failed", 2: "failed", 3: "sent"}


def test_outbox_list_csv_has_every_column_and_the_full_text(cli):
    connect(cli)
    text = 'Gold, "XAU" outlook\nsecond line ' + "x" * 200
    assert send(cli, text=text).code == 0
    r = cli(*T, "outbox", "list", "--csv")
    assert r.code == 0 and r.stdout.startswith("id,status,bot,chat_id,method,text,attempts,not_before,")
    [row] = list(csv.DictReader(io.StringIO(r.stdout, newline="")))
    assert row["text"] == text and row["status"] == "pending" and row["chat_id"] == "5550001"
    table_columns = {"id", "status", "bot", "chat_id", "attempts", "error", "not_before", "sent_at"}
    assert table_columns <= set(row)
    assert one_line(cli(*T, "--json", "outbox", "list", "--csv"), 2) == (
        "Error: --csv and --json cannot be used together; pick one.")
