"""Hostile user input: a conversation must never break, and what reaches Telegram fits its limit."""

from __future__ import annotations

import pytest

from promostack_cli.core.clock import utcnow
from promostack_cli.core.errors import ValidationError
from promostack_cli.outbox import service as outbox
from promostack_cli.outbox.models import OutboxMessage
from promostack_cli.telegram import html
from tests.fakes.telegram import parse_html

USER = 5550101


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
