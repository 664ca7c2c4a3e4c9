"""Pure pieces behind issue 13's forex bullets: the usual pip of a symbol, the column of a template
syntax error, the plot's time axis, the timeframes a check runs on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


def test_the_plot_labels_time_in_utc_with_the_year():
    import matplotlib.pyplot as plt

    from promostack_cli.forex.metrics import Closed, figure

    t0 = datetime(2026, 5, 10, 8, tzinfo=UTC)
    trades = [Closed(t0 + timedelta(days=d), t0 + timedelta(days=d, hours=3), 10.0 - d, 1, "tp3") for d in range(8)]
    fig = figure(trades, "t")
    try:
        ax = fig.axes[0]
        fig.canvas.draw()
        labels = [lbl.get_text() for lbl in ax.get_xticklabels() if lbl.get_text()]
        assert ax.get_xlabel() == "Time (UTC)"
        assert labels and all(lbl.startswith("2026-05-") and len(lbl) == 10 for lbl in labels)
        assert list(ax.lines[0].get_ydata())[:2] == [0.0, 10.0]   # starts at 0 when the first signal opened
    finally:
        plt.close(fig)


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
