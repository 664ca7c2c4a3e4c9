"""promostack_cli.text: how figures are shown, what fits Telegram, and the template writer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from promostack_cli.core.errors import ValidationError
from promostack_cli.text.facts import Facts, Numbers
from promostack_cli.text.fit import CAPTION, MESSAGE, TooLong, refusal, require_fit
from promostack_cli.text.writer import TemplateWriter, writer_for


def test_figures_show_at_the_instruments_precision_with_signs_and_direction():
    gold, eurusd = Numbers(0.1, entry=2412.35, direction="BUY"), Numbers(0.0001, entry=1.08345, direction="SELL")
    assert (gold.price(2412.3), gold.price(None), eurusd.price(1.082)) == ("2,412.30", "—", "1.08200")
    assert (gold.pips(2416.0), eurusd.pips(1.0820)) == (36.5, 14.5)  # a SELL gains as the price falls
    assert [gold.signed(v) for v in (36.54, -73.5, 0.04, -0.04, None)] == ["+36.5", "-73.5", "0.0", "0.0", "—"]
    assert (gold.pct(50.0), gold.pct(33.3)) == ("50", "33.3")


def test_a_text_fits_as_telegram_counts_it_and_says_by_how_much_it_does_not():
    emoji = "🚀" * 2048  # 2 UTF-16 units each: 4,096
    assert require_fit(emoji) == emoji and require_fit("<b>" + "x" * 4096 + "</b>") == "<b>" + "x" * 4096 + "</b>"
    assert require_fit("&amp;" * 4096)  # an entity counts as the one character it shows
    with pytest.raises(TooLong, match=r"^The message is 4098 characters; Telegram allows 4096\.$") as info:
        require_fit(emoji + "🚀")
    assert isinstance(info.value, ValidationError) and (info.value.length, info.value.limit) == (4098, MESSAGE)
    with pytest.raises(TooLong, match=r"^The caption is 1025 characters; Telegram allows 1024\.$"):
        require_fit("x" * 1025, CAPTION)


def test_refusal_names_what_telegram_would_refuse():
    assert refusal("<b>Gold</b> &amp; silver") is None
    assert refusal(" <b> </b> ") == "The text is empty."
    assert "is not a tag Telegram supports" in refusal("<br>Gold")
    assert "is not part of an entity" in refusal("Gold & silver")
    assert refusal("x" * 1025, CAPTION) == "The caption is 1025 characters; Telegram allows 1024."


def _win_facts(disclaimer: str) -> Facts:
    from types import SimpleNamespace

    signal = SimpleNamespace(direction="BUY", symbol="XAU/USD", timeframe="15min", entry=2400.0, initial_stop=2397.0,
                             targets=[2402.5, 2405.0, 2410.0])
    return Facts({"s": signal, "level": 1, "gained": 12.5, "disclaimer": disclaimer}, Numbers(0.1))


def test_the_template_writer_writes_a_post_and_a_caption_sized_one_or_says_it_does_not_fit():
    from promostack_cli.crosspromo.posts import TEXTS

    writer = TemplateWriter(TEXTS)
    written = writer.write("win", _win_facts("Trading involves risk."))
    assert (written.source, written.note) == ("template", None)
    assert written.text.startswith("✅ <b>VIP signal: TP1 hit</b>") and "<b>+12.5 pips</b> banked" in written.text
    assert writer.write("win", _win_facts("Risk."), limit=CAPTION).text.endswith("<i>Risk.</i>")
    long = _win_facts("Risk. " * 160)
    assert writer.write("win", long).text  # a message holds it
    with pytest.raises(TooLong, match="^The caption is"):
        writer.write("win", long, limit=CAPTION)


def test_a_tenants_directory_overrides_a_template_by_name_and_a_broken_one_names_line_and_column(tmp_path):
    from promostack_cli.forex.messages import TEXTS

    (tmp_path / "briefing.j2").write_text("Briefing {{ symbol }} at {{ price(last) }}\n")
    writer = writer_for(None, TEXTS, str(tmp_path))
    facts = Facts({"symbol": "XAU/USD", "last": 2412.3}, Numbers(0.1))
    assert writer.write("briefing", facts).text == "Briefing XAU/USD at 2,412.30"
    assert TemplateWriter(TEXTS).write("daily_recap", Facts({"day": datetime(2025, 3, 4, tzinfo=UTC), "signals": [],
                                                             "totals": {}})).text.endswith("No signals yesterday.")
    (tmp_path / "teaser.j2").write_text("Hi\n{{ signals }\n")
    from promostack_cli.crosspromo.posts import TEXTS as PROMO

    with pytest.raises(ValidationError, match=r"^Template .*teaser\.j2 line 2, column 12: unexpected '}'$"):
        TemplateWriter(PROMO, str(tmp_path)).write("teaser", Facts({}))
