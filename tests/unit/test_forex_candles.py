"""Candles as frames (promostack_cli/forex/candles.py): CSV loading and its errors, interval
inference, resampling and the closed-bars-only rule. Pure: no database, no network."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from promostack_cli.core.errors import ValidationError
from promostack_cli.forex import candles

HEADER = "datetime,open,high,low,close\n"


def write(tmp_path, text: str, name: str = "gold.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def frame(rows) -> pd.DataFrame:
    """rows: (iso time, open, high, low, close)."""
    return candles.frame_from_rows([(pd.Timestamp(t, tz="UTC"), o, h, lo, c) for t, o, h, lo, c in rows])


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# ------------------------------------------------------------------ read_csv: the good cases

def test_read_csv_loads_rows_as_utc_float_frame(tmp_path):
    path = write(tmp_path, HEADER + "2024-03-05 10:00:00,2150.10,2152.30,2149.80,2151.95\n"
                                    "2024-03-05 10:15:00,2151.95,2153.00,2150.40,2150.60\n")
    f = candles.read_csv(path)
    assert list(f.columns) == ["open", "high", "low", "close"]
    assert list(f.index) == [utc("2024-03-05 10:00"), utc("2024-03-05 10:15")]
    assert str(f.index.tz) == "UTC"
    assert f.iloc[0].tolist() == [2150.10, 2152.30, 2149.80, 2151.95]
    assert f.iloc[1].tolist() == [2151.95, 2153.00, 2150.40, 2150.60]
    assert all(str(t) == "float64" for t in f.dtypes)


def test_read_csv_ignores_extra_columns_and_header_case(tmp_path):
    path = write(tmp_path, "Volume, DateTime,OPEN,High, low,Close,Symbol\n"
                           "100,2024-03-05 10:00,1.0850,1.0860,1.0845,1.0855,EURUSD\n"
                           "200,2024-03-05 11:00,1.0855,1.0870,1.0850,1.0866,EURUSD\n")
    f = candles.read_csv(path)
    assert list(f.columns) == ["open", "high", "low", "close"]
    assert f["close"].tolist() == [1.0855, 1.0866]
    assert list(f.index) == [utc("2024-03-05 10:00"), utc("2024-03-05 11:00")]


def test_read_csv_converts_offsets_to_utc(tmp_path):
    path = write(tmp_path, HEADER + "2024-03-05T10:00:00+02:00,1,2,0.5,1.5\n"
                                    "2024-03-05T03:15:00-05:00,1,2,0.5,1.5\n"
                                    "2024-03-05 08:30:00,1,2,0.5,1.5\n")
    f = candles.read_csv(path)
    # 10:00+02:00 = 08:00Z, 03:15-05:00 = 08:15Z, no offset = UTC
    assert list(f.index) == [utc("2024-03-05 08:00"), utc("2024-03-05 08:15"), utc("2024-03-05 08:30")]


# ------------------------------------------------------------------ read_csv: errors name the file and line

def test_read_csv_missing_file(tmp_path):
    with pytest.raises(ValidationError, match="does not exist"):
        candles.read_csv(tmp_path / "nope.csv")


def test_read_csv_missing_one_column(tmp_path):
    path = write(tmp_path, "datetime,open,high,close\n2024-03-05 10:00,1,2,1.5\n")
    with pytest.raises(ValidationError) as exc:
        candles.read_csv(path)
    msg = str(exc.value)
    assert msg.startswith("gold.csv: missing column(s) low;")
    assert "datetime,open,high,low,close" in msg


def test_read_csv_missing_several_columns(tmp_path):
    path = write(tmp_path, "time,high,close\n2024-03-05 10:00,2,1.5\n")   # "time" is a time column
    with pytest.raises(ValidationError, match=r"^gold\.csv: missing column\(s\) open, low; found time, high, close"):
        candles.read_csv(path)
    path = write(tmp_path, "open,high,low,close\n1,2,0.5,1.5\n")
    with pytest.raises(ValidationError, match=r"^gold\.csv: no time column"):
        candles.read_csv(path)


def test_read_csv_header_only(tmp_path):
    path = write(tmp_path, HEADER)
    with pytest.raises(ValidationError, match=r"^gold\.csv: has a header but no rows\.$"):
        candles.read_csv(path)


def test_read_csv_empty_file(tmp_path):
    path = write(tmp_path, "")
    with pytest.raises(ValidationError, match=r"^gold\.csv: not a readable CSV file"):
        candles.read_csv(path)


def test_read_csv_bad_date_names_line(tmp_path):
    path = write(tmp_path, HEADER + "2024-03-05 10:00,1,2,0.5,1.5\n"
                                    "2024-03-05 10:15,1,2,0.5,1.5\n"
                                    "2024-13-45 10:30,1,2,0.5,1.5\n")
    with pytest.raises(ValidationError) as exc:
        candles.read_csv(path)
    assert str(exc.value) == "gold.csv:4: '2024-13-45 10:30' is not a date and time like 2025-03-04 07:45:00 (UTC)."


def test_read_csv_bad_number_names_line_and_column(tmp_path):
    path = write(tmp_path, HEADER + "2024-03-05 10:00,1,2,0.5,1.5\n"
                                    "2024-03-05 10:15,1,2.x,0.5,1.5\n")
    with pytest.raises(ValidationError) as exc:
        candles.read_csv(path)
    assert str(exc.value) == "gold.csv:3: high '2.x' is not a number."


def test_read_csv_infinite_number_rejected(tmp_path):
    path = write(tmp_path, HEADER + "2024-03-05 10:00,1,inf,0.5,1.5\n")
    with pytest.raises(ValidationError, match=r"^gold\.csv:2: high 'inf' is not a number\.$"):
        candles.read_csv(path)


def test_read_csv_empty_cell_is_not_reported_as_nan(tmp_path):
    path = write(tmp_path, HEADER + "2024-03-05 10:00,1,2,0.5,1.5\n"
                                    "2024-03-05 10:15,1,2,0.5,\n")
    with pytest.raises(ValidationError) as exc:
        candles.read_csv(path)
    assert str(exc.value).startswith("gold.csv:3: close")
    assert "'nan'" not in str(exc.value)


def test_read_csv_unsorted_rows(tmp_path):
    path = write(tmp_path, HEADER + "2024-03-05 10:00,1,2,0.5,1.5\n"
                                    "2024-03-05 10:30,1,2,0.5,1.5\n"
                                    "2024-03-05 10:15,1,2,0.5,1.5\n")
    with pytest.raises(ValidationError) as exc:
        candles.read_csv(path)
    assert str(exc.value) == ("gold.csv:4: 2024-03-05 10:15 is earlier than the row before it; "
                              "rows must be in ascending time order without duplicates.")


def test_read_csv_duplicate_timestamp(tmp_path):
    path = write(tmp_path, HEADER + "2024-03-05 10:00,1,2,0.5,1.5\n"
                                    "2024-03-05 10:15,1,2,0.5,1.5\n"
                                    "2024-03-05 10:15,1,2,0.5,1.5\n"
                                    "2024-03-05 10:30,1,2,0.5,1.5\n")
    with pytest.raises(ValidationError) as exc:
        candles.read_csv(path)
    assert str(exc.value).startswith("gold.csv:4: 2024-03-05 10:15 repeats the previous time;")


def test_read_csv_duplicate_after_timezone_conversion(tmp_path):
    # 12:00+02:00 is 10:00Z, the same bar as the first row
    path = write(tmp_path, HEADER + "2024-03-05 10:00,1,2,0.5,1.5\n"
                                    "2024-03-05T12:00:00+02:00,1,2,0.5,1.5\n")
    with pytest.raises(ValidationError, match=r"^gold\.csv:3: 2024-03-05 10:00 repeats the previous time"):
        candles.read_csv(path)


def test_read_csv_high_below_close(tmp_path):
    path = write(tmp_path, HEADER + "2024-03-05 10:00,1,2,0.5,1.5\n"
                                    "2024-03-05 10:15,1,2,0.5,1.5\n"
                                    "2024-03-05 10:30,1.0,1.4,0.5,1.5\n")
    with pytest.raises(ValidationError) as exc:
        candles.read_csv(path)
    assert str(exc.value) == "gold.csv:4: high/low do not contain open and close."


def test_read_csv_low_above_open(tmp_path):
    path = write(tmp_path, HEADER + "2024-03-05 10:00,1.0,2,1.1,1.5\n")
    with pytest.raises(ValidationError, match=r"^gold\.csv:2: high/low do not contain open and close\.$"):
        candles.read_csv(path)


def test_read_csv_line_number_counts_blank_lines(tmp_path):
    path = write(tmp_path, HEADER + "2024-03-05 10:00,1,2,0.5,1.5\n"
                                    "\n"
                                    "2024-03-05 10:15,1,2,0.5,oops\n")
    with pytest.raises(ValidationError) as exc:
        candles.read_csv(path)
    # the bad row is on line 4 of the file (header, row, blank line, bad row)
    assert str(exc.value) == "gold.csv:4: close 'oops' is not a number."


# ------------------------------------------------------------------ intervals

def test_interval_delta_and_unknown_interval():
    assert candles.interval_delta("15min").total_seconds() == 900
    assert candles.interval_delta("1day").total_seconds() == 86400
    with pytest.raises(ValidationError, match="Unknown interval '3min'"):
        candles.interval_delta("3min")


def test_infer_interval_uses_most_common_gap():
    # 15-minute bars on Friday evening and Monday morning: one weekend gap, the rest 15 minutes
    rows = [("2024-03-08 20:30", 1, 2, 0.5, 1), ("2024-03-08 20:45", 1, 2, 0.5, 1),
            ("2024-03-11 00:00", 1, 2, 0.5, 1), ("2024-03-11 00:15", 1, 2, 0.5, 1),
            ("2024-03-11 00:30", 1, 2, 0.5, 1)]
    assert candles.infer_interval(frame(rows)) == "15min"
    hourly = [(f"2024-03-05 {h:02d}:00", 1, 2, 0.5, 1) for h in range(5)]
    assert candles.infer_interval(frame(hourly)) == "1h"
    daily = [(f"2024-03-0{d} 00:00", 1, 2, 0.5, 1) for d in range(4, 8)]
    assert candles.infer_interval(frame(daily)) == "1day"


def test_infer_interval_errors():
    with pytest.raises(ValidationError, match="at least two rows"):
        candles.infer_interval(frame([("2024-03-05 10:00", 1, 2, 0.5, 1)]))
    ten = [(f"2024-03-05 10:{m:02d}", 1, 2, 0.5, 1) for m in (0, 10, 20, 30)]
    with pytest.raises(ValidationError, match="600 s apart"):
        candles.infer_interval(frame(ten))


# ------------------------------------------------------------------ resample

QUARTERS = [
    # 10:00 hour
    ("2024-03-05 10:00", 2000.0, 2003.0, 1999.0, 2002.0),
    ("2024-03-05 10:15", 2002.0, 2005.5, 2001.0, 2004.0),
    ("2024-03-05 10:30", 2004.0, 2004.5, 1997.5, 1998.0),
    ("2024-03-05 10:45", 1998.0, 2001.0, 1996.0, 2000.5),
    # 11:00 hour, with a gap: the 11:15 bar is missing
    ("2024-03-05 11:00", 2000.5, 2002.0, 2000.0, 2001.0),
    ("2024-03-05 11:30", 2001.0, 2008.0, 2000.8, 2007.0),
    ("2024-03-05 11:45", 2007.0, 2007.5, 2003.0, 2003.5),
    # 12:00 hour, incomplete: the data ends at 12:30
    ("2024-03-05 12:00", 2003.5, 2010.0, 2003.0, 2009.0),
    ("2024-03-05 12:15", 2009.0, 2009.5, 2006.0, 2006.5),
]


def test_resample_15min_to_1h_exact_ohlc_and_drops_incomplete_last_hour():
    out = candles.resample(frame(QUARTERS), "15min", "1h")
    assert list(out.index) == [utc("2024-03-05 10:00"), utc("2024-03-05 11:00")]
    assert out.index.name == "ts"
    assert out.loc[utc("2024-03-05 10:00")].tolist() == [2000.0, 2005.5, 1996.0, 2000.5]
    assert out.loc[utc("2024-03-05 11:00")].tolist() == [2000.5, 2008.0, 2000.0, 2003.5]


def test_resample_keeps_last_hour_once_its_last_quarter_is_in():
    rows = QUARTERS + [("2024-03-05 12:30", 2006.5, 2007.0, 2001.0, 2002.0),
                       ("2024-03-05 12:45", 2002.0, 2004.0, 2001.5, 2003.0)]
    out = candles.resample(frame(rows), "15min", "1h")
    assert list(out.index)[-1] == utc("2024-03-05 12:00")
    assert out.iloc[-1].tolist() == [2003.5, 2010.0, 2001.0, 2003.0]


def test_resample_skips_empty_hours_and_aligns_to_utc():
    rows = [("2024-03-08 21:00", 1.0, 3.0, 0.5, 2.0), ("2024-03-08 21:15", 2.0, 2.5, 1.0, 1.5),
            ("2024-03-08 21:30", 1.5, 4.0, 1.5, 3.5), ("2024-03-08 21:45", 3.5, 3.6, 3.0, 3.1),
            ("2024-03-11 00:00", 3.1, 3.2, 2.0, 2.2), ("2024-03-11 00:15", 2.2, 2.3, 2.1, 2.3),
            ("2024-03-11 00:30", 2.3, 2.4, 1.9, 2.0), ("2024-03-11 00:45", 2.0, 2.1, 1.8, 1.9)]
    out = candles.resample(frame(rows), "15min", "1h")
    assert list(out.index) == [utc("2024-03-08 21:00"), utc("2024-03-11 00:00")]
    assert out.iloc[0].tolist() == [1.0, 4.0, 0.5, 3.1]
    assert out.iloc[1].tolist() == [3.1, 3.2, 1.8, 1.9]


def test_resample_1h_to_4h_buckets_start_at_multiples_of_four_hours():
    rows = [(f"2024-03-05 {h:02d}:00", 10.0 + h, 11.0 + h, 9.0 + h, 10.5 + h) for h in range(4, 12)]
    out = candles.resample(frame(rows), "1h", "4h")
    assert list(out.index) == [utc("2024-03-05 04:00"), utc("2024-03-05 08:00")]
    assert out.iloc[0].tolist() == [14.0, 18.0, 13.0, 17.5]
    assert out.iloc[1].tolist() == [18.0, 22.0, 17.0, 21.5]


def test_resample_same_interval_and_impossible_targets():
    f = frame(QUARTERS)
    assert candles.resample(f, "15min", "15min") is f
    with pytest.raises(ValidationError, match="1h candles cannot make 15min candles"):
        candles.resample(f, "1h", "15min")
    with pytest.raises(ValidationError, match="1h candles cannot make 45min candles"):
        candles.resample(f, "1h", "45min")


def test_frames_for_builds_every_needed_timeframe():
    frames = candles.frames_for(frame(QUARTERS), "15min", ["15min", "1h"])
    assert len(frames["15min"]) == 9
    assert len(frames["1h"]) == 2


# ------------------------------------------------------------------ closed bars only

def test_closed_only_drops_the_forming_candle():
    f = frame(QUARTERS[:3])  # 10:00, 10:15, 10:30
    just_before = candles.closed_only(f, "15min", datetime(2024, 3, 5, 10, 44, 59, tzinfo=UTC))
    assert list(just_before.index) == [utc("2024-03-05 10:00"), utc("2024-03-05 10:15")]
    at_close = candles.closed_only(f, "15min", datetime(2024, 3, 5, 10, 45, tzinfo=UTC))
    assert list(at_close.index) == list(f.index)
    early = candles.closed_only(f, "15min", datetime(2024, 3, 5, 10, 10, tzinfo=UTC))
    assert early.empty


def test_closed_only_on_hourly_candles():
    rows = [(f"2024-03-05 {h:02d}:00", 1, 2, 0.5, 1) for h in (8, 9, 10)]
    out = candles.closed_only(frame(rows), "1h", datetime(2024, 3, 5, 10, 59, tzinfo=UTC))
    assert list(out.index) == [utc("2024-03-05 08:00"), utc("2024-03-05 09:00")]


def test_slice_time_is_half_open():
    f = frame(QUARTERS)
    out = candles.slice_time(f, datetime(2024, 3, 5, 10, 15, tzinfo=UTC), datetime(2024, 3, 5, 11, 0, tzinfo=UTC))
    assert list(out.index) == [utc("2024-03-05 10:15"), utc("2024-03-05 10:30"), utc("2024-03-05 10:45")]
