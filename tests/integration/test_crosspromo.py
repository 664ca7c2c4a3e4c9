"""Cross promo end to end on SQLite and PostgreSQL: the daily posts, win copies and their replies,
retries through the outbox, feeds that misbehave, attribution of /starts, and the CLI."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import select

from promostack_cli.crosspromo import config, service
from promostack_cli.crosspromo.models import CrossPromoJob, CrossPromoStart
from promostack_cli.outbox.models import OutboxMessage
from promostack_cli.outbox.sender import Sender, SenderConfig
from promostack_cli.settings import Settings
from tests.conftest import MESSAGE_TOKEN, SIGNAL_TOKEN
from tests.forex_fixtures import uptrend

FREE = "@entrylab_free"
CTA = "https://t.me/entrylab_helper_bot?start=vip"
MONDAY = datetime(2026, 10, 19, tzinfo=UTC)


def market(start=MONDAY - timedelta(days=7), end=MONDAY + timedelta(days=21)):
    """Hourly gold candles around the test's weeks, as a file market."""
    import pandas as pd

    from promostack_cli.forex.market import FileMarket

    bars = uptrend(start, end, 60, base=2400.0, per_bar=0.5)
    frame = pd.DataFrame([b[1:] for b in bars], columns=["open", "high", "low", "close"],
                         index=pd.DatetimeIndex([b[0] for b in bars], name="datetime"))
    m = FileMarket(frame, "1h")
    return lambda runtime, symbol: m


def connect(db, box, tenant_id, role, token, username, **channels):
    from promostack_cli.connections.models import BotConnection
    from promostack_cli.core.secrets import fingerprint, mask

    with db.transaction() as s:
        s.add(BotConnection(tenant_id=tenant_id, role=role, bot_id=int(token.split(":")[0]), username=username,
                            token_encrypted=box.encrypt(token), token_hint=mask(token),
                            webhook_path_hash=fingerprint(role + str(tenant_id)), webhook_path_encrypted=box.encrypt("p"),
                            webhook_token_encrypted=box.encrypt("h"), **channels))


@pytest.fixture
def promo(db, box, tenant_id):
    connect(db, box, tenant_id, "signal_bot", SIGNAL_TOKEN, "entrylab_signals_bot", vip_channel="-1001000000001",
            free_channel=FREE)
    connect(db, box, tenant_id, "message_bot", MESSAGE_TOKEN, "entrylab_helper_bot")
    with db.transaction() as s:
        config.update(s, tenant_id, {"enabled": True, "cta_url": CTA, "timezone": "Europe/London",
                                     "win_delay": "30m"}, MONDAY)
    return db


def run(db, now, **kw):
    return service.run(db, Settings(), now, "test-worker", market_for=kw.pop("market_for", None) or market(), **kw)


