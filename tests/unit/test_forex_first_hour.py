"""Pure pieces behind issue 13's forex bullets: the usual pip of a symbol, the column of a template
syntax error, the plot's curve and time axis (drawn in tests/integration/test_forex_chart.py: matplotlib's first
import builds a font cache), the timeframes a check runs on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest


@pytest.mark.parametrize("symbol, pip", [("XAU/USD", 0.1), ("EUR/USD", 0.0001), ("USD/JPY", 0.01), ("eurjpy", 0.01),
                                         ("XAG/USD", 0.01), ("GBP/CHF", 0.0001), ("BTC/USD", None), ("SPX", None)])
def test_suggested_pip_size(symbol, pip):
    from promostack_cli.forex.config import suggested_pip_size

    assert suggested_pip_size(symbol) == pip


def test_pip_size_warning_only_when_the_symbol_moves_without_its_pip():
    from promostack_cli.forex.config import pip_size_warning, resolve

    gold = resolve({})
    assert pip_size_warning(gold, resolve({"symbol": "EUR/USD"}), {"symbol": "EUR/USD"}) == (
        "pip_size is still 0.1, which does not suit EUR/USD (usually 0.0001). Set it: forex config set pip_size 0.0001")
    assert pip_size_warning(gold, resolve({"symbol": "EUR/USD", "pip_size": 0.0001}), {"symbol": "EUR/USD", "pip_size": "0.0001"}) is None
    assert pip_size_warning(gold, resolve({"symbol": "XAU/USD"}), {"symbol": "XAU/USD"}) is None
    assert "check that it suits BTC/USD" in pip_size_warning(gold, resolve({"symbol": "BTC/USD"}), {"symbol": "BTC/USD"})


@pytest.mark.parametrize("source, expected", [
    ("a\n{{ s.entry }\nb", "line 2, column 12: unexpected '}'"),
    ('{% if x == "B" %}y{% endif %} {{ s.d } {{ s.e }}', "line 1, column 38: unexpected '}'"),
    ("x {{ price(s.entry }} y", "line 1, column 20: unexpected '}', expected ')'"),
    ("zz\n  {% if x %}\nabc\n", "line 2, column 3: Unexpected end of template."),
    ("ab {%- endfo %}", "line 1, column 8: Encountered unknown tag 'endfo'."),
    ("{{ x | nofilter }}", "line 1, column 8: No filter named 'nofilter'."),
    ("ok {{ a b }}", "line 1, column 9: expected token 'end of print statement', got 'b'"),
])
def test_a_template_syntax_error_names_line_and_column(source, expected):
    from jinja2 import Environment, TemplateSyntaxError

    from promostack_cli.text.templates import syntax_error_message

    env = Environment()
    with pytest.raises(TemplateSyntaxError) as info:
        env.from_string(source)
    message = syntax_error_message(info.value, "t.j2", env)
    assert message.startswith(f"Template t.j2 {expected}") and "\n" not in message


def test_the_curve_starts_at_zero_when_the_first_signal_opened_and_its_times_are_utc():
    from promostack_cli.forex.metrics import Closed, curve

    t0 = datetime(2026, 5, 10, 8, tzinfo=UTC)
    paris = timezone(timedelta(hours=2))
    trades = [Closed(t0 + timedelta(days=2), t0 + timedelta(days=2, hours=1), -4.0, 0, "stop"),
              Closed(t0, t0 + timedelta(hours=3), 10.0, 1, "tp3"),
              Closed(t0 + timedelta(days=1), (t0 + timedelta(days=1, hours=5)).astimezone(paris), 2.5, 1, "locked")]
    xs, ys = curve(trades)
    assert xs == [t0, t0 + timedelta(hours=3), t0 + timedelta(days=1, hours=5), t0 + timedelta(days=2, hours=1)]
    assert all(x.utcoffset() == timedelta(0) for x in xs)
    assert ys == [0.0, 10.0, 12.5, 8.5]
    assert curve([]) == ([], [])
    with pytest.raises(ValueError, match="naive"):  # one time type: a naive time is a bug upstream, not UTC
        curve([Closed(t0.replace(tzinfo=None), t0.replace(tzinfo=None), 1.0, 1, "tp3")])


def test_the_time_axis_always_shows_the_year_and_the_hour_only_over_three_days_or_less():
    from promostack_cli.forex.metrics import TIME_LABEL, time_format

    t0 = datetime(2026, 5, 10, 8, tzinfo=UTC)
    assert TIME_LABEL == "Time (UTC)"
    assert t0.strftime(time_format([t0, t0 + timedelta(days=8)])) == "2026-05-10"
    assert t0.strftime(time_format([t0, t0 + timedelta(days=3)])) == "2026-05-10 08:00"
    assert t0.strftime(time_format([t0])) == "2026-05-10 08:00"


def test_charts_use_matplotlibs_own_fonts_with_a_cache_of_ours_unless_the_user_set_matplotlib_up():
    from promostack_cli.forex.metrics import chart_environment

    cache = Path("/home/ops/.cache")
    assert chart_environment({"HOME": "/home/ops"}, cache) == {
        "MPLCONFIGDIR": "/home/ops/.cache/promostack/matplotlib", "MPL_IGNORE_SYSTEM_FONTS": "1"}
    # their MPLCONFIGDIR: their fonts and cache, untouched; their own MPL_IGNORE_SYSTEM_FONTS is kept too
    assert chart_environment({"MPLCONFIGDIR": "/srv/mpl"}, cache) == {}
    assert chart_environment({"MPL_IGNORE_SYSTEM_FONTS": ""}, cache) == {"MPLCONFIGDIR": "/home/ops/.cache/promostack/matplotlib"}


def test_check_runs_the_configured_timeframes_unless_one_is_given():
    from promostack_cli.forex.cli import Timeframe, _timeframes_to_check
    from promostack_cli.forex.config import resolve

    cfg = resolve({"timeframes": "1h"})

    class Only15:
        signal_timeframes = ("15min",)

    assert _timeframes_to_check(None, resolve({}), None) == ["15min", "1h"]
    assert _timeframes_to_check(None, cfg, None) == ["1h"]
    assert _timeframes_to_check(Timeframe.m15, cfg, None) == ["15min"]
    assert _timeframes_to_check(None, resolve({}), Only15()) == ["15min"]
    assert _timeframes_to_check(None, cfg, Only15()) == ["15min"]
