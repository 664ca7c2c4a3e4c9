"""Candle files as people have them: the format is detected from the header, then read into the
project's columns (``datetime, open, high, low, close``) with the file's own line numbers.

Recognised: the project's own CSV; pandas' default ``to_csv`` (an unnamed first column holding the
time, ``Open,High,Low,Close[,Volume]``); MetaTrader 4/5 history exports (``<DATE>,<TIME>,<OPEN>…``,
comma or tab, dates as ``2024.01.02``); Twelve Data's CSV export (``;``, newest first); Yahoo
(``Date,Open,High,Low,Close,Adj Close,Volume``); Dukascopy (``Gmt time`` / ``Local time`` as
``01.02.2024 00:00:00.000``, with a ``GMT+0200`` offset when it is given). Times with an offset or
``Z`` are converted to UTC; times without one are taken as UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from promostack_cli.core.errors import ValidationError

SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab"}
PRICE = ("open", "high", "low", "close")
_TIME_NAMES = ("datetime", "date_time", "timestamp", "time", "date", "ts", "gmt_time", "local_time", "unnamed:_0", "")
_DUKAS_OFFSET = re.compile(r"\s*GMT([+-])(\d{2}):?(\d{2})\s*$", re.I)


@dataclass
class Detected:
    """A file's format and its rows as text columns (``datetime`` already combined, times as
    written), indexed by the file's line numbers."""

    name: str
    separator: str
    raw: object                       # pandas DataFrame of str
    time_format: str | None = None    # strptime format when the format fixes it
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"{self.name} ({SEPARATORS[self.separator]}-separated)"


def _first_lines(path: Path, n: int = 2) -> list[str]:
    lines = []
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            if line.strip():
                lines.append(line.rstrip("\r\n"))
                if len(lines) == n:
                    break
    return lines


def _separator(line: str) -> str:
    counts = {sep: line.count(sep) for sep in SEPARATORS}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] else ","


def _norm(name: str) -> str:
    return re.sub(r"\s+", "_", str(name).strip().strip("<>").strip().lower())


def detect(path: Path, *, typed: bool = False):
    """Read ``path`` into a :class:`Detected`; ValidationError names what is wrong.

    ``typed``: let pandas type the columns (several times faster on a million rows; the caller
    checks the result and, on anything odd, reads again untyped for an exact ``file:line`` error).
    """
    import pandas as pd

    name = path.name
    lines = _first_lines(path)
    if not lines:
        raise ValidationError(f"{name}: not a readable CSV file (it is empty).")
    sep = _separator(lines[0])
    if len(lines) > 1:
        row_sep = _separator(lines[1])
        if row_sep != sep and lines[1].count(row_sep) >= max(lines[0].count(sep), 1):
            raise ValidationError(f"{name}: the header is {SEPARATORS[sep]}-separated but the rows are "
                                  f"{SEPARATORS[row_sep]}-separated; use one separator throughout.")
    try:
        if typed:
            raw = pd.read_csv(path, sep=sep, skipinitialspace=True, encoding="utf-8-sig", low_memory=False)
        else:
            raw = pd.read_csv(path, sep=sep, dtype=str, skipinitialspace=True, skip_blank_lines=False,
                              keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{name}: not a readable CSV file ({str(exc).splitlines()[0]}).") from None
    original = [str(c) for c in raw.columns]
    cols = [_norm(c) for c in original]
    raw.columns = cols
    raw.index = raw.index + 2          # the file's line numbers (the header is line 1; exact when untyped)
    if not typed:
        raw = raw[(raw != "").any(axis=1)]
    missing = [c for c in PRICE if c not in cols]
    if missing:
        if len(cols) == 1 and len(lines) > 1 and _separator(lines[1]) == sep == ",":
            raise ValidationError(f"{name}: only one column found with the comma separator; is the file "
                                  "separated by something else?")
        raise ValidationError(f"{name}: missing column(s) {', '.join(missing)}; found {', '.join(original)}. "
                              "Expected a header like datetime,open,high,low,close (or a MetaTrader, Yahoo, "
                              "Twelve Data, Dukascopy or pandas export).")
    if raw.empty:
        raise ValidationError(f"{name}: has a header but no rows.")
    return _shape(name, sep, raw, cols, original)


def _shape(name: str, sep: str, raw, cols: list[str], original: list[str]) -> Detected:
    if "date" in cols and "time" in cols and original[cols.index("date")].startswith("<"):
        out = raw.assign(datetime=raw["date"].str.strip() + " " + raw["time"].str.strip())
        return Detected("MetaTrader export", sep, out, _metatrader_format(out["datetime"]))
    if "gmt_time" in cols or "local_time" in cols:
        col = "gmt_time" if "gmt_time" in cols else "local_time"
        values = raw[col].astype(str)
        offsets = values.str.extract(_DUKAS_OFFSET)
        if col == "local_time" and offsets[0].isna().any():
            row = int(offsets[0].isna().to_numpy().argmax())
            raise ValidationError(f"{name}:{raw.index[row]}: 'Local time' without a UTC offset (GMT+0200); export "
                                  "'Gmt time', or local time with its offset.")
        if offsets[0].notna().any():
            sign = offsets[0].fillna("+")
            values = (values.str.replace(_DUKAS_OFFSET, "", regex=True).str.strip() + " " + sign
                      + offsets[1].fillna("00") + offsets[2].fillna("00"))
            fmt = "%d.%m.%Y %H:%M:%S.%f %z"
        else:
            fmt = "%d.%m.%Y %H:%M:%S.%f"
        return Detected("Dukascopy export", sep, raw.assign(datetime=values), fmt)
    if "datetime" in cols:
        kind = "Twelve Data export" if sep == ";" else "PromoStack CSV"   # candles.OWN_FORMAT
        return Detected(kind, sep, raw)
    if "date" in cols and "adj_close" in cols:
        return Detected("Yahoo export", sep, raw.assign(datetime=raw["date"]))
    first = cols[0]
    if first in _TIME_NAMES:
        kind = "pandas to_csv" if first in ("", "unnamed:_0") or original[1:5] == ["Open", "High", "Low", "Close"] \
            else "CSV"
        return Detected(kind, sep, raw.assign(datetime=raw[first]))
    raise ValidationError(f"{name}: no time column; the first column ('{original[0]}') should hold the date and time.")


def _metatrader_format(values) -> str | None:
    sample = str(values.iloc[0])
    if re.match(r"^\d{4}\.\d{2}\.\d{2} \d{2}:\d{2}:\d{2}$", sample):
        return "%Y.%m.%d %H:%M:%S"
    if re.match(r"^\d{4}\.\d{2}\.\d{2} \d{2}:\d{2}$", sample):
        return "%Y.%m.%d %H:%M"
    return None


def parse_times(detected: Detected):
    """The ``datetime`` column as UTC timestamps (NaT where a value does not parse)."""
    import pandas as pd

    values = detected.raw["datetime"]
    if detected.time_format:
        return pd.to_datetime(values, utc=True, errors="coerce", format=detected.time_format)
    ts = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    if ts.isna().any():   # "2024.01.02 00:00" and other common spellings
        ts = ts.fillna(pd.to_datetime(values.str.replace(".", "-", n=2, regex=False), utc=True, errors="coerce",
                                      format="ISO8601"))
    return ts