def outbox(db):
    with db.session() as s:
        return list(s.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def jobs(db):
    with db.session() as s:
        return list(s.exec(select(CrossPromoJob).order_by(CrossPromoJob.id)))


def deliver(db, box, fake, clock=None, **cfg):
    """One delivery run; on ``clock`` (tests/clock.py SimClock), retry backoffs do not wait in real time."""
    deadline = cfg.pop("deadline", 15.0)
    timing = {"clock": clock, "sleep": clock.sleep} if clock else {}
    sender = Sender(db, box, SenderConfig(api_url=fake.base_url, timeout=2.0, **cfg), **timing)
    try:
        return sender.run((clock or time.time)() + deadline)
    finally:
        sender.close()


def signal_with(db, tenant_id, opened: datetime, events: list[tuple[str, datetime]], *, status="open", pips=0.0,
                result=None, stage=None):
    from promostack_cli.forex.models import ForexSignal, ForexSignalEvent

    with db.transaction() as s:
        sig = ForexSignal(tenant_id=tenant_id, strategy="raja_banks", symbol="XAU/USD", timeframe="15min",
                          direction="BUY", bar_ts=opened - timedelta(minutes=15), opened_at=opened, entry=2400.0,
                          initial_stop=2397.0, stop=2397.0, targets=[2402.5, 2405.0, 2410.0],
                          close_percents=[50.0, 30.0, 20.0], pip_size=0.1, status=status,
                          stage=stage if stage is not None else sum(k.startswith("tp") for k, _ in events),
                          result=result, pips=pips, expires_at=opened + timedelta(hours=8), monitored_until=opened)
        s.add(sig)
        s.flush()
        for kind, at in events:
            s.add(ForexSignalEvent(tenant_id=tenant_id, signal_id=sig.id, kind=kind, at=at, price=2402.5))
        return sig.id


def test_a_day_posts_the_morning_news_and_the_teaser_once_each_at_local_time(promo, tenant_id):
    db = promo
    # 08:59 UTC = 09:59 BST: morning news (09:00 local) is due, the teaser (10:00 local) is not
    report = run(db, MONDAY.replace(hour=8, minute=59))
    assert report.queued == 1
    again = run(db, MONDAY.replace(hour=8, minute=59, second=30))
    assert again.enqueued == again.queued == 0
    run(db, MONDAY.replace(hour=9, minute=0))
    msgs = outbox(db)
    assert [m.source for m in msgs] == ["crosspromo:morning_news", "crosspromo:teaser"]
    news, teaser = msgs
    assert news.chat_id == FREE and news.bot_role == "signal_bot"
    text = news.payload["text"]
    assert "morning news" in text and "Pivots" in text and "since the previous close" in text
    button = news.payload["reply_markup"]["inline_keyboard"][0][0]
    assert button["text"] == "Join VIP" and button["url"].startswith(CTA + "__cp")
    assert "nothing to show" not in teaser.payload["text"] and "VIP signals" in teaser.payload["text"]  # no signals: neutral
    assert {j.unique_key: j.status for j in jobs(db)} == {"morning_news:2026-10-19": "queued", "teaser:2026-10-19": "queued"}


def test_a_run_that_starts_late_posts_within_the_window_and_cancels_beyond_it(promo, tenant_id):
    db = promo
    run(db, MONDAY.replace(hour=9, minute=50))        # 10:50 BST: news 1h50 late (posts), teaser 50 min late
    run(db, MONDAY + timedelta(days=1, hours=12))     # Tue 13:00 BST: both of Tuesday's are beyond 2h
    by_key = {j.unique_key: j for j in jobs(db)}
    assert by_key["morning_news:2026-10-19"].status == "queued"
    assert by_key["teaser:2026-10-19"].status == "queued"
    for key in ("morning_news:2026-10-20", "teaser:2026-10-20"):
        assert by_key[key].status == "cancelled" and by_key[key].last_error.startswith("late: due Tue 20 Oct")
    assert len(outbox(db)) == 2


def test_a_win_is_copied_once_after_the_delay_with_its_button_and_later_tps_reply_to_it(promo, tenant_id, box, fake_tg):
    db = promo
    fake_tg.add_chat(FREE, type="channel")
    opened = MONDAY.replace(hour=13)
    won = signal_with(db, tenant_id, opened, [("tp1", opened + timedelta(minutes=40))])
    stopped = signal_with(db, tenant_id, opened + timedelta(minutes=15), [], status="closed", pips=-30.0, result="stop")
    run(db, opened + timedelta(minutes=60))           # 20 min after TP1: inside the 30 min delay
    assert [j.kind for j in jobs(db) if j.kind.startswith("win")] == []
    run(db, opened + timedelta(minutes=71))
    run(db, opened + timedelta(minutes=75))           # a second run adds nothing
    copies = [m for m in outbox(db) if m.source == "crosspromo:win"]
    assert len(copies) == 1
    assert "TP1 hit" in copies[0].payload["text"] and "+12.5 pips" in copies[0].payload["text"]
    assert f"win:{stopped}" not in {j.unique_key for j in jobs(db)}  # a stopped-out signal: nothing

    with db.transaction() as s:
        from promostack_cli.forex.models import ForexSignalEvent

        s.add(ForexSignalEvent(tenant_id=tenant_id, signal_id=won, kind="tp2", at=opened + timedelta(minutes=90),
                               price=2405.0))
    run(db, opened + timedelta(minutes=125))
    deliver(db, box, fake_tg)
    sent = fake_tg.sent(chat_id=FREE)
    copy, reply = [m for m in sent if "TP" in m["text"]]
    markup = copy["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    assert markup["inline_keyboard"][0][0]["url"].startswith(CTA + "__cp")
    assert "TP2 hit" in reply["text"]
    assert reply["reply_to_message_id"] == copy["message_id"]


def test_wins_beyond_the_daily_limit_and_unprofitable_signals_are_not_copied(promo, tenant_id):
    db = promo
    opened = MONDAY.replace(hour=12)
    first = signal_with(db, tenant_id, opened, [("tp1", opened + timedelta(minutes=10))])
    second = signal_with(db, tenant_id, opened + timedelta(minutes=5), [("tp1", opened + timedelta(minutes=20))])
    gave_back = signal_with(db, tenant_id, opened.replace(hour=11), [("tp1", opened.replace(hour=11, minute=10))],
                            status="closed", pips=-5.0, result="stop", stage=1)
    run(db, opened + timedelta(hours=1))
    by_key = {j.unique_key: j for j in jobs(db)}
    assert by_key[f"win:{first}"].status == "queued"
    assert by_key[f"win:{second}"].status == "cancelled" and "max_wins_per_day (1)" in by_key[f"win:{second}"].last_error
    assert "closed without profit" in by_key[f"win:{gave_back}"].last_error
    assert [m.source for m in outbox(db)].count("crosspromo:win") == 1


def test_a_5xx_from_the_bot_api_is_retried_and_a_post_that_keeps_failing_ends_failed_then_retry_brings_it_back(
        promo, tenant_id, box, fake_tg, clock):
    from promostack_cli.crosspromo import queue

    db = promo
    fake_tg.add_chat(FREE, type="channel")
    run(db, MONDAY.replace(hour=8, minute=1))
    fake_tg.fail_next("sendMessage", 502, count=1)
    deliver(db, box, fake_tg, clock, max_attempts=3)
    run(db, MONDAY.replace(hour=8, minute=2))
    assert jobs(db)[0].status == "completed" and len(fake_tg.sent(chat_id=FREE)) == 1

    run(db, MONDAY.replace(hour=9, minute=1))
    fake_tg.fail_next("sendMessage", 500, count=2)
    deliver(db, box, fake_tg, clock, max_attempts=2)
    run(db, MONDAY.replace(hour=9, minute=2))
    teaser = jobs(db)[1]
    assert teaser.status == "failed" and "500" in teaser.last_error and teaser.last_error.startswith("Telegram:")

    with db.transaction() as s:
        assert queue.retry(s, tenant_id, teaser.id, MONDAY.replace(hour=9, minute=3)).status == "queued"
    deliver(db, box, fake_tg, clock)
    run(db, MONDAY.replace(hour=9, minute=4))
    assert jobs(db)[1].status == "completed" and len(fake_tg.sent(chat_id=FREE)) == 2


class _Feeds(BaseHTTPRequestHandler):
    routes: dict = {}
    hits: list = []

    def do_GET(self):  # noqa: N802
        self.hits.append(self.path)
        route = self.routes.get(self.path)
        if route == "hang":
            time.sleep(8)
            return
        status, ctype, body = route or (404, "text/plain", b"nope")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def feed_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feeds)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Gold</title>
<item><title>Gold &amp; silver rally &lt;script&gt;alert(1)&lt;/script&gt;</title><link>https://news.example/a?x=1&amp;y=2</link></item>
<item><title><![CDATA[Fed <b>holds</b> rates & "waits"]]></title><link>javascript:alert(1)</link></item>
</channel></rss>"""


def test_feeds_that_time_out_return_html_or_carry_markup_leave_the_post_going_out_escaped(promo, tenant_id, feed_server,
                                                                                        monkeypatch):
    from promostack_cli.crosspromo import feeds

    monkeypatch.setattr(feeds, "TIMEOUT_SECONDS", 1.0)
    _Feeds.hits = []
    _Feeds.routes = {"/gold.rss": (200, "application/rss+xml", RSS), "/html": (200, "text/html", b"<html><body>hi</body></html>"),
                     "/slow": "hang", "/down": (503, "text/plain", b"down")}
    db = promo
    # the settings accept https feeds only; the stand-in is plain http, so write the list as stored
    with db.transaction() as s:
        from promostack_cli.crosspromo.models import CrossPromoSettings

        row = s.get(CrossPromoSettings, tenant_id)
        row.values = {**row.values, "feeds": [f"{feed_server}{p}" for p in ("/slow", "/html", "/down", "/gold.rss")]}
        s.add(row)
    monkeypatch.setattr(config, "check_https", lambda name, text: text)
    report = run(db, MONDAY.replace(hour=8, minute=1))
    assert report.queued == 1
    assert len(report.warnings) == 3 and any("timed out" in w for w in report.warnings)
    assert any("not an RSS or Atom feed" in w for w in report.warnings) and any("HTTP 503" in w for w in report.warnings)
    text = outbox(db)[0].payload["text"]
    # feedparser drops the script element, the rest is escaped for Telegram's HTML
    assert "Gold &amp; silver rally alert(1)" in text and "<script" not in text and "&lt;script" not in text
    assert '<a href="https://news.example/a?x=1&amp;y=2">' in text
    assert "Fed holds rates &amp; &#34;waits&#34;" in text and "javascript:" not in text
    from promostack_cli.telegram.html import visible_length  # Telegram would accept it
    assert visible_length(text, "HTML") < 4096
    # the teaser's run in the same hour reads the cache: no feed is fetched again
    assert sorted(_Feeds.hits) == ["/down", "/gold.rss", "/html", "/slow"]
    from promostack_cli.crosspromo.feeds import headlines

    again = headlines(db, tenant_id, [f"{feed_server}/slow", f"{feed_server}/gold.rss"], MONDAY.replace(hour=8, minute=59), 3)
    assert len(_Feeds.hits) == 4 and [h["title"] for h in again.items][0] == "Gold & silver rally alert(1)"
    assert again.warnings == [f"feed {feed_server}/slow: timed out after 1 s"]


def test_a_start_through_a_posts_link_starts_the_journey_and_counts_for_that_post(promo, tenant_id):
    from promostack_cli.crosspromo.stats import by_kind, post_figures
    from promostack_cli.journeys.service import apply_import, plan_import
    from promostack_cli.journeys.spec.parser import parse_text
    from promostack_cli.core.secrets import SecretBox
    from promostack_cli.settings import Settings
    from promostack_cli.telegram.updates import BotRef, parse as parse_update
    from promostack_cli.webhooks.handlers import Dispatcher
    from tests.conftest import TEST_KEY

    db = promo
    spec, errors = parse_text("journey: vip\nname: VIP\nstatus: active\ntriggers:\n  - deep_link: vip\nsteps:\n  - id: hi\n    type: message\n"
                              "    text: Welcome to VIP\n", "vip.yaml")
    assert not errors, errors
    with db.transaction() as s:
        apply_import(s, tenant_id, plan_import(s, tenant_id, [spec]), MONDAY)
    run(db, MONDAY.replace(hour=8, minute=1))
    link = outbox(db)[0].payload["reply_markup"]["inline_keyboard"][0][0]["url"]
    payload = link.split("start=")[1]
    dispatcher = Dispatcher(Settings(), SecretBox(TEST_KEY))   # the receiver's router, every domain's handlers
    for update_id, chat in ((1, 5550101), (2, 5550101), (3, 5550102)):
        update = {"update_id": update_id, "message": {"message_id": update_id, "date": 1, "text": f"/start {payload}",
                                                      "chat": {"id": chat, "type": "private", "first_name": "Ana"},
                                                      "from": {"id": chat, "is_bot": False, "first_name": "Ana"}}}
        parsed = parse_update(update, BotRef(tenant_id, int(MESSAGE_TOKEN.split(":")[0]), "message_bot"))
        with db.transaction() as s:
            dispatcher.dispatch(s, parsed, MONDAY.replace(hour=9))
    with db.session() as s:
        assert len(s.exec(select(CrossPromoStart)).all()) == 2            # once per user and post
        figures = post_figures(s, tenant_id, MONDAY.replace(hour=10), 30)
    assert [(f.kind, f.starts) for f in figures] == [("morning_news", 2)]
    assert by_kind(figures)[0]["starts"] == 2
    texts = [m.payload["text"] for m in outbox(db) if m.bot_role == "message_bot"]
    # every /start ran the journey of "vip" (it ends after its one message), the code counted users once
    assert texts.count("Welcome to VIP") == 3

    # 5550101 paid after coming through the post; 5550102 had paid before it: one conversion
    from promostack_cli.attribution import conversions
    from promostack_cli.billing.models import BillingPayment, TelegramSubscription

    with db.transaction() as s:
        for user, sub, paid_at in ((5550101, "sub_a", MONDAY.replace(hour=11)), (5550102, "sub_b", MONDAY - timedelta(days=3))):
            s.add(TelegramSubscription(tenant_id=tenant_id, telegram_user_id=user, stripe_subscription_id=sub,
                                       status="active"))
            s.add(BillingPayment(tenant_id=tenant_id, invoice_id=f"in_{sub}", stripe_subscription_id=sub, status="paid",
                                 amount=4900, currency="usd", at=paid_at))
    with db.session() as s:
        figures = post_figures(s, tenant_id, MONDAY.replace(hour=12), 30, conversions=conversions)
    assert [(f.starts, f.conversions) for f in figures] == [(2, 1)]
    assert by_kind(figures)[0]["conversions"] == 1
