"""The forex commands in a new operator's first hour, through the installed ``promostack``: the global
--json honoured everywhere, a symbol change that leaves the gold pip size behind, templates_dir and
broken templates named by file, line and column, check on the configured timeframes, every tick
error listed, --csv exports and plots that say what they show (issue 13)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.acceptance.conftest import one_line
from tests.acceptance.test_forex_cli import signal_tenant, write_csv
from tests.conftest import SIGNAL_TOKEN
from tests.forex_fixtures import START, VIP, uptrend

NOW = datetime(2025, 3, 4, 8, 0, 30, tzinfo=UTC)


@pytest.fixture
def cli(tmp_path):
    """The CLI on the embedded SQLite default with tenant entrylab and its signal bot."""
    return signal_tenant(tmp_path)


def test_config_templates_and_reports_honour_json_and_templates_are_checked(cli, tmp_path):
    run = lambda *args: cli("-t", "entrylab", *args)  # noqa: E731
    # the global --json: config set prints the resulting config; the gold pip size left behind is warned about
    r = cli("--json", "-t", "entrylab", "forex", "config", "set", "symbol", "EUR/USD")
    assert r.code == 0, r.stderr
    assert (r.json()["symbol"], r.json()["pip_size"]) == ("EUR/USD", 0.1)
    assert r.stderr.splitlines()[0] == ("Warning: pip_size is still 0.1, which does not suit EUR/USD (usually 0.0001). "
                                        "Set it: promostack -t entrylab forex config set pip_size 0.0001")
    r = cli("--json", "-t", "entrylab", "forex", "config", "set", "symbol", "USD/JPY", "pip_size", "0.01")
    assert r.code == 0 and "Warning" not in r.stderr and r.json()["pip_size"] == 0.01
    r = cli("--json", "-t", "entrylab", "forex", "config", "unset", "symbol", "pip_size")
    assert r.code == 0 and (r.json()["symbol"], r.json()["pip_size"]) == ("XAU/USD", 0.1)
    # templates: the list
    r = cli("--json", "forex", "templates", "tpl")
    assert r.code == 0, r.stderr
    assert [(t["name"], t["written"]) for t in r.json()] == [(n, True) for n in (
        "signal.j2", "update.j2", "briefing.j2", "daily_recap.j2", "weekly_recap.j2")]
    assert r.json()[0]["path"] == str(tmp_path / "tpl" / "signal.j2")

    # templates_dir: an existing directory whose templates compile, else one line, exit 2, nothing stored
    (tmp_path / "afile").write_text("x")
    signal = tmp_path / "tpl" / "signal.j2"
    good = signal.read_text()
    signal.write_text(good.replace("{{ s.direction }}", "{{ s.direction }", 1))
    broken_line = next(i for i, line in enumerate(signal.read_text().splitlines(), 1) if "{{ s.direction }" in line)
    column = signal.read_text().splitlines()[broken_line - 1].index("{{ s.direction }") + len("{{ s.direction ") + 1
    for value, expected in (
        ("nope", f"Error: templates_dir {tmp_path / 'nope'} does not exist. Write the built-in templates there to "
                 f"edit: promostack forex templates {tmp_path / 'nope'}"),
        ("afile", f"Error: templates_dir {tmp_path / 'afile'} is not a directory."),
        ("tpl", f"Error: Template {signal} line {broken_line}, column {column}: unexpected '}}'"),
    ):
        assert one_line(run("forex", "config", "set", "templates_dir", value), 2) == expected
    assert run("forex", "config", "show", "--json").json()["templates_dir"] == ""
    signal.write_text(good)
    assert run("forex", "config", "set", "templates_dir", "tpl").code == 0   # typed relative, stored absolute
    assert run("forex", "config", "show", "--json").json()["templates_dir"] == str(tmp_path / "tpl")

    # recap and briefing with --json: the text and what it was built from
    r = cli("--json", "-t", "entrylab", "forex", "recap", "--day", "2025-03-04", "--dry-run")
    assert r.code == 0, r.stderr
    out = r.json()
    assert (out["kind"], out["period"], out["queued"]) == ("forex_daily_recap", "2025-03-04", False)
    assert out["text"].endswith("No signals yesterday.") and out["data"]["signals"] == []
    assert out["data"]["totals"]["signals"] == 0
    bars = [(datetime(2025, 3, 3, tzinfo=UTC) + timedelta(hours=h), 2000, 2002, 1996, 2000) for h in range(24)]
    bars += [(datetime(2025, 3, 4, h, tzinfo=UTC), 2006, 2012 if h == 3 else 2008, 2004 if h == 1 else 2006, 2007)
             for h in range(7)]
    h1 = write_csv(tmp_path / "h1.csv", bars)
    r = cli("--json", "-t", "entrylab", "forex", "briefing", "--dry-run", "--candles", str(h1), "--now", "2025-03-04T07:20")
    assert r.code == 0, r.stderr
    out = r.json()
    assert out["kind"] == "forex_briefing" and "range 80.0 pips" in out["text"]
    assert (out["data"]["asian"]["high"], out["data"]["asian"]["low"], out["data"]["pivots"]["p"]) == (2012.0, 2004.0, 6000 / 3 - 2 / 3)

    # a template broken after it was set: the render names the file, line and column, exit 2
    recap = tmp_path / "tpl" / "daily_recap.j2"
    recap.write_text(recap.read_text().replace("{% if not signals %}", "{% if not signals %}{% endfo %}", 1))
    line = one_line(run("forex", "recap", "--day", "2025-03-04", "--dry-run"), 2)
    assert line == (f"Error: Template {recap} line 2, column 24: Encountered unknown tag 'endfo'. Jinja was looking for "
                    "the following tags: 'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'.")


def test_check_uses_the_configured_timeframes_and_signals_and_analytics_export_csv_and_plot(cli, tmp_path):
    run = lambda *args, **kw: cli("-t", "entrylab", *args, **kw)  # noqa: E731
    good = write_csv(tmp_path / "gold.csv", uptrend(START, NOW.replace(second=0), 15))
    r = run("forex", "check", "--candles", str(good), "--json")   # no --timeframe: the config's 15min,1h
    assert r.code == 0, r.stderr
    assert [(o["timeframe"], o["status"]) for o in r.json()][0] == ("15min", "signal")
    assert [o["timeframe"] for o in r.json()] == ["15min", "1h"]
    sig = run("forex", "signals", "--json").json()[0]

    # --plot with no closed signal: one line, exit 1, no file
    plot = tmp_path / "curve.png"
    r = run("forex", "analytics", "--days", "36500", "--plot", str(plot))
    assert r.code == 1 and not plot.exists()
    assert r.stderr.strip().splitlines()[-1] == f"Error: No closed signals in the last 36500 days: nothing to plot, {plot} not written."
    assert one_line(run("forex", "signals", "--csv", "--json"), 2) == "Error: --csv and --json cannot be used together; pick one."

    # close it (TP1, TP2, back to TP1), then export
    e, (tp1, tp2, _) = sig["entry"], sig["targets"]
    t = datetime.fromisoformat(sig["opened_at"])
    m1 = write_csv(tmp_path / "m1.csv", [(t, e, tp1 + 0.01, e - 0.01, tp1), (t + timedelta(minutes=1), tp1, tp2 + 0.01, tp1, tp2),
                                         (t + timedelta(minutes=2), tp2, tp2, tp1 - 0.01, tp1)])
    assert run("forex", "monitor", "--candles", str(m1), "--now", (t + timedelta(minutes=3)).isoformat()).code == 0
    shown = run("forex", "signal", "show", str(sig["id"]), "--json").json()
    r = run("forex", "signals", "--csv")
    assert r.code == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 1 and list(rows[0])[:3] == ["id", "strategy", "symbol"]
    row = rows[0]
    assert {"tp1", "tp2", "tp3", "tp1_percent", "indicators", "reason", "close_price", "expires_at"} <= set(row)
    assert float(row["entry"]) == shown["entry"] and float(row["pips"]) == shown["pips"]   # unrounded
    assert row["pips"] == repr(shown["pips"]) and float(row["tp2"]) == tp2
    assert row["opened_at"] == t.astimezone(UTC).isoformat().replace("+00:00", "Z") and row["closed_at"].endswith("Z")
    assert json.loads(row["indicators"]) == shown["indicators"]
    r = run("forex", "analytics", "--days", "36500", "--csv")
    assert r.code == 0, r.stderr
    table = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [t["group"] for t in table] == ["All", "raja_banks 15min"]
    assert (table[0]["signals"], table[0]["wins"], float(table[0]["total_pips"])) == ("1", "1", round(shown["pips"], 1))
    # an SVG plot (text searchable): the time axis says UTC and its dates carry the year
    svg = tmp_path / "curve.svg"
    r = run("forex", "analytics", "--days", "36500", "--plot", str(svg))
    assert r.code == 0, r.stderr
    text = svg.read_text()
    assert "Time (UTC)" in text and f"{t:%Y-%m-%d}" in text
    # a table piped narrow does not cut a timestamp
    r = run("forex", "signals", env={"COLUMNS": "40"})
    assert f"{t:%Y-%m-%d %H:%M}" in r.stdout


def test_tick_lists_every_tenants_error_and_its_help_names_only_its_options(cli):
    assert cli("tenants", "add", "goldlab").code == 0
    assert cli("-t", "goldlab", "connections", "set", "signal_bot", "--no-validate", "--username", "gold_bot",
               "--token", SIGNAL_TOKEN.replace("001", "002"), "--vip-channel", VIP, "--free-channel", "@gold_free").code == 0
    # no Twelve Data key: each tenant's checks and its briefing fail (four errors, none dropped)
    r = cli("forex", "tick", "--dry-run", "--now", NOW.isoformat())
    assert r.code == 1, r.stderr
    lines = r.stderr.splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", line) for line in lines), r.stderr  # cron log
    errors = [line[21:] for line in lines if line[21:].startswith("Error: ")]
    hint = ("Twelve Data API key not set: set PROMOSTACK_TWELVEDATA_API_KEY (check, backtest and monitor "
            "also read a candle file: --candles FILE.csv).")
    assert errors == [f"Error: {slug}: {step}: {hint}" for slug in ("entrylab", "goldlab") for step in ("checks", "reports")]
    assert "more)" not in r.stderr and "Traceback" not in r.stderr and SIGNAL_TOKEN not in r.stderr
    # 06:35: the briefing (needs candles) fails, the daily recap (needs none) still goes out
    r = cli("-t", "entrylab", "forex", "tick", "--dry-run", "--now", "2025-03-04T06:35:00Z")
    assert r.code == 1 and "entrylab: daily recap for 2025-03-03: dry run" in r.stderr, r.stderr
    assert [line[21:] for line in r.stderr.splitlines() if " Error: " in line] == [f"Error: entrylab: reports: {hint}"]
    help_text = cli("forex", "tick", "--help", env={"COLUMNS": "100"}).stdout
    assert "--candles" not in help_text and "--tenant" not in help_text
    assert "* * * * * promostack forex tick" in help_text and "promostack -t entrylab forex tick" in help_text
