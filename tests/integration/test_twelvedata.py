"""The Twelve Data client against the loopback fake (tests/fakes/twelvedata.py)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta, timezone

import pytest

from promostack_cli.core.errors import EXIT_FAILURE, OperationalError, ValidationError
from promostack_cli.forex.twelvedata import (
    Bar,
    TwelveDataAuthError,
    TwelveDataClient,
    TwelveDataCreditsError,
    TwelveDataError,
    TwelveDataSymbolError,
    TwelveDataUnavailable,
)
from tests.fakes.twelvedata import FakeTwelveData

KEY = "td-test-key-0123456789abcdef"
T0 = datetime(2025, 12, 27, 0, 0, tzinfo=UTC)
M15 = timedelta(minutes=15)


def gold_bars(n: int, start: datetime = T0, step: timedelta = M15) -> list[tuple]:
    """n bars; bar i opens at 4500 + i and spans +/- 2."""
    return [(start + i * step, 4500.0 + i, 4502.0 + i, 4498.0 + i, 4501.0 + i) for i in range(n)]


@pytest.fixture
def fake():
    with FakeTwelveData(api_keys=[KEY], credits_per_minute=None, credits_per_day=None) as td:
        td.set_series("XAU/USD", "15min", gold_bars(6))
        yield td


@pytest.fixture
def client(fake):
    with TwelveDataClient(KEY, base_url=fake.base_url, timeout=2.0) as c:
        yield c


def assert_clean(exc: BaseException) -> str:
    text = str(exc)
    assert KEY not in text and KEY not in repr(exc)
    assert "\n" not in text
    return text


# ------------------------------------------------------------------ parsing and parameters

def test_time_series_parses_and_sorts_oldest_first(fake, client):
    bars = client.time_series("XAU/USD", "15min", outputsize=3)
    assert bars == [Bar(T0 + i * M15, 4500.0 + i, 4502.0 + i, 4498.0 + i, 4501.0 + i) for i in (3, 4, 5)]
    assert all(b.ts.tzinfo is UTC for b in bars)
    [req] = fake.requests
    assert req["path"] == "/time_series" and req["apikey"] == KEY
    assert req["params"] == {"symbol": "XAU/USD", "interval": "15min", "outputsize": "3", "timezone": "UTC"}


def test_default_outputsize_is_the_apis(fake, client):
    fake.set_series("XAU/USD", "1h", gold_bars(40, step=timedelta(hours=1)))
    bars = client.time_series("XAU/USD", "1h")
    assert len(bars) == 30 and bars[-1].ts == T0 + timedelta(hours=39)
    assert "outputsize" not in fake.requests[0]["params"]


def test_daily_bars_have_date_only_datetimes(fake, client):
    fake.set_series("XAU/USD", "1day", gold_bars(3, step=timedelta(days=1)))
    bars = client.time_series("XAU/USD", "1day", outputsize=10)
    assert [b.ts for b in bars] == [T0, T0 + timedelta(days=1), T0 + timedelta(days=2)]
    assert bars[0].close == 4501.0


def test_start_and_end_date_filter_and_are_sent_in_utc(fake, client):
    plus2 = timezone(timedelta(hours=2))
    bars = client.time_series("XAU/USD", "15min", start_date=(T0 + 2 * M15).astimezone(plus2),
                              end_date=datetime(2025, 12, 27, 1, 0))  # naive = UTC
    assert [b.ts for b in bars] == [T0 + 2 * M15, T0 + 3 * M15, T0 + 4 * M15]
    params = fake.requests[0]["params"]
    assert params["start_date"] == "2025-12-27 00:30:00" and params["end_date"] == "2025-12-27 01:00:00"


def test_start_date_after_last_bar_is_an_empty_list(fake, client):
    assert client.time_series("XAU/USD", "15min", start_date=T0 + 10 * M15) == []
    assert fake.requests[0]["status"] == 400  # the real "No data is available" error, mapped to []


@pytest.mark.parametrize("body", [{"status": "ok", "values": []}, {"status": "ok", "meta": {}}])
def test_empty_or_missing_values_is_an_empty_list(fake, client, body):
    fake.script_errors([(200, body)])
    assert client.time_series("XAU/USD", "15min") == []


def test_forming_candle_is_served_future_bars_are_not(fake, client):
    fake.now = T0 + 4 * M15 + timedelta(minutes=7)
    bars = client.time_series("XAU/USD", "15min", outputsize=2)
    assert [b.ts for b in bars] == [T0 + 3 * M15, T0 + 4 * M15]
    fake.add_bar("XAU/USD", "15min", T0 + 4 * M15, 4504, 4510, 4490, 4509.5)  # the candle moves on
    assert client.time_series("XAU/USD", "15min", outputsize=1)[0].close == 4509.5
    assert client.price("XAU/USD") == 4509.5


def test_duplicate_datetimes_are_collapsed(fake, client):
    value = {"datetime": "2025-12-27 00:15:00", "open": "1", "high": "2", "low": "0.5", "close": "1.5"}
    fake.script_errors([(200, {"status": "ok", "values": [value, dict(value, close="9")]})])
    assert client.time_series("XAU/USD", "15min") == [Bar(T0 + M15, 1.0, 2.0, 0.5, 1.5)]


def test_price(fake, client):
    assert client.price("XAU/USD") == 4506.0
    assert fake.requests[0]["path"] == "/price" and fake.requests[0]["params"] == {"symbol": "XAU/USD"}


@pytest.mark.parametrize("value, problem", [
    ({"open": "abc"}, "not a number"), ({"high": "4490"}, "below low"), ({"close": "NaN"}, "not a number")])
def test_malformed_values_name_the_bar(fake, client, value, problem):
    good = {"datetime": "2025-12-27 02:00:00", "open": "4500", "high": "4502", "low": "4498", "close": "4501"}
    fake.script_errors([(200, {"status": "ok", "values": [{**good, **value}]})])
    with pytest.raises(TwelveDataError) as info:
        client.time_series("XAU/USD", "15min")
    text = assert_clean(info.value)
    assert "2025-12-27 02:00:00" in text and problem in text


# ------------------------------------------------------------------ errors

def test_unknown_symbol_with_http_200(fake, client):
    with pytest.raises(TwelveDataSymbolError) as info:
        client.time_series("XAU/USDX", "15min")
    assert fake.requests[0]["status"] == 200  # the fake answers like the real API
    assert assert_clean(info.value) == ("Twelve Data does not know the symbol 'XAU/USDX'; "
                                        "check the symbol (e.g. XAU/USD).")
    assert info.value.symbol == "XAU/USDX" and info.value.code == 404
    with pytest.raises(TwelveDataSymbolError):
        client.price("EUR/XYZ")


def test_bad_api_key(fake):
    with TwelveDataClient("wrong-key-abcdef", base_url=fake.base_url) as c:
        with pytest.raises(TwelveDataAuthError) as info:
            c.time_series("XAU/USD", "15min")
    text = str(info.value)
    assert text == "Twelve Data rejected the API key. Check PROMOSTACK_TWELVEDATA_API_KEY."
    assert "wrong-key-abcdef" not in text and "wrong-key" not in repr(c)


def test_minute_credits_then_next_minute():
    clock = [1_767_000_000.0]  # 2025-12-29 09:20:00 UTC, a minute boundary
    with FakeTwelveData(api_keys=[KEY], credits_per_minute=2, clock=lambda: clock[0]) as td:
        td.set_series("XAU/USD", "15min", gold_bars(3))
        with TwelveDataClient(KEY, base_url=td.base_url) as c:
            c.price("XAU/USD")
            c.price("XAU/USD")
            with pytest.raises(TwelveDataCreditsError) as info:
                c.price("XAU/USD")
            assert info.value.scope == "minute" and info.value.limit == 2
            assert assert_clean(info.value) == ("Twelve Data credits are used up for the current minute "
                                                "(plan limit 2); wait a minute and try again.")
            clock[0] += 60
            assert c.price("XAU/USD") == 4503.0
            assert td.credits_used() == (1, 3)


def test_daily_credits():
    with FakeTwelveData(api_keys=[KEY], credits_per_day=1) as td:
        td.set_series("XAU/USD", "15min", gold_bars(3))
        with TwelveDataClient(KEY, base_url=td.base_url) as c:
            c.price("XAU/USD")
            with pytest.raises(TwelveDataCreditsError) as info:
                c.time_series("XAU/USD", "15min")
    assert info.value.scope == "day" and info.value.limit == 1
    assert "for the day (plan limit 1)" in assert_clean(info.value)


def test_error_status_with_http_200_is_detected(fake, client):
    fake.script_errors([(200, {"code": 429, "status": "error", "message": (
        "You have run out of API credits for the current minute. 9 API credits were used, with the current "
        "limit being 8. Wait for the next minute or consider switching to a higher tier plan at "
        "https://twelvedata.com/pricing")})])
    with pytest.raises(TwelveDataCreditsError) as info:
        client.time_series("XAU/USD", "15min")
    assert info.value.scope == "minute" and info.value.limit == 8


def test_other_4xx_keeps_the_first_sentence(fake, client):
    fake.script_errors([(200, {"code": 403, "status": "error", "message": (
        "**/time_series** is not available with your plan. Upgrade at https://twelvedata.com/pricing.")})])
    with pytest.raises(TwelveDataError) as info:
        client.time_series("XAU/USD", "15min")
    assert type(info.value) is TwelveDataError and info.value.code == 403
    assert assert_clean(info.value) == ("Twelve Data refused the request (code 403): "
                                        "/time_series is not available with your plan.")


@pytest.mark.parametrize("status, body, expected", [
    (502, "<html><body>502 Bad Gateway</body></html>", "Twelve Data is unavailable (HTTP 502); try again later."),
    (500, {"code": 500, "status": "error", "message": "Internal error."},
     "Twelve Data is unavailable (HTTP 500); try again later."),
    (200, "not json", "unreadable answer (HTTP 200)"),
])
def test_server_errors_are_unavailable(fake, client, status, body, expected):
    fake.script_errors([(status, body)])
    with pytest.raises(TwelveDataUnavailable) as info:
        client.time_series("XAU/USD", "15min")
    assert expected in assert_clean(info.value)


def test_timeout_is_unavailable(fake):
    fake.hang_next(1.0)
    with TwelveDataClient(KEY, base_url=fake.base_url, timeout=0.2) as c:
        with pytest.raises(TwelveDataUnavailable) as info:
            c.price("XAU/USD")
    assert assert_clean(info.value) == (f"Could not reach Twelve Data at {fake.base_url}: "
                                        "timed out after 0.2 s; try again later.")


def test_connection_refused_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with TwelveDataClient(KEY, base_url=f"http://127.0.0.1:{port}", timeout=2.0) as c:
        with pytest.raises(TwelveDataUnavailable) as info:
            c.time_series("XAU/USD", "15min")
    text = assert_clean(info.value)
    assert text.startswith(f"Could not reach Twelve Data at http://127.0.0.1:{port}: ")
    assert info.value.exit_code == EXIT_FAILURE and isinstance(info.value, OperationalError)


# ------------------------------------------------------------------ budget and validation

def test_budget_is_charged_once_per_request(fake, client):
    charges = []
    with TwelveDataClient(KEY, base_url=fake.base_url, budget=charges.append) as c:
        c.time_series("XAU/USD", "15min")
        c.price("XAU/USD")
        with pytest.raises(TwelveDataSymbolError):
            c.price("NOPE/USD")
    assert charges == [1, 1, 1] and len(fake.requests) == 3


def test_raising_budget_prevents_the_request(fake):
    class OutOfBudget(OperationalError):
        pass

    def budget(n: int) -> None:
        raise OutOfBudget("Daily Twelve Data budget used up.")

    with TwelveDataClient(KEY, base_url=fake.base_url, budget=budget) as c:
        with pytest.raises(OutOfBudget):
            c.time_series("XAU/USD", "15min")
        with pytest.raises(OutOfBudget):
            c.price("XAU/USD")
    assert fake.requests == []


@pytest.mark.parametrize("kwargs", [{"interval": "10min"}, {"interval": "1week"},
                                    {"interval": "15min", "outputsize": 0},
                                    {"interval": "15min", "outputsize": 5001}])
def test_invalid_arguments_are_rejected_before_a_request(fake, kwargs):
    charges = []
    with TwelveDataClient(KEY, base_url=fake.base_url, budget=charges.append) as c:
        with pytest.raises(ValidationError):
            c.time_series("XAU/USD", **kwargs)
    assert fake.requests == [] and charges == []


def test_key_is_not_in_repr_and_must_not_be_empty(fake, client):
    assert KEY not in repr(client) and fake.base_url in repr(client)
    with pytest.raises(ValidationError):
        TwelveDataClient("  ")


def test_fake_error_bodies_match_the_real_api(fake):
    import httpx

    r = httpx.get(f"{fake.base_url}/time_series", params={"symbol": "XAU/USD", "interval": "15min"})
    assert r.status_code == 401 and r.json()["code"] == 401 and r.json()["status"] == "error"
    assert r.json()["message"].startswith("**apikey** parameter is incorrect or not specified.")
    r = httpx.get(f"{fake.base_url}/time_series", params={"symbol": "XAU/USDX", "interval": "15min",
                                                          "timezone": "UTC", "apikey": KEY})
    assert r.status_code == 200 and r.json() == {
        "code": 404, "status": "error",
        "message": "**symbol** not found: XAU/USDX. Please specify it correctly according to API Reference."}
    r = httpx.get(f"{fake.base_url}/time_series", params={"symbol": "XAU/USD", "interval": "15min",
                                                          "timezone": "UTC", "apikey": KEY, "outputsize": "2"})
    assert r.json()["meta"] == {"symbol": "XAU/USD", "interval": "15min", "currency_base": "Gold Spot",
                                "currency_quote": "US Dollar", "type": "Physical Currency"}
    assert r.json()["values"][0] == {"datetime": "2025-12-27 01:15:00", "open": "4505.00000",
                                     "high": "4507.00000", "low": "4503.00000", "close": "4506.00000"}
