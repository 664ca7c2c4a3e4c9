"""What ``outbox send`` refuses before queueing (Telegram's HTML parse mode, ``--at``) and how
``outbox list`` lays out a narrow terminal: pure functions, no database."""

from datetime import UTC, datetime, timedelta, timezone
from io import StringIO

import pytest
from rich.console import Console

from promostack_cli.core.errors import ValidationError
from promostack_cli.outbox.posting import check_text, parse_at
from promostack_cli.telegram.html import HTMLError, check_html

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", [
    "plain", "a > b", "<b>bold</b> <i>it</i> <u>u</u> <s>s</s> <strong>x</strong> <em>y</em> <ins>z</ins> <del>d</del>",
    '<a href="https://x.example/?a=1&b=2">link</a>', "<a href=https://x.example>link</a>",
    '<span class="tg-spoiler">s</span> <tg-spoiler>t</tg-spoiler>', '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
    '<pre><code class="language-python">x = 1</code></pre>', "<blockquote expandable>quote</blockquote>",
    "&lt; &gt; &amp; &quot; &#60; &#x3C;", "<B>upper</b>", "<b>closed by </>", "<b>x <i>nested</i></b>",
])
def test_html_telegram_accepts(text):
    check_html(text)


@pytest.mark.parametrize(("text", "words"), [
    ("a < b & c", "'<' at position 3 does not start a tag"),
    ("Q&A", "'&' at position 2 is not part of an entity"),
    ("&nbsp;", "'&' at position 1"),
    ("x <br/> y", "<br/> at position 3 is not a tag Telegram supports"),
    ("<script>x</script>", "<script> at position 1 is not a tag"),
    ("<b>bold", "<b> at position 1 is never closed; add </b>."),
    ("<b><i>x</b></i>", "</b> at position 8 does not close <i> opened at position 4"),
    ("x</b>", "</b> at position 2 closes no open tag"),
    ("<span>x</span>", 'needs class="tg-spoiler"'),
    ("<tg-emoji>x</tg-emoji>", "needs an emoji-id"),
    ("<a href='x'", "<a> at position 1 has no closing '>'"),
    ("</b", "end tag at position 1 is not closed"),
])
def test_html_telegram_refuses_names_the_place(text, words):
    with pytest.raises(HTMLError) as caught:
        check_html(text)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_only_html_is_checked():
    check_text("a < b & c", None)
    check_text("a < b & c", "MarkdownV2")
    with pytest.raises(ValidationError, match="^Telegram would refuse this HTML: '<' at position 3"):
        check_text("a < b & c", "html")


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-12-02T08:00+00:00", datetime(2026, 12, 2, 8, 0, tzinfo=UTC)),
    ("2026-12-02T08:00Z", datetime(2026, 12, 2, 8, 0, tzinfo=UTC)),
    ("2026-12-02T08:00", datetime(2026, 12, 2, 8, 0, tzinfo=UTC)),         # naive: UTC
    ("2026-12-02T10:00+02:00", datetime(2026, 12, 2, 8, 0, tzinfo=UTC)),
    ("2026-12-02", datetime(2026, 12, 2, 0, 0, tzinfo=UTC)),
])
def test_at_is_iso_8601_and_naive_is_utc(value, expected):
    got = parse_at(value, NOW)
    assert got == expected and got.tzinfo == UTC


def test_at_in_the_past_or_not_a_time_is_refused():
    with pytest.raises(ValidationError, match=r"^--at 2026-12-01 17:59 UTC is in the past \(it is 2026-12-01 18:00 UTC now\)"):
        parse_at("2026-12-01T17:59Z", NOW)
    with pytest.raises(ValidationError, match="is not an ISO 8601 time"):
        parse_at("tomorrow 8am", NOW)
    assert parse_at((NOW + timedelta(minutes=1)).astimezone(timezone(timedelta(hours=-5))).isoformat(), NOW) > NOW


def test_a_narrow_terminal_stacks_the_list_and_keeps_times_and_chats_whole(monkeypatch):
    from promostack_cli import context as ctx
    from promostack_cli.outbox import table

    buf = StringIO()
    # a 60x25 terminal whatever TERM says: given a width alone, rich answers 80 columns when TERM=dumb
    monkeypatch.setattr(ctx, "out", Console(file=buf, width=60, height=25, force_terminal=True, color_system=None))
    base = {"bot": "message_bot", "method": "sendMessage", "attempts": 0, "error": None, "sent_at": None,
            "updated_at": "2026-12-01T18:00:00+00:00"}
    rows = [{**base, "id": 12, "status": "pending", "chat_id": "-1001234567890", "not_before": "2099-12-02T08:00:00+00:00",
             "text": "Gold outlook for the week ahead: resistance at 2650, support at 2600"},
            {**base, "id": 11, "status": "failed", "chat_id": "5550001", "not_before": "2026-12-01T17:00:00",
             "attempts": 3, "error": "Bad Request: chat not found", "text": "hi"}]
    table.emit("Outbox of entrylab", rows)
    out = buf.getvalue()
    assert max(len(line) for line in out.splitlines()) <= 60 and "…" not in out
    for whole in ("-1001234567890", "2099-12-02", "08:00", "message_bot", "3 tries", "2026-12-01", "18:00"):
        assert whole in out
    assert "Gold" in out and "error:" in out and "not found" in out
