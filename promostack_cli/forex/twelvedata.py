"""A small synchronous Twelve Data REST client on httpx (``/time_series`` and ``/price``).

``TwelveDataClient(api_key).time_series("XAU/USD", "15min", outputsize=100)`` returns OHLC
:class:`Bar` objects sorted oldest first; ``price("XAU/USD")`` returns the latest price. Every
failure is a :class:`TwelveDataError` (an ``OperationalError``, exit code 1) whose message is one
sentence saying what to do. The API key is sent as the ``apikey`` query parameter and never put
into an exception message or repr (messages are built from ``base_url`` + path only).

Faithful to Twelve Data:
  * errors arrive as ``{"code": N, "message": "...", "status": "error"}``, sometimes with HTTP 200,
    so the JSON ``status`` is always checked, not only the HTTP status;
  * values are strings, newest first; ``datetime`` is ``YYYY-MM-DD HH:MM:SS`` (intraday) or
    ``YYYY-MM-DD`` (daily) in the requested ``timezone`` (always UTC here) and is the bar's open;
  * "No data is available on the specified dates" (code 400, e.g. start_date after the last bar)
    is an empty result, not an error; so is ``values: []`` or a missing ``values``;
  * 429 messages say whether the minute or the daily credit limit was hit ("current minute" /
    "for the day") and name the limit ("with the current limit being 8").

Simplified:
  * only the parameters the product uses (symbol, interval, outputsize, start/end date, timezone);
    no ``order=asc`` (we sort ourselves), no volume, no batch (comma-separated) symbols;
  * every request is charged 1 credit via ``budget`` before it is sent, although Twelve Data does
    not charge some failed requests; the budget is the caller's conservative guard;
  * bars with the same datetime (a known Twelve Data glitch) are collapsed to the first one given;
  * naive datetimes passed as start_date/end_date are taken as UTC (as ``core.clock`` does);
  * no retries: the caller decides (credits are scarce on the free plan).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Callable

import httpx

from promostack_cli.core.errors import OperationalError, ValidationError

__all__ = ["INTERVALS", "Bar", "TwelveDataClient", "TwelveDataError", "TwelveDataAuthError",
           "TwelveDataCreditsError", "TwelveDataSymbolError", "TwelveDataUnavailable"]

DEFAULT_BASE_URL = "https://api.twelvedata.com"
INTERVALS = ("1min", "5min", "15min", "30min", "45min", "1h", "2h", "4h", "1day")
MAX_OUTPUTSIZE = 5000
_LIMIT_RE = re.compile(r"current limit being (\d+)")
_SENTENCE_RE = re.compile(r"(.+?[.!?])(?=\s|$)")


class TwelveDataError(OperationalError):
    """Twelve Data refused or failed a request. ``code`` is the API's error code (or HTTP status)."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class TwelveDataAuthError(TwelveDataError):
    """The API key is missing, wrong or disabled."""


class TwelveDataCreditsError(TwelveDataError):
    """The plan's credits are used up; ``scope`` is "minute" or "day", ``limit`` the plan limit."""

    def __init__(self, message: str, scope: str, limit: int | None = None, code: int | None = 429):
        super().__init__(message, code)
        self.scope = scope
        self.limit = limit


class TwelveDataSymbolError(TwelveDataError):
    """Twelve Data does not know the symbol."""

    def __init__(self, message: str, symbol: str, code: int | None = None):
        super().__init__(message, code)
        self.symbol = symbol


class TwelveDataUnavailable(TwelveDataError):
    """Network failure, timeout, 5xx or an unreadable answer: worth retrying later."""


@dataclass(frozen=True)
class Bar:
    """One OHLC candle; ``ts`` is the bar's open time, timezone-aware UTC."""

    ts: datetime
    open: float
    high: float
    low: float
    close: float


def _first_sentence(text: str) -> str:
    text = " ".join(str(text).replace("**", "").split())
    m = _SENTENCE_RE.match(text)
    return (m.group(1) if m else text).rstrip(".!?") or "no reason given"


