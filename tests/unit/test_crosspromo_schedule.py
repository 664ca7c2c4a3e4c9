"""Cross-promo schedule and settings rules, pure (no database): local times in IANA zones across
daylight-saving changes, day sets, and the checks that refuse bad settings."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from promostack_cli.core.errors import ValidationError
from promostack_cli.crosspromo.config import check, parse_days, resolve
from promostack_cli.crosspromo.posts import cta_link
from promostack_cli.crosspromo.schedule import local_instant, slots
from promostack_cli.telegram.updates import split_ref

LONDON = ZoneInfo("Europe/London")


def test_a_local_time_in_the_spring_forward_gap_runs_at_the_first_instant_after_it():
    # 29 Mar 2026: London clocks go 01:00 GMT -> 02:00 BST; 01:30 does not exist
    assert local_instant(date(2026, 3, 29), time(1, 30), LONDON) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert local_instant(date(2026, 3, 29), time(1, 30), LONDON).astimezone(LONDON).strftime("%H:%M %Z") == "02:00 BST"
    # New York: 02:30 on 8 Mar 2026 does not exist -> 03:00 EDT (07:00 UTC)
    ny = ZoneInfo("America/New_York")
    assert local_instant(date(2026, 3, 8), time(2, 30), ny) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


def test_a_local_time_that_happens_twice_runs_once_at_its_first_occurrence():
    # 25 Oct 2026: 01:30 happens at 00:30 UTC (BST) and again at 01:30 UTC (GMT)
    at = local_instant(date(2026, 10, 25), time(1, 30), LONDON)
    assert at == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    s = resolve({"morning_time": "01:30", "teaser_time": "10:00", "timezone": "Europe/London", "days": "daily"})
    day = [x for x in slots(s, datetime(2026, 10, 24, 12, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC))
           if x.kind == "morning_news" and x.local_date == date(2026, 10, 25)]
    assert len(day) == 1 and day[0].run_at == at


def test_the_same_local_time_moves_in_utc_across_the_autumn_change():
    s = resolve({"timezone": "Europe/London"})
    got = {(x.kind, x.local_date.isoformat()): x.run_at.strftime("%H:%M")
           for x in slots(s, datetime(2026, 10, 22, tzinfo=UTC), datetime(2026, 10, 28, tzinfo=UTC))}
    assert got == {("morning_news", "2026-10-22"): "08:00", ("teaser", "2026-10-22"): "09:00",
                   ("morning_news", "2026-10-23"): "08:00", ("teaser", "2026-10-23"): "09:00",
                   # the weekend (24-25 Oct, with the change) has no posts; Monday is GMT
                   ("morning_news", "2026-10-26"): "09:00", ("teaser", "2026-10-26"): "10:00",
                   ("morning_news", "2026-10-27"): "09:00", ("teaser", "2026-10-27"): "10:00"}


def test_day_sets():
    assert parse_days("mon-fri") == (0, 1, 2, 3, 4)
    assert parse_days("sat-sun") == (5, 6)
    assert parse_days("fri-mon") == (0, 4, 5, 6)
    assert parse_days("mon,wed,fri") == (0, 2, 4)
    assert parse_days("daily") == tuple(range(7))
    for bad in ("", ",", "monday", "mon-funday"):
        with pytest.raises(ValidationError):
            parse_days(bad)


@pytest.mark.parametrize("key,value,words", [
    ("timezone", "Mars/Olympus", "IANA"),
    ("timezone", "Europe", "IANA"),          # a directory of the tz database, not a zone
    ("timezone", "zone.tab", "IANA"),        # a file of it that is not a zone
    ("morning_time", "25:00", "09:00"),
    ("teaser_time", "9am", "09:00"),
    ("cta_url", "http://example.com/vip", "https://"),
    ("cta_url", "https://", "https://"),
    ("feeds", ["ftp://news.example/rss"], "https://"),
    ("free_channel", "entrylab_free", "-100"),
    ("vip_channel", "-2001234567", "-100"),
    ("days", "", "at least one day"),
    ("win_level", "tp4", "tp1, tp2, tp3"),
    ("win_delay", "soon", "duration"),
    ("late_window", "10s", "between"),
    ("max_wins_per_day", "-1", "between 0 and 20"),
    ("cta_text", "x" * 65, "1 to 64"),
])
def test_bad_settings_are_refused_with_a_reason(key, value, words):
    with pytest.raises(ValidationError) as err:
        check(key, value)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_the_message_bots_deep_link_carries_each_posts_code_and_other_links_are_left_alone():
    s = resolve({"cta_url": "https://t.me/EntryLab_Bot?start=vip"})
    assert cta_link(s, "cp1a", "entrylab_bot") == "https://t.me/EntryLab_Bot?start=vip__cp1a"
    assert split_ref("vip__cp1a") == ("vip", "cp1a")
    bare = resolve({"cta_url": "https://t.me/entrylab_bot"})
    assert cta_link(bare, "cp7", "entrylab_bot") == "https://t.me/entrylab_bot?start=cp7"
    assert split_ref("cp7") == (None, "cp7")
    other = resolve({"cta_url": "https://entrylab.example/vip?utm=free"})
    assert cta_link(other, "cp1a", "entrylab_bot") == "https://entrylab.example/vip?utm=free"
    channel = resolve({"cta_url": "https://t.me/entrylab_free"})
    assert cta_link(channel, "cp1a", "entrylab_bot") == "https://t.me/entrylab_free"
    long = resolve({"cta_url": "https://t.me/entrylab_bot?start=" + "v" * 60})
    assert cta_link(long, "cp1a", "entrylab_bot").endswith("v" * 60)  # no room under Telegram's 64: unchanged
    # a payload that merely contains "__" is not split
    assert split_ref("vip__promo") == ("vip__promo", None)


def test_deep_link_codes_are_short_base36():
    from promostack_cli.core.codes import base36
    from promostack_cli.crosspromo.service import attribution_ref

    assert [base36(n) for n in (0, 35, 36, 1295, 46656)] == ["0", "z", "10", "zz", "1000"]
    assert attribution_ref(46) == "cp1a"
    with pytest.raises(ValueError):
        base36(-1)
