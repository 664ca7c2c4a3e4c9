"""Candles as pandas frames: CSV loading with clear errors, interval arithmetic, resampling, and the
"closed bars only" rule. A frame is indexed by the bar's open time (UTC) with float columns
open, high, low, close."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from promostack_cli.core.errors import ValidationError

from promostack_cli.forex.intervals import INTERVAL_SECONDS, interval_delta  # noqa: F401 (re-exported)

COLUMNS = ("open", "high", "low", "close")
OWN_FORMAT = "PromoStack CSV"   # read silently; any other detected format is said on stderr


def epoch_seconds(index) -> "np.ndarray":
    """Bar times as int64 seconds since 1970 (independent of the index's storage unit)."""
    return pd.DatetimeIndex(index).as_unit("s").asi8


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS},
                        index=pd.DatetimeIndex([], tz="UTC", name="ts"))


def frame_from_rows(rows: Iterable) -> pd.DataFrame:
    """Rows with attributes (or tuples) ts, open, high, low, close, in time order."""
    rows = list(rows)
    if not rows:
        return empty_frame()
    if hasattr(rows[0], "ts"):
        rows = [(r.ts, r.open, r.high, r.low, r.close) for r in rows]
    ts, o, h, lo, c = zip(*rows)
    index = pd.DatetimeIndex(pd.to_datetime(list(ts), utc=True), name="ts")
    return pd.DataFrame({"open": o, "high": h, "low": lo, "close": c}, index=index, dtype="float64")


def closed_only(frame: pd.DataFrame, interval: str, now: datetime) -> pd.DataFrame:
    """Drop the candle that is still forming: a bar is closed once its open time + interval <= now."""
    cutoff = pd.Timestamp(now - interval_delta(interval))
    return frame[frame.index <= cutoff]


def infer_interval(frame: pd.DataFrame) -> str:
    """The interval of a frame: the most common gap between consecutive bars."""
    if len(frame) < 2:
        raise ValidationError("The candles file needs at least two rows to tell its interval.")
    gaps = np.diff(epoch_seconds(frame.index))
    seconds = int(pd.Series(gaps).mode().iloc[0])
    for name, secs in INTERVAL_SECONDS.items():
        if secs == seconds:
            return name
    raise ValidationError(f"The candles are {seconds} s apart; supported intervals are {', '.join(INTERVAL_SECONDS)}.")


def resample(frame: pd.DataFrame, source: str, target: str) -> pd.DataFrame:
    """Aggregate ``source`` bars into ``target`` bars (UTC-aligned, labelled by open time).

    The last bucket is dropped when the data ends before it closes, so only closed bars come out.
    """
    if source == target:
        return frame
    src, dst = INTERVAL_SECONDS[source], INTERVAL_SECONDS[target]
    if dst < src or dst % src:
        raise ValidationError(f"{source} candles cannot make {target} candles; give candles of {target} or finer.")
    if frame.empty:
        return frame
    out = frame.resample(pd.Timedelta(seconds=dst), label="left", closed="left", origin="epoch").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last"}).dropna()
    if len(out) and out.index[0] < frame.index[0]:
        out = out.iloc[1:]  # the data starts inside the first bucket: that candle would be partial
    last_close = frame.index[-1] + pd.Timedelta(seconds=src)
    if len(out) and out.index[-1] + pd.Timedelta(seconds=dst) > last_close:
        out = out.iloc[:-1]
    out.index.name = "ts"
    return out


def read_csv(path: str | Path, note=None) -> pd.DataFrame:
    """Load candles from a CSV in any format :mod:`.candle_formats` recognises (times are UTC unless
    they carry an offset). ``note(text)`` is told which format was detected (unless it is the
    project's own) and whether the rows were sorted, once the file has read without error. Errors name the file and the first bad row.

    A typed read first (fast); anything odd in it (a value that is not a number, a time that does not
    parse, rows out of order, blank lines) reads the file again as text, which finds the exact line.
    """
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"Candles file {path} does not exist.")
    try:
        return _read(path, note, typed=True)
    except (_Odd, AttributeError, TypeError, ValueError):
        return _read(path, note, typed=False)


class _Odd(Exception):
    """The typed read met something the careful read must explain."""


def _read(path: Path, note, *, typed: bool) -> pd.DataFrame:
    from promostack_cli.forex.candle_formats import detect, parse_times

    name = path.name
    detected = detect(path, typed=typed)
    raw = detected.raw
    lines = raw.index.to_numpy()
    ts = parse_times(detected)
    bad = ts.isna()
    if bad.any():
        if typed:
            raise _Odd()
        row = int(bad.to_numpy().argmax())
        raise ValidationError(f"{name}:{lines[row]}: '{raw['datetime'].iloc[row]}' is not a date and time like 2025-03-04 07:45:00 (UTC).")
    values = {}
    for col in COLUMNS:
        if typed:
            if raw[col].dtype.kind not in "fi":
                raise _Odd()
            num = raw[col].astype("float64")
        else:
            num = pd.to_numeric(raw[col], errors="coerce")
        bad = num.isna() | ~np.isfinite(num)
        if bad.any():
            if typed:
                raise _Odd()
            row = int(bad.to_numpy().argmax())
            shown = raw[col].iloc[row]
            raise ValidationError(f"{name}:{lines[row]}: {col} is empty." if not shown.strip() else
                                  f"{name}:{lines[row]}: {col} '{shown}' is not a number.")
        values[col] = num.to_numpy(dtype="float64")
    frame = pd.DataFrame(values, index=pd.DatetimeIndex(ts, name="ts"))  # not .to_numpy(): objects, 0.7 s a million
    steps = np.diff(epoch_seconds(frame.index))
    sorted_note = ""
    if len(steps) and (steps < 0).all():   # newest first (Twelve Data's export): reverse, say so
        frame, lines, steps = frame.iloc[::-1], lines[::-1], -steps[::-1]
        sorted_note = "; rows were newest first, sorted oldest first"
    hi, lo = frame["high"].to_numpy(), frame["low"].to_numpy()
    body_hi = np.maximum(frame["open"].to_numpy(), frame["close"].to_numpy())
    body_lo = np.minimum(frame["open"].to_numpy(), frame["close"].to_numpy())
    bad = (hi < body_hi) | (lo > body_lo)
    if typed and ((steps <= 0).any() or bad.any()):
        raise _Odd()
    if (steps <= 0).any():
        row = int((steps <= 0).argmax()) + 1
        what = "repeats the previous time" if steps[row - 1] == 0 else "is earlier than the row before it"
        raise ValidationError(f"{name}:{lines[row]}: {frame.index[row]:%Y-%m-%d %H:%M} {what}; rows must be in ascending time order without duplicates.")
    if bad.any():
        row = int(bad.argmax())
        raise ValidationError(f"{name}:{lines[row]}: high/low do not contain open and close.")
    if note is not None and (detected.name != OWN_FORMAT or sorted_note):
        note(f"{name}: read as {detected.describe()}, {len(frame):,} candles{sorted_note}")
    return frame


def slice_time(frame: pd.DataFrame, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    if start is not None:
        frame = frame[frame.index >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[frame.index < pd.Timestamp(end)]
    return frame


def frames_for(frame: pd.DataFrame, source: str, needed: Iterable[str]) -> dict[str, pd.DataFrame]:
    """Every timeframe a strategy needs, built from one file's candles."""
    return {tf: resample(frame, source, tf) for tf in needed}
