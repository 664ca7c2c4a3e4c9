"""``promostack forex`` as a user runs it: offline files, config, errors, backtests, reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.acceptance.conftest import Cli, base_env
from tests.conftest import SIGNAL_TOKEN
from tests.fakes.twelvedata import FakeTwelveData
from tests.forex_fixtures import VIP, START, gold_market, uptrend

NOW = datetime(2025, 3, 4, 8, 0, 30, tzinfo=UTC)


def signal_tenant(tmp_path) -> Cli:
    """The CLI on the embedded SQLite default, with tenant entrylab and its signal bot."""
    cli = Cli(base_env(tmp_path), tmp_path)
    assert cli("tenants", "add", "entrylab").code == 0
    r = cli("-t", "entrylab", "connections", "set", "signal_bot", "--no-validate", "--username", "signals_bot",
            "--token", SIGNAL_TOKEN, "--vip-channel", VIP, "--free-channel", "@entrylab_free")
    assert r.code == 0, r.stderr
    return cli


@pytest.fixture
def run(tmp_path):
    """``signal_tenant``'s CLI, every command for tenant entrylab."""
    cli = signal_tenant(tmp_path)
    return lambda *args, **kw: cli("-t", "entrylab", *args, **kw)


def write_csv(path: Path, bars, header="datetime,open,high,low,close") -> Path:
    lines = [header] + [f"{t:%Y-%m-%d %H:%M:%S},{o},{h},{lo},{c}" for t, o, h, lo, c in bars]
    path.write_text("\n".join(lines) + "\n")
    return path


def one_line_error(r, code):
    assert r.code == code, (r.code, r.stdout, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_strategies_lists_the_built_in_and_installed_ones(tmp_path, run):
    # a package that declares a strategy through the entry point group
    site = tmp_path / "site"
    (site / "acme_strats").mkdir(parents=True)
    (site / "acme_strats" / "__init__.py").write_text(
        "from promostack_cli.forex.base_strategy import Strategy\n"
        "class Quiet(Strategy):\n    name = 'quiet'\n    description = 'Never signals.'\n"
        "    def generate(self, frames, timeframe):\n        return None\n")
    dist = site / "acme_strats-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-strats\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[promostack.strategies]\nquiet = acme_strats:Quiet\n")
    r = run("forex", "strategies", "--json", env={"PYTHONPATH": str(site)})
    assert r.code == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["raja_banks"]["source"] == "built-in" and rows["raja_banks"]["timeframes"] == "15min,1h"
    assert rows["raja_banks"]["parameters"]["sr_distance"] == 5.0
    assert rows["quiet"]["source"] == "package acme-strats" and rows["quiet"]["description"] == "Never signals."


def test_config_set_validates_and_writes_nothing_on_error(run):
    assert run("forex", "config", "set", "max_signals_per_day", "3", "raja_banks.sr_distance", "2.5").code == 0
    shown = json.loads(run("forex", "config", "show", "--json").stdout)
    assert shown["max_signals_per_day"] == 3 and shown["raja_banks.sr_distance"] == 2.5 and shown["pip_size"] == 0.1

    for args, message in [
        (("max_signals_per_day", "0"), "max_signals_per_day must be between 1 and 100, not 0"),
        (("raja_banks.tp1_percent", "60"), "tp1_percent + tp2_percent + tp3_percent must be 100"),
        (("raja_banks.london_session", "10:00-07:00"), "london_session must end after it starts"),
        (("briefing_time", "6:20am"), "briefing_time must be a UTC time like 06:20"),
        (("pip_size", "abc"), "pip_size must be a number, not 'abc'"),
        (("timeframes", "5min"), "cannot be checked on 5min"),
        (("nope", "1"), "Unknown forex config key 'nope'"),
        (("raja_banks.nope", "1"), "Strategy 'raja_banks' has no parameter 'nope'"),
        (("max_signals_per_day",), "Give keys and values in pairs"),
    ]:
        line = one_line_error(run("forex", "config", "set", *args), 2)
        assert message in line, line
    # both percentages in one call: valid together
    assert run("forex", "config", "set", "raja_banks.tp1_percent", "60", "raja_banks.tp2_percent", "20").code == 0
    after = json.loads(run("forex", "config", "show", "--json").stdout)
    assert (after["max_signals_per_day"], after["raja_banks.tp1_percent"], after["raja_banks.tp2_percent"]) == (3, 60.0, 20.0)
    assert run("forex", "config", "unset", "max_signals_per_day").code == 0
    assert json.loads(run("forex", "config", "show", "--json").stdout)["max_signals_per_day"] == 4


