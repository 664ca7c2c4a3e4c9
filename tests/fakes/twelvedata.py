"""A loopback fake of the Twelve Data REST API (``/time_series`` and ``/price``), for tests.

``with FakeTwelveData() as td: td.set_series("XAU/USD", "15min", bars); ...`` then point a client
at ``td.base_url`` with ``api_key=td.api_key``. Bars are ``(datetime_utc, open, high, low, close)``
tuples or objects with ``ts/open/high/low/close`` attributes (e.g. ``twelvedata.Bar``); naive
datetimes are taken as UTC.

Faithful to Twelve Data:
  * ``GET /time_series?symbol=&interval=&outputsize=&start_date=&end_date=&timezone=&apikey=``:
    ``{"meta": {...}, "values": [...], "status": "ok"}``, values newest first, prices as strings
    (``dp`` decimals, default 5), ``datetime`` as ``YYYY-MM-DD HH:MM:SS`` or ``YYYY-MM-DD`` (1day+);
  * ``outputsize`` 1..5000, default 30 without dates and 5000 with a start/end date (the newest
    bars of the range are kept); start/end dates accept ``YYYY-MM-DD[ HH:MM:SS]``;
  * ``GET /price`` -> ``{"price": "..."}`` (the close of the newest bar served);
  * error bodies ``{"code", "message", "status": "error"}`` with the real texts for: a bad apikey
    (HTTP 401), an unknown symbol (code 404 but HTTP **200**), a missing symbol (400), credits used
    up for the minute or the day (HTTP 429, "N API credits were used, with the current limit
    being L"), and "No data is available on the specified dates..." (code 400, HTTP 400);
  * per-key credits: 1 per request; the minute window is the calendar minute, the day is the UTC
    date (of ``clock()``), as Twelve Data resets at minute / day boundaries;
  * ``now``: bars opening after ``now`` are not served; the bar containing ``now`` is (the real
    API includes the still-forming candle).

Simplified / invented:
  * no aggregation: a series exists only for the intervals a test sets; a known symbol with no
    bars for the interval answers "No data is available"; no volume, no ``order``, no batches;
  * ``timezone`` must be ``UTC`` (absent or anything else -> 400; the real API defaults to the
    exchange's zone); a date-only ``end_date`` means 00:00 of that day, inclusive (the real API's
    end_date semantics are murkier);
  * texts for bad interval / outputsize / date / timezone / unknown path are invented;
  * every request with a valid key costs a credit, even one answered with an error;
  * HTTP/1.0 (one connection per request); ``script_errors`` and ``hang_next`` inject faults.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable

__all__ = ["FakeTwelveData", "DEFAULT_API_KEY"]

DEFAULT_API_KEY = "td-test-key-0123456789abcdef"
INTERVALS = ("1min", "5min", "15min", "30min", "45min", "1h", "2h", "4h", "8h", "1day", "1week", "1month")
DAILY_INTERVALS = ("1day", "1week", "1month")
CURRENCY_NAMES = {"XAU": "Gold Spot", "XAG": "Silver Spot", "USD": "US Dollar", "EUR": "Euro",
                  "GBP": "British Pound", "JPY": "Japanese Yen", "CHF": "Swiss Franc"}
APIKEY_MESSAGE = ("**apikey** parameter is incorrect or not specified. You can get your free API key instantly "
                  "following this link: https://twelvedata.com/pricing. If you believe that everything is "
                  "correct, you can contact us at https://twelvedata.com/contact/customer")
CREDITS_MESSAGE = ("You have run out of API credits for {when}. {used} API credits were used, with the current "
                   "limit being {limit}. Wait for {wait} or consider switching to a higher tier plan at "
                   "https://twelvedata.com/pricing")
SYMBOL_MESSAGE = "**symbol** not found: {symbol}. Please specify it correctly according to API Reference."
MISSING_SYMBOL_MESSAGE = ("**symbol** or **figi** parameter is missing or invalid. Please provide a valid symbol "
                          "according to API documentation: https://twelvedata.com/docs#reference-data")
NO_DATA_MESSAGE = "No data is available on the specified dates. Try setting different start/end dates."


class _ApiError(Exception):
    def __init__(self, code: int, message: str, http_status: int | None = None):
        super().__init__(message)
        self.code, self.message = code, message
        self.http_status = code if http_status is None else http_status


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _parse_date(name: str, text: str) -> datetime:
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            pass
    raise _ApiError(400, f"**{name}** parameter is incorrect. Use the format YYYY-MM-DD or YYYY-MM-DD hh:mm:ss.")


def _as_bar(bar: Any) -> tuple[datetime, float, float, float, float]:
    if hasattr(bar, "ts"):
        bar = (bar.ts, bar.open, bar.high, bar.low, bar.close)
    ts, o, h, low, c = bar
    return _utc(ts), float(o), float(h), float(low), float(c)


class FakeTwelveData:
    def __init__(self, *, api_keys: Iterable[str] = (DEFAULT_API_KEY,), credits_per_minute: int | None = 8,
                 credits_per_day: int | None = 800, decimals: int = 5, host: str = "127.0.0.1", port: int = 0,
                 clock: Callable[[], float] = time.time):
        keys = list(api_keys)
        self.api_keys = set(keys)
        self.api_key = keys[0] if keys else DEFAULT_API_KEY  # the one to give the client
        self.credits_per_minute, self.credits_per_day = credits_per_minute, credits_per_day
        self.decimals = decimals
        self.now: datetime | None = None  # bars opening after this are not served; None = all
        self._clock = clock
        self._address = (host, port)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._series: dict[tuple[str, str], dict[datetime, tuple]] = {}
        self.requests: list[dict] = []
        self._scripted: list[tuple[int, Any]] = []
        self._hangs: list[float] = []
        self._used: dict[str, list] = {}  # apikey -> [minute id, used, day, used]

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "FakeTwelveData":
        if self._server is None:
            self._stopping.clear()
            self._server = ThreadingHTTPServer(self._address, _Handler)
            self._server.fake = self  # type: ignore[attr-defined]
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="fake-twelvedata", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes hung handlers
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeTwelveData":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeTwelveData is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------------ test setup
    def set_series(self, symbol: str, interval: str, bars: Iterable[Any]) -> None:
        """Replace the bars of (symbol, interval)."""
        with self._lock:
            self._series[(symbol.upper(), interval)] = {b[0]: b for b in map(_as_bar, bars)}

    def add_bar(self, symbol: str, interval: str, ts: datetime, o: float, h: float, low: float, c: float) -> None:
        """Add a bar, or replace the one with the same open time (a forming candle moving on)."""
        bar = _as_bar((ts, o, h, low, c))
        with self._lock:
            self._series.setdefault((symbol.upper(), interval), {})[bar[0]] = bar

    def script_errors(self, responses: Iterable[tuple[int, Any]]) -> None:
        """Answer the next requests with (http_status, body): a dict is sent as JSON, a str as text/html."""
        with self._lock:
            self._scripted.extend(responses)

    def hang_next(self, seconds: float, count: int = 1) -> None:
        """Delay the next `count` responses by `seconds` (cut short by stop())."""
        with self._lock:
            self._hangs.extend([seconds] * count)

    def credits_used(self, api_key: str | None = None) -> tuple[int, int]:
        """(used this minute, used today) for the key."""
        with self._lock:
            window = self._window(api_key or self.api_key)
            return window[1], window[3]

    # ------------------------------------------------------------------ serving
    def _window(self, key: str) -> list:
        now = self._clock()
        minute, day = int(now // 60), datetime.fromtimestamp(now, UTC).date()
        window = self._used.setdefault(key, [minute, 0, day, 0])
        if window[0] != minute:
            window[0:2] = [minute, 0]
        if window[2] != day:
            window[2:4] = [day, 0]
        return window

    def handle(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        record = {"path": path, "params": {k: v for k, v in params.items() if k != "apikey"},
                  "apikey": params.get("apikey"), "at": self._clock()}
        with self._lock:
            self.requests.append(record)
            hang = self._hangs.pop(0) if self._hangs else 0.0
            scripted = self._scripted.pop(0) if self._scripted else None
        if hang:
            self._stopping.wait(hang)
        if scripted is not None:
            record["status"] = scripted[0]
            return scripted
        try:
            status, body = 200, self._answer(path, params)
        except _ApiError as e:
            status, body = e.http_status, {"code": e.code, "message": e.message, "status": "error"}
        record["status"] = status
        return status, body

    def _answer(self, path: str, p: dict[str, str]) -> dict:
        if path not in ("/time_series", "/price"):
            raise _ApiError(404, f"Endpoint {path} not found. Please check the API documentation.")
        key = p.get("apikey", "")
        if key not in self.api_keys:
            raise _ApiError(401, APIKEY_MESSAGE)
        with self._lock:
            window = self._window(key)
            for used_at, limit, when, wait in ((1, self.credits_per_minute, "the current minute", "the next minute"),
                                               (3, self.credits_per_day, "the day", "the next day")):
                if limit is not None and window[used_at] + 1 > limit:
                    raise _ApiError(429, CREDITS_MESSAGE.format(when=when, used=window[used_at] + 1,
                                                                limit=limit, wait=wait))
            window[1] += 1
            window[3] += 1
            symbol = (p.get("symbol") or "").strip()
            if not symbol:
                raise _ApiError(400, MISSING_SYMBOL_MESSAGE)
            known = {s for s, _ in self._series}
            if symbol.upper() not in known:
                raise _ApiError(404, SYMBOL_MESSAGE.format(symbol=symbol), http_status=200)
            dp = int(p["dp"]) if p.get("dp", "").isdigit() else self.decimals
            if path == "/price":
                bars = self._visible(symbol, None)
                if not bars:
                    raise _ApiError(400, NO_DATA_MESSAGE)
                return {"price": f"{bars[-1][4]:.{dp}f}"}
            return self._time_series(symbol, p, dp)

    def _visible(self, symbol: str, interval: str | None) -> list[tuple]:
        """Bars of the symbol at `interval` (any interval if None) opening up to `now`, oldest first."""
        series = [s for (sym, iv), s in self._series.items() if sym == symbol.upper() and interval in (None, iv)]
        bars = sorted((b for s in series for b in s.values()), key=lambda b: b[0])
        return [b for b in bars if self.now is None or b[0] <= _utc(self.now)]

    def _time_series(self, symbol: str, p: dict[str, str], dp: int) -> dict:
        interval = p.get("interval", "")
        if interval not in INTERVALS:
            raise _ApiError(400, f"**interval** parameter is incorrect or not specified. Supported values: "
                                 f"{', '.join(INTERVALS)}.")
        if (p.get("timezone") or "").upper() != "UTC":
            raise _ApiError(400, "**timezone** parameter is not supported by this fake; send timezone=UTC.")
        start = _parse_date("start_date", p["start_date"]) if p.get("start_date") else None
        end = _parse_date("end_date", p["end_date"]) if p.get("end_date") else None
        raw_size = p.get("outputsize")
        if raw_size is None:
            size = 5000 if (start or end) else 30
        elif not raw_size.isdigit() or not 1 <= int(raw_size) <= 5000:
            raise _ApiError(400, "**outputsize** parameter is incorrect. It must be between 1 and 5000.")
        else:
            size = int(raw_size)
        bars = [b for b in self._visible(symbol, interval)
                if (start is None or b[0] >= start) and (end is None or b[0] <= end)]
        if not bars:
            raise _ApiError(400, NO_DATA_MESSAGE)
        fmt = "%Y-%m-%d" if interval in DAILY_INTERVALS else "%Y-%m-%d %H:%M:%S"
        base, _, quote = symbol.upper().partition("/")
        return {
            "meta": {"symbol": symbol, "interval": interval,
                     "currency_base": CURRENCY_NAMES.get(base, base),
                     "currency_quote": CURRENCY_NAMES.get(quote, quote), "type": "Physical Currency"},
            "values": [{"datetime": ts.strftime(fmt), "open": f"{o:.{dp}f}", "high": f"{h:.{dp}f}",
                        "low": f"{low:.{dp}f}", "close": f"{c:.{dp}f}"}
                       for ts, o, h, low, c in reversed(bars[-size:])],
            "status": "ok",
        }


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeTwelveData/1.0"

    def do_GET(self) -> None:  # noqa: N802
        url = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        status, body = self.server.fake.handle(url.path.rstrip("/") or "/", params)  # type: ignore[attr-defined]
        if isinstance(body, (dict, list)):
            data, ctype = json.dumps(body).encode(), "application/json; charset=utf-8"
        else:
            data, ctype = str(body).encode(), "text/html; charset=utf-8"
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (timeout)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass
