"""Integration tier: real SQLite and PostgreSQL through the product's own code, the loopback fakes,
everything in this process. ``receiver`` is the webhook app under uvicorn on 127.0.0.1 (a thread),
with the message bot connected through ``ConnectionsService`` and the example journeys imported.
``clock`` and ``sim_tg``: a simulated clock for paced work, and the fake Bot API on it."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from types import SimpleNamespace

import httpx
import pytest
from sqlmodel import select

from tests.conftest import EXAMPLES, MESSAGE_TOKEN, free_port, wait_for
from tests.factories import connect_bot, import_journeys

PUBLIC = "https://promo.example.com"


@pytest.fixture
def clock():
    """A ``SimClock`` (tests/clock.py): pass it, and its ``sleep``, where the product takes a clock; waits that
    only pass time are skipped. ``clock.skipped`` says how much real time that saved."""
    from tests.clock import SimClock

    sim = SimClock()
    yield sim
    sim.stop()


@pytest.fixture
def sim_tg(clock):
    """The fake Bot API on ``clock``: it measures Telegram's limits on the same time line as the sender."""
    from tests.conftest import start_fake_tg

    fake = start_fake_tg(clock=clock)
    yield fake
    fake.stop()


@pytest.fixture
def sender_timeline(monkeypatch, clock):
    """What the sender itself decided, on ``clock``: ``calls``, each Bot API call as (method, when it began,
    when its thread last checked for a 429 pause before it), and ``pauses``, each 429 pause it recorded
    (recorded at, until). When requests reach the fake depends on how threads are scheduled: a call whose
    check came before the pause was known lands after the 429 however fast the sender reacts, and a busy
    machine widens that window. Whether a call was decided after the pause was known does not depend on
    scheduling, so tests assert on that (``decided_in_a_pause``)."""
    import threading

    from promostack_cli.outbox.pacing import Pacer
    from promostack_cli.outbox.sender import Sender
    from promostack_cli.telegram.client import TelegramClient

    timeline = SimpleNamespace(calls=[], pauses=[])
    checked: dict[int, float] = {}
    call, pause, paused_until = TelegramClient.call, Pacer.pause, Sender._paused_until

    def timed_call(self, method, **params):
        now = clock()
        timeline.calls.append((method, now, checked.pop(threading.get_ident(), now)))
        return call(self, method, **params)

    def timed_pause(self, bot_id, until):
        timeline.pauses.append((clock(), until))
        return pause(self, bot_id, until)

    def timed_check(self, bot_id):
        checked[threading.get_ident()] = clock()
        return paused_until(self, bot_id)

    monkeypatch.setattr(TelegramClient, "call", timed_call)
    monkeypatch.setattr(Pacer, "pause", timed_pause)
    monkeypatch.setattr(Sender, "_paused_until", timed_check)
    timeline.decided_in_a_pause = lambda method="sendMessage": [
        (began, decided) for m, began, decided in timeline.calls
        if m == method and any(at <= decided < until for at, until in timeline.pauses)]
    return timeline


@contextmanager
def serving(app):
    """``app`` (the receiver) under uvicorn in a thread on a free loopback port; an httpx client to it."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.config.port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def receiver(db, box, tenant_id, fake_tg, tmp_path):
    from promostack_cli.settings import Settings
    from promostack_cli.webhooks.app import create_app

    settings = Settings(telegram_api_url=fake_tg.base_url, public_url=PUBLIC, data_dir=tmp_path)
    connect_bot(db, box, tenant_id, "message_bot", MESSAGE_TOKEN, telegram=fake_tg, public_url=PUBLIC)
    import_journeys(db, tenant_id, EXAMPLES)
    hook = fake_tg.webhooks[MESSAGE_TOKEN]
    path = "/api/bot-webhook/" + hook["url"].rsplit("/", 1)[1]
    from promostack_cli.webhooks.handlers import Dispatcher

    with serving(create_app(db, box, settings)) as client:
        yield Receiver(client, path, hook["secret_token"], db, Dispatcher(settings, box))


class Receiver:
    def __init__(self, client, path, secret, db, dispatcher):
        self.client, self.path, self.secret, self.db = client, path, secret, db
        self.dispatcher = dispatcher  # as the receiver's own: for `webhook retry` in tests

    def post(self, update, *, secret=None, path=None, raw: bytes | None = None, settle: bool = True):
        """Post like Telegram; then (``settle``) wait until the receiver has processed what it stored."""
        body = raw if raw is not None else json.dumps(update).encode()
        r = self.client.post(path or self.path, content=body, headers={
            "X-Telegram-Bot-Api-Secret-Token": self.secret if secret is None else secret,
            "Content-Type": "application/json"})
        if settle and r.status_code == 200:
            assert wait_for(lambda: all(u.status != "received" for u in self.updates())), \
                "a stored update was not processed"
        return r

    def updates(self):
        from promostack_cli.webhooks.models import TelegramUpdate

        with self.db.session() as s:
            return list(s.exec(select(TelegramUpdate).order_by(TelegramUpdate.id)))

    def sessions(self):
        from promostack_cli.journeys.models import JourneySession

        with self.db.session() as s:
            return list(s.exec(select(JourneySession).order_by(JourneySession.id)))
