"""Several ``promostack scheduler tick`` processes at once: each message delivered exactly once,
in order per chat, within Telegram's limits (enforced by the fake Bot API)."""

from collections import defaultdict

import pytest
import sqlalchemy as sa

from promostack_cli.db import Database
from tests.acceptance.conftest import Cli, base_env
from tests.conftest import MESSAGE_TOKEN
from tests.fakes.telegram import FakeTelegram
from tests.factories import backlog, connect_bot, tenant

pytestmark = pytest.mark.serial  # timing-sensitive: run alone (see .ci/run)


def seed(db_url: str, box, n_messages: int, n_chats: int) -> None:
    db = Database(db_url)
    from promostack_cli.system.migrate import upgrade

    upgrade(db)
    tenant_id = tenant(db, "entrylab", None)
    connect_bot(db, box, tenant_id, "message_bot", MESSAGE_TOKEN)
    backlog(db, tenant_id, n_messages, n_chats, first_chat=6000000)
    db.engine.dispose()


def run_ticks(tmp_path, db_url, fake, processes: int, budget: str = "300s", rate: float | None = None):
    env = base_env(tmp_path)
    env.update({"PROMOSTACK_DATABASE_URL": db_url, "PROMOSTACK_TELEGRAM_API_URL": fake.base_url})
    if rate:
        env["PROMOSTACK_SEND_RATE_PER_BOT"] = str(rate)
    cli = Cli(env, tmp_path)
    procs = [cli.popen("--json", "scheduler", "tick", "--for", budget) for _ in range(processes)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        import json

        results.append(json.loads(out))
    return results


def check_exactly_once_in_order(fake, n_messages: int, db_url: str):
    sent = fake.sent(token=MESSAGE_TOKEN)
    texts = [m["text"] for m in sent]
    assert len(texts) == n_messages, f"{len(texts)} delivered"
    assert len(set(texts)) == n_messages, "a message was delivered twice"
    per_chat = defaultdict(list)
    for m in sent:
        per_chat[m["chat_id"]].append(int(m["text"][1:]))
    assert all(seq == sorted(seq) for seq in per_chat.values()), "order per chat broken"
    with Database(db_url).engine.connect() as conn:
        statuses = dict(conn.execute(sa.text("SELECT status, count(*) FROM outbox_messages GROUP BY status")).all())
    assert statuses == {"sent": n_messages}


@pytest.fixture
def fast_tg():
    """A Bot API whose bots may send 100/s (Telegram: 30/s): the same limits, a third of the wait."""
    fake = FakeTelegram(allow_http_webhooks=True, bot_per_second=100).start()
    fake.add_bot(MESSAGE_TOKEN, "entrylab_helper_bot")
    yield fake
    fake.stop()


@pytest.mark.postgres
@pytest.mark.slow
def test_three_ticks_1500_messages_300_chats_postgres(tmp_path, pg_url, fast_tg, box):
    seed(pg_url, box, 1500, 300)
    results = run_ticks(tmp_path, pg_url, fast_tg, 3, rate=93)
    assert sum(r["sent"] for r in results) == 1500
    assert all(r["sent"] > 0 for r in results), "every process took part"
    check_exactly_once_in_order(fast_tg, 1500, pg_url)
    assert fast_tg.count_429 == 0
    assert sum(r["rate_limited"] for r in results) == 0


def test_three_ticks_on_sqlite(tmp_path, sqlite_url, fake_tg, box):
    seed(sqlite_url, box, 300, 100)
    results = run_ticks(tmp_path, sqlite_url, fake_tg, 3)
    assert sum(r["sent"] for r in results) == 300
    check_exactly_once_in_order(fake_tg, 300, sqlite_url)
    assert fake_tg.count_429 == 0


@pytest.mark.postgres
def test_429_storm_is_waited_out_nothing_lost(tmp_path, pg_url, fake_tg, box):
    seed(pg_url, box, 300, 300)
    fake_tg.fail_next("sendMessage", 429, count=12, retry_after=1)
    results = run_ticks(tmp_path, pg_url, fake_tg, 2)
    assert sum(r["sent"] for r in results) == 300
    assert sum(r["rate_limited"] for r in results) == 12
    check_exactly_once_in_order(fake_tg, 300, pg_url)
    with Database(pg_url).engine.connect() as conn:
        assert conn.execute(sa.text("SELECT sum(rate_limited) FROM outbox_messages")).scalar() == 12


@pytest.mark.postgres
@pytest.mark.slow
def test_cron_waves_of_looping_ticks_never_stall_the_bot(tmp_path, pg_url, fake_tg, box):
    """The README's cron line, time-compressed: 4 looping ticks start every 6 s (as 4 machines'
    cron starts them each minute) and overlap the previous ones (process start-up is not what this
    measures), so loop boundaries and overlapping processes happen. The bot keeps sending until the
    backlog is gone: the shared schedule never runs ahead of the clock."""
    import threading
    import time

    from promostack_cli.outbox.models import BotRateLimit

    n = 450  # 16 s of sending at 28/s: three waves of four, overlapping
    seed(pg_url, box, n, 225)
    env = base_env(tmp_path)
    env.update({"PROMOSTACK_DATABASE_URL": pg_url, "PROMOSTACK_TELEGRAM_API_URL": fake_tg.base_url})
    cli = Cli(env, tmp_path)
    db = Database(pg_url)
    ahead: list[float] = []
    done = threading.Event()

    def sample():
        while not done.is_set():
            with db.engine.connect() as conn:
                row = conn.execute(sa.select(BotRateLimit.next_slot_at, BotRateLimit.paused_until)).first()
            if row:
                ahead.append(max(row) - time.time())
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    procs = []
    try:
        for wave in range(6):
            procs += [cli.popen("--json", "scheduler", "tick", "--loop", "3s", "--for", "12s") for _ in range(4)]
            time.sleep(6)
            if len(fake_tg.sent(token=MESSAGE_TOKEN)) >= n:
                break
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
    finally:
        done.set()
        sampler.join()
        for p in procs:
            if p.poll() is None:
                p.kill()
    at = sorted(m["at"] for m in fake_tg.sent(token=MESSAGE_TOKEN))
    longest = max(b - a for a, b in zip(at, at[1:]))
    check_exactly_once_in_order(fake_tg, n, pg_url)
    assert fake_tg.count_429 == 0
    assert max(ahead) <= 1.5, f"the shared schedule ran {max(ahead):.1f} s ahead of the clock"
    assert longest < 3.0, f"the bot sent nothing for {longest:.1f} s with messages waiting"