def test_offline_check_dry_run_shows_the_post_and_stores_nothing(tmp_path, run):
    csv = write_csv(tmp_path / "gold.csv", uptrend(START, NOW.replace(second=0) - timedelta(minutes=0), 15))
    r = run("forex", "check", "--candles", str(csv), "--dry-run")
    assert r.code == 0, r.stderr
    assert "🟢 <b>BUY XAU/USD</b> · 15min" in r.stdout and "TP3:" in r.stdout and "close 50%" in r.stdout
    assert "15min: signal: dry run" in r.stderr
    assert json.loads(run("forex", "signals", "--json").stdout) == []


def test_offline_check_stores_once_and_bad_files_leave_signals_untouched(tmp_path, run):
    good = write_csv(tmp_path / "gold.csv", uptrend(START, NOW.replace(second=0), 15))
    r = run("forex", "check", "--candles", str(good))
    assert r.code == 0 and "signal #1 stored" in r.stderr, r.stderr
    assert "signal: duplicate" in run("forex", "check", "--candles", str(good)).stderr or \
        "duplicate" in run("forex", "check", "--candles", str(good)).stderr
    before = run("forex", "signals", "--json").stdout

    bars = uptrend(START, START + timedelta(days=1), 15)
    missing = tmp_path / "missing.csv"
    missing.write_text("datetime,open,high,close\n2025-01-01 00:00:00,1,2,1.5\n")
    unsorted = write_csv(tmp_path / "unsorted.csv", [bars[1], bars[0], *bars[2:]])
    strange = tmp_path / "strange.csv"
    strange.write_text("datetime,open,high,low,close\n2025-01-01 00:00:00,1,2,0.5,x\n")
    cases = [
        (missing, "missing.csv: missing column(s) low"),
        (unsorted, "unsorted.csv:3: 2025-02-17 00:00 is earlier than the row before it"),
        (strange, "strange.csv:2: close 'x' is not a number"),
        (tmp_path / "absent.csv", "does not exist"),
    ]
    for path, message in cases:
        line = one_line_error(run("forex", "check", "--candles", str(path)), 2)
        assert message in line, line
    assert run("forex", "signals", "--json").stdout == before


def test_a_strategy_file_that_raises_gets_a_named_error_and_changes_nothing(tmp_path, run):
    strategy = tmp_path / "mine.py"
    strategy.write_text(
        "from promostack_cli.forex.base_strategy import Strategy\n"
        "class Mine(Strategy):\n    name = 'mine'\n    timeframes = ('15min', '1h')\n"
        "    signal_timeframes = ('15min',)\n"
        "    def generate(self, frames, timeframe):\n        return float(frames['1h']['close'].iloc[-1]) / 0\n")
    good = write_csv(tmp_path / "gold.csv", uptrend(START, NOW.replace(second=0), 15))
    assert run("forex", "check", "--candles", str(good)).code == 0
    before = run("forex", "signals", "--json").stdout
    later = write_csv(tmp_path / "later.csv", uptrend(START, NOW.replace(second=0) + timedelta(hours=1), 15))
    line = one_line_error(run("forex", "check", "--candles", str(later), "--strategy", f"{strategy}:Mine"), 1)
    assert line == "Error: Strategy 'mine' raised ZeroDivisionError: float division by zero"
    line = one_line_error(run("forex", "backtest", "--candles", str(later), "--strategy", f"{strategy}:Mine"), 1)
    assert "Strategy 'mine' raised ZeroDivisionError" in line
    assert run("forex", "signals", "--json").stdout == before


