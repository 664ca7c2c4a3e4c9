"""Candle files as people export them: each common format is detected, said, and read to the same
UTC candles; a file that is almost right gets a message that says what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from promostack_cli.core.errors import ValidationError
from promostack_cli.forex import candles

BARS = [("2024-01-02 00:00", 2063.1, 2065.4, 2061.0, 2064.2), ("2024-01-02 00:15", 2064.2, 2066.0, 2063.5, 2065.9),
        ("2024-01-02 00:30", 2065.9, 2066.3, 2064.1, 2064.8)]
EXPECTED_INDEX = [datetime(2024, 1, 2, 0, m, tzinfo=UTC) for m in (0, 15, 30)]


def read(tmp_path, text: str, name: str = "gold.csv"):
    path = tmp_path / name
    path.write_text(text)
    said: list[str] = []
    frame = candles.read_csv(path, note=said.append)
    return frame, said


def same_candles(frame):
    assert list(frame.index) == EXPECTED_INDEX
    assert frame["close"].tolist() == [b[4] for b in BARS] and frame["high"].tolist() == [b[2] for b in BARS]


def test_pandas_default_to_csv(tmp_path):
    df = pd.DataFrame([b[1:] for b in BARS], columns=["Open", "High", "Low", "Close"],
                      index=pd.DatetimeIndex([b[0] for b in BARS]))
    df["Volume"] = 10
    frame, said = read(tmp_path, df.to_csv())
    same_candles(frame)
    assert said == ["gold.csv: read as pandas to_csv (comma-separated), 3 candles"]


@pytest.mark.parametrize("sep,label", [(",", "comma"), ("\t", "tab")])
def test_metatrader_history_exports(tmp_path, sep, label):
    head = sep.join(["<DATE>", "<TIME>", "<OPEN>", "<HIGH>", "<LOW>", "<CLOSE>", "<TICKVOL>", "<VOL>", "<SPREAD>"])
    rows = [sep.join([t[:10].replace("-", "."), t[11:] + ":00", *map(str, v), "120", "0", "12"]) for t, *v in BARS]
    frame, said = read(tmp_path, "\n".join([head, *rows]) + "\n", "XAUUSD_M15.csv")
    same_candles(frame)
    assert said == [f"XAUUSD_M15.csv: read as MetaTrader export ({label}-separated), 3 candles"]


def test_twelve_data_export_newest_first_is_sorted_and_said(tmp_path):
    rows = [f"{t}:00;{o};{h};{lo};{c};0" for t, o, h, lo, c in reversed(BARS)]
    frame, said = read(tmp_path, "datetime;open;high;low;close;volume\n" + "\n".join(rows) + "\n")
    same_candles(frame)
    assert said == ["gold.csv: read as Twelve Data export (semicolon-separated), 3 candles; rows were newest "
                    "first, sorted oldest first"]


def test_yahoo_export(tmp_path):
    rows = [f"{t},{o},{h},{lo},{c},{c},1000" for t, o, h, lo, c in BARS]
    frame, said = read(tmp_path, "Date,Open,High,Low,Close,Adj Close,Volume\n" + "\n".join(rows) + "\n")
    same_candles(frame)
    assert said[0].startswith("gold.csv: read as Yahoo export")


def test_dukascopy_gmt_time_and_local_time_with_its_offset(tmp_path):
    def dukas(t: str) -> str:
        return f"{t[8:10]}.{t[5:7]}.{t[:4]} {t[11:]}:00.000"

    rows = [f"{dukas(t)},{o},{h},{lo},{c},1.5" for t, o, h, lo, c in BARS]
    frame, said = read(tmp_path, "Gmt time,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")
    same_candles(frame)
    assert said[0].startswith("gold.csv: read as Dukascopy export")
    # the same candles exported in local time, two hours ahead, with the offset written out
    local = [f"{dukas(t.replace(' 00:', ' 02:'))} GMT+0200,{o},{h},{lo},{c},1.5" for t, o, h, lo, c in BARS]
    frame, _ = read(tmp_path, "Local time,Open,High,Low,Close,Volume\n" + "\n".join(local) + "\n")
    same_candles(frame)
    naive = [f"{dukas(t)},{o},{h},{lo},{c},1.5" for t, o, h, lo, c in BARS]
    with pytest.raises(ValidationError, match=r"^gold\.csv:2: 'Local time' without a UTC offset"):
        read(tmp_path, "Local time,Open,High,Low,Close,Volume\n" + "\n".join(naive) + "\n")


def test_offsets_and_z_are_converted_and_naive_times_are_utc(tmp_path):
    frame, said = read(tmp_path, "datetime,open,high,low,close\n"
                              "2024-01-02T02:00:00+02:00,2063.1,2065.4,2061.0,2064.2\n"
                              "2024-01-02T00:15:00Z,2064.2,2066.0,2063.5,2065.9\n"
                              "2024-01-02 00:30,2065.9,2066.3,2064.1,2064.8\n")
    same_candles(frame)
    assert said == []   # the project's own format is read without a word


def test_a_separator_the_header_does_not_use_is_named(tmp_path):
    rows = [f"{t};{o};{h};{lo};{c}" for t, o, h, lo, c in BARS]
    with pytest.raises(ValidationError) as err:
        read(tmp_path, "datetime,open,high,low,close\n" + "\n".join(rows) + "\n")
    assert str(err.value) == ("gold.csv: the header is comma-separated but the rows are semicolon-separated; "
                              "use one separator throughout.")


def test_duplicates_and_unsorted_rows_keep_their_file_and_line(tmp_path):
    def csv(bars):
        return "datetime,open,high,low,close\n" + "\n".join(",".join(map(str, b)) for b in bars) + "\n"

    with pytest.raises(ValidationError, match=r"^gold\.csv:4: 2024-01-02 00:15 repeats the previous time"):
        read(tmp_path, csv([BARS[0], BARS[1], BARS[1]]))
    with pytest.raises(ValidationError, match=r"^gold\.csv:4: 2024-01-02 00:00 is earlier than the row before it"):
        read(tmp_path, csv([BARS[1], BARS[2], BARS[0]]))