def _format_date(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


class TwelveDataClient:
    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, timeout: float = 15.0,
                 budget: Callable[[int], None] | None = None,
                 transport: httpx.BaseTransport | None = None):
        if not api_key or not api_key.strip():
            raise ValidationError("The Twelve Data API key is empty; set PROMOSTACK_TWELVEDATA_API_KEY.")
        self._api_key = api_key.strip()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._budget = budget
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                                  transport=transport)

    def __repr__(self) -> str:
        return f"TwelveDataClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "TwelveDataClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ public API
    def time_series(self, symbol: str, interval: str, *, outputsize: int | None = None,
                    start_date: datetime | None = None, end_date: datetime | None = None) -> list[Bar]:
        """Bars of ``symbol`` at ``interval``, oldest first (the API sends newest first)."""
        symbol = self._check_symbol(symbol)
        if interval not in INTERVALS:
            raise ValidationError(f"Unknown interval '{interval}'; use one of {', '.join(INTERVALS)}.")
        if outputsize is not None and not 1 <= outputsize <= MAX_OUTPUTSIZE:
            raise ValidationError(f"outputsize must be between 1 and {MAX_OUTPUTSIZE}, not {outputsize}.")
        params: dict[str, str] = {"symbol": symbol, "interval": interval}
        if outputsize is not None:
            params["outputsize"] = str(outputsize)
        if start_date is not None:
            params["start_date"] = _format_date(start_date)
        if end_date is not None:
            params["end_date"] = _format_date(end_date)
        params["timezone"] = "UTC"
        body = self._get("/time_series", params, symbol, no_data_ok=True)
        if body is None:
            return []
        values = body.get("values") or []
        if not isinstance(values, list):
            raise TwelveDataError(f"Twelve Data sent malformed values for '{symbol}'; try again later.")
        bars: dict[datetime, Bar] = {}
        for item in values:
            bar = self._parse_bar(item, symbol)
            bars.setdefault(bar.ts, bar)
        return sorted(bars.values(), key=lambda b: b.ts)

    def price(self, symbol: str) -> float:
        """The latest price of ``symbol`` (the still-forming candle's close)."""
        symbol = self._check_symbol(symbol)
        body = self._get("/price", {"symbol": symbol}, symbol, no_data_ok=False)
        value = self._number((body or {}).get("price"))
        if value is None:
            raise TwelveDataError(f"Twelve Data sent no usable price for '{symbol}'; try again later.")
        return value

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _check_symbol(symbol: str) -> str:
        if not symbol or not symbol.strip():
            raise ValidationError("The symbol is empty; give one such as XAU/USD.")
        return symbol.strip()

    @staticmethod
    def _number(value: Any) -> float | None:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return number if math.isfinite(number) else None

    def _parse_bar(self, item: Any, symbol: str) -> Bar:
        raw_ts = item.get("datetime") if isinstance(item, dict) else None
        where = f"Twelve Data sent a malformed {symbol} bar at {raw_ts or '(no datetime)'}"
        try:
            ts = datetime.fromisoformat(str(raw_ts))
        except ValueError:
            raise TwelveDataError(f"{where}: bad datetime; try again later.") from None
        ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
        prices = [self._number(item.get(k)) for k in ("open", "high", "low", "close")]
        if any(p is None for p in prices):
            raise TwelveDataError(f"{where}: a price is not a number; try again later.")
        o, h, low, c = prices
        if h < low:
            raise TwelveDataError(f"{where}: high {h} is below low {low}; try again later.")
        return Bar(ts, o, h, low, c)

    def _scrub(self, text: str) -> str:
        return " ".join(str(text).replace(self._api_key, "***").split())

    def _get(self, path: str, params: dict[str, str], symbol: str, *, no_data_ok: bool) -> dict | None:
        """GET and return the JSON object; None for "no data" when ``no_data_ok``; else raise."""
        if self._budget is not None:
            self._budget(1)  # may raise: then nothing is sent
        where = f"{self.base_url}{path}"
        try:
            response = self._http.get(where, params={**params, "apikey": self._api_key})
        except httpx.TimeoutException:
            raise TwelveDataUnavailable(f"Could not reach Twelve Data at {self.base_url}: timed out after "
                                        f"{self.timeout:g} s; try again later.") from None
        except httpx.HTTPError as exc:
            reason = self._scrub(str(exc)) or type(exc).__name__
            raise TwelveDataUnavailable(f"Could not reach Twelve Data at {self.base_url}: {reason}; "
                                        "check the network and try again.") from None
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if status >= 500:
                raise TwelveDataUnavailable(f"Twelve Data is unavailable (HTTP {status}); try again later.", status)
            raise TwelveDataUnavailable(f"Twelve Data sent an unreadable answer (HTTP {status}) from {where}; "
                                        "try again later.", status)
        if body.get("status") == "error" or status >= 400:
            code = body.get("code")
            code = int(code) if str(code).isdigit() else status
            message = self._scrub(body.get("message") or "")
            if no_data_ok and "no data is available" in message.lower():
                return None
            raise self._error(code, message, symbol)
        return body

    @staticmethod
    def _error(code: int, message: str, symbol: str) -> TwelveDataError:
        text = message.lower()
        if code == 429:
            scope = "day" if ("for the day" in text or "daily" in text) else "minute"
            m = _LIMIT_RE.search(text)
            limit = int(m.group(1)) if m else None
            plan = f" (plan limit {limit})" if limit is not None else ""
            when = ("for the current minute" + plan + "; wait a minute and try again" if scope == "minute"
                    else "for the day" + plan + "; wait for the daily reset (00:00 UTC) or upgrade the plan")
            return TwelveDataCreditsError(f"Twelve Data credits are used up {when}.", scope, limit, code)
        if code == 401 or "apikey" in text or "api key" in text:
            return TwelveDataAuthError("Twelve Data rejected the API key. Check PROMOSTACK_TWELVEDATA_API_KEY.",
                                       code)
        if code in (400, 404) and "symbol" in text and ("not found" in text or "missing or invalid" in text):
            return TwelveDataSymbolError(f"Twelve Data does not know the symbol '{symbol}'; "
                                         "check the symbol (e.g. XAU/USD).", symbol, code)
        if code >= 500:
            return TwelveDataUnavailable(f"Twelve Data is unavailable (HTTP {code}); try again later.", code)
        return TwelveDataError(f"Twelve Data refused the request (code {code}): {_first_sentence(message)}.",
                               code)