def test_live_check_reports_twelve_data_credit_errors_in_one_line(tmp_path, run):
    with FakeTwelveData(credits_per_minute=None, credits_per_day=None) as td:
        td.now = NOW
        gold_market(td, NOW)
        env = {"PROMOSTACK_TWELVEDATA_API_URL": td.base_url, "PROMOSTACK_TWELVEDATA_API_KEY": td.api_key}
        td.script_errors([(429, {"code": 429, "status": "error", "message": "You have run out of API credits for the "
                                 "current minute. 9 API credits were used, with the current limit being 8. Wait for the "
                                 "next minute or consider switching to a higher tier plan at https://twelvedata.com/pricing"})])
        line = one_line_error(run("forex", "check", "--now", "2025-03-04T08:00:30", env=env), 1)
        assert "credits" in line and "minute" in line and td.api_key not in line
        # the refused check had reserved its 2 credits; with a plan of 3 a day, the next check
        # (2 more) cannot start and fetches nothing
        td.requests.clear()
        line = one_line_error(run("forex", "check", "--now", "2025-03-04T08:00:40",
                                  env={**env, "PROMOSTACK_TWELVEDATA_CREDITS_PER_DAY": "3"}), 1)
        assert "credits for today (UTC) are spent (2/3 used, 2 needed); nothing was fetched" in line
        assert td.requests == []
        r = run("forex", "check", "--now", "2025-03-04T08:00:50", env=env)
        assert r.code == 0 and "signal #1 stored" in r.stderr, r.stderr
        assert not (td.api_key in r.stdout + r.stderr)
        # no key: a clear hint
        line = one_line_error(run("forex", "check"), 2)
        assert "PROMOSTACK_TWELVEDATA_API_KEY" in line and "--candles" in line


def random_walk(count: int) -> list[tuple]:
    """``count`` 15-minute gold bars from 2024-01-01 on a seeded random walk (enough signals to close some)."""
    import numpy as np

    rng = np.random.default_rng(3)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    close = 2000 + np.cumsum(rng.normal(0, 1.2, count))
    bars = []
    for i, c in enumerate(close):
        o = close[i - 1] if i else c
        bars.append((t0 + timedelta(minutes=15 * i), round(o, 2), round(max(o, c) + abs(rng.normal(0, 0.6)), 2),
                     round(min(o, c) - abs(rng.normal(0, 0.6)), 2), round(c, 2)))
    return bars


