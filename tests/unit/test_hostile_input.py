"""Hostile input, the pure parts: long texts split at safe boundaries into valid Telegram HTML, and
oversized journey files refused by the parser (tests/integration and tests/acceptance have the rest)."""

from __future__ import annotations

import pytest

from promostack_cli.telegram import html
from tests.fakes.telegram import parse_html


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