def test_backtest_outputs_metrics_trades_and_plot(tmp_path, run):
    csv = write_csv(tmp_path / "hist.csv", random_walk(8000))
    trades, plot = tmp_path / "trades.csv", tmp_path / "curve.png"
    r = run("forex", "backtest", "--candles", str(csv), "--json", "--trades", str(trades), "--plot", str(plot))
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    rows = out["trades"]
    closed = [t for t in rows if t["result"] != "open"]
    assert out["bars"] == 8000 and out["overall"]["signals"] == len(closed) > 20
    assert out["overall"]["total_pips"] == pytest.approx(sum(t["pips"] for t in closed), abs=0.2)
    wins = sum(t["pips"] > 0 for t in closed)
    assert out["overall"]["wins"] == wins
    assert out["overall"]["win_rate"] == round(100 * wins / sum(t["pips"] != 0 for t in closed), 1)
    assert trades.read_text().splitlines()[0].startswith("bar,opened_at,direction,entry,stop,tp1,tp2,tp3")
    assert len(trades.read_text().splitlines()) == len(rows) + 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --from/--to: only signals opened in the window
    r = run("forex", "backtest", "--candles", str(csv), "--json", "--from", "2024-02-01", "--to", "2024-02-15")
    window = json.loads(r.stdout)["trades"]
    assert window and all("2024-02-01" <= t["opened_at"][:10] <= "2024-02-15" for t in window)
    # a 1h backtest of the same file (1h candles built from the 15min ones)
    r = run("forex", "backtest", "--candles", str(csv), "--timeframe", "1h", "--json")
    assert r.code == 0 and json.loads(r.stdout)["bars"] == 2000
    # an hourly file: a 1h check needs no 15min candles
    real = Path(__file__).resolve().parents[1] / "data" / "xauusd_1h.csv"
    r = run("forex", "backtest", "--candles", str(real), "--timeframe", "1h", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["bars"] == 3609 and json.loads(r.stdout)["overall"]["signals"] > 100
    line = one_line_error(run("forex", "backtest", "--candles", str(real), "--timeframe", "15min"), 2)
    assert "1h candles cannot make 15min candles" in line


def test_a_chart_on_a_new_machine_uses_matplotlibs_own_fonts_and_a_cache_of_ours(tmp_path):
    """A new server: empty HOME, no matplotlib cache. The chart does not search the system's fonts (no
    fc-list, which on a big font set takes seconds) and keeps its font list in a folder of ours, so it never
    replaces the one the user's own matplotlib programs share. A user's MPLCONFIGDIR is left as they set it."""
    home, bin_dir, calls = tmp_path / "home", tmp_path / "bin", tmp_path / "fc-list.calls"
    home.mkdir()
    bin_dir.mkdir()
    fc_list = bin_dir / "fc-list"   # records that it ran; says it knows --format, lists no font
    fc_list.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n[ "$1" = --help ] && echo "  --format"\nexit 0\n')
    fc_list.chmod(0o755)
    env = {k: v for k, v in base_env(tmp_path).items()
           if k not in ("MPLCONFIGDIR", "MPL_IGNORE_SYSTEM_FONTS", "XDG_CACHE_HOME", "XDG_CONFIG_HOME")}
    env.update({"HOME": str(home), "PATH": f"{bin_dir}:{env['PATH']}"})
    cli = Cli(env, tmp_path)
    candles = write_csv(tmp_path / "hist.csv", random_walk(3000))

    r = cli("forex", "backtest", "--candles", str(candles), "--plot", str(tmp_path / "curve.png"))
    assert r.code == 0, r.stderr
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((home / ".cache" / "promostack" / "matplotlib").glob("fontlist-*.json"))
    assert not (home / ".cache" / "matplotlib").exists() and not (home / ".config" / "matplotlib").exists()
    assert not calls.exists() and "matplotlib" not in r.stderr.lower(), r.stderr

    # the user's own matplotlib set-up: their folder, their font search (fc-list included)
    mine = tmp_path / "my-mpl"
    r = cli("forex", "backtest", "--candles", str(candles), "--plot", str(tmp_path / "mine.svg"), env={"MPLCONFIGDIR": str(mine)})
    assert r.code == 0, r.stderr
    assert list(mine.glob("fontlist-*.json")) and "--format" in calls.read_text()
    assert "DejaVu Sans" in (tmp_path / "mine.svg").read_text()


def test_analytics_summarises_stored_signals(tmp_path, run):
    good = write_csv(tmp_path / "gold.csv", uptrend(START, NOW.replace(second=0), 15))
    assert run("forex", "check", "--candles", str(good)).code == 0
    sig = json.loads(run("forex", "signals", "--json").stdout)[0]
    # one minute candles that reach TP1 and TP2, then come back to TP1 (profit locked)
    e, (tp1, tp2, _) = sig["entry"], sig["targets"]
    t = datetime.fromisoformat(sig["opened_at"])
    mins = [(t, e, tp1 + 0.01, e - 0.01, tp1), (t + timedelta(minutes=1), tp1, tp2 + 0.01, tp1, tp2),
            (t + timedelta(minutes=2), tp2, tp2, tp1 - 0.01, tp1)]
    m = write_csv(tmp_path / "m1.csv", mins)
    dry = run("forex", "monitor", "--candles", str(m), "--now", (t + timedelta(minutes=3)).isoformat(), "--dry-run")
    assert dry.code == 0 and "TP1 hit" in dry.stdout and "TP2 hit" in dry.stdout and "Closed at TP1" in dry.stdout, dry.stderr
    assert json.loads(run("forex", "signal", "show", str(sig["id"]), "--json").stdout)["status"] == "open"
    r = run("forex", "monitor", "--candles", str(m), "--now", (t + timedelta(minutes=3)).isoformat())
    assert r.code == 0 and "tp1, tp2, stop (closed)" in r.stderr, r.stderr
    shown = json.loads(run("forex", "signal", "show", str(sig["id"]), "--json").stdout)
    expected = round((tp1 - e) / 0.1 * 0.5 + (tp2 - e) / 0.1 * 0.3 + (tp1 - e) / 0.1 * 0.2, 2)
    assert (shown["result"], shown["pips"]) == ("locked", pytest.approx(expected, abs=0.01))
    assert [ev["kind"] for ev in shown["events"]] == ["opened", "tp1", "tp2", "stop"]
    r = run("forex", "analytics", "--days", "36500", "--json", "--plot", str(tmp_path / "a.png"))
    data = json.loads(r.stdout)["overall"]
    assert (data["signals"], data["wins"], data["win_rate"], data["tp2_hit_rate"]) == (1, 1, 100.0, 100.0)
    assert data["total_pips"] == pytest.approx(expected, abs=0.05)
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_briefing_shows_asian_range_and_pivots(tmp_path, run):
    # Monday 3 March: H 2010, L 1990, C 2005 -> P 2001.67, R1 2013.33, S1 1993.33, R2 2021.67, S2 1981.67
    bars = []
    t = datetime(2025, 3, 3, tzinfo=UTC)
    for h in range(24):
        high, low, close = (2010, 1995, 2000) if h == 10 else (2003, 1990, 2000) if h == 14 else (2002, 1996, 2000)
        if h == 23:
            high, close = 2006, 2005
        bars.append((t + timedelta(hours=h), 2000, high, low, close))
    # Tuesday's Asian session 00:00-06:00: 2004-2012 (range 80 pips); then price 2013 at 06:00
    for h in range(6):
        bars.append((datetime(2025, 3, 4, h, tzinfo=UTC), 2006, 2012 if h == 3 else 2008, 2004 if h == 1 else 2006, 2007))
    bars.append((datetime(2025, 3, 4, 6, tzinfo=UTC), 2007, 2013.5, 2007, 2013))
    csv = write_csv(tmp_path / "h1.csv", bars)
    r = run("forex", "briefing", "--dry-run", "--candles", str(csv), "--now", "2025-03-04T07:20")
    assert r.code == 0, r.stderr
    text = r.stdout
    assert "2,004.00 – 2,012.00, range 80.0 pips" in text
    assert "10-day average 60.0 pips: a wide range (133% of average)" in text  # Monday's 00:00-06:00 range: 2002 - 1996
    assert "above the Asian high" in text
    assert "R2 2,021.67 · R1 2,013.33" in text and "P 2,001.67" in text and "S1 1,993.33 · S2 1,981.67" in text


def test_recap_lists_yesterdays_signals(tmp_path, run):
    good = write_csv(tmp_path / "gold.csv", uptrend(START, NOW.replace(second=0), 15))
    assert run("forex", "check", "--candles", str(good)).code == 0
    r = run("forex", "recap", "--day", "2025-03-04", "--dry-run")
    assert r.code == 0, r.stderr
    assert "Daily recap" in r.stdout and "#1 BUY XAU/USD @" in r.stdout and "open, 0.0 pips" in r.stdout
    assert "1 still open" in r.stdout
    r = run("forex", "recap", "--weekly", "--day", "2025-03-09", "--dry-run")
    assert "Weekly recap" in r.stdout and "No signals closed this week." in r.stdout


def test_a_metatrader_export_backtests_like_the_projects_own_file_and_the_format_is_said(tmp_path, run):
    """The real gold candles exported the MetaTrader way (tab-separated, <DATE> 2024.01.02, <TIME>)
    give the same backtest as the project's CSV; stderr says which format was read."""
    import pandas as pd

    src = Path(__file__).resolve().parents[1] / "data" / "xauusd_15min.csv"
    frame = pd.read_csv(src)
    ts = pd.to_datetime(frame["datetime"])
    mt = pd.DataFrame({"<DATE>": ts.dt.strftime("%Y.%m.%d"), "<TIME>": ts.dt.strftime("%H:%M:%S"),
                       "<OPEN>": frame["open"], "<HIGH>": frame["high"], "<LOW>": frame["low"],
                       "<CLOSE>": frame["close"], "<TICKVOL>": 100, "<VOL>": 0, "<SPREAD>": 15})
    exported = tmp_path / "XAUUSD_M15.csv"
    mt.to_csv(exported, sep="\t", index=False)
    ours = run("forex", "backtest", "--candles", str(src), "--json")
    theirs = run("forex", "backtest", "--candles", str(exported), "--json")
    assert ours.code == theirs.code == 0, theirs.stderr
    assert "XAUUSD_M15.csv: read as MetaTrader export (tab-separated), 5,825 candles" in theirs.stderr
    assert "read as" not in ours.stderr
    drop = ("seconds", "bars_per_second")
    assert {k: v for k, v in json.loads(theirs.stdout).items() if k not in drop} == \
        {k: v for k, v in json.loads(ours.stdout).items() if k not in drop}
