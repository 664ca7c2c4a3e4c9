"""The receiver as deployed (``promostack webhook serve --workers 2``, PostgreSQL) under hostile load.

* 20 copies of a user's ``/start`` at once, and then 20 replies at once, for each of 30 users:
  one live session per user, every step sent once (a user's updates are processed one at a time).
* Database connections killed in the middle of a ``/start`` load, with a client that resends on
  any non-2xx as Telegram does: every user ends with exactly one session, nothing acknowledged is
  lost, and no database error counts as a send attempt.
* The same update from twenty threads at once: stored and processed once, "duplicate" for the rest.
* A burst of many users each writing several times (a /start, then their answers, each sent once
  the previous one was answered, as Telegram sends a chat's updates): processed in batches, every
  user's updates still one after the other and in order, so every user gets every step once.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
import sqlalchemy as sa

from tests.acceptance.conftest import Cli, base_env, healthy
from tests.conftest import MESSAGE_TOKEN, free_port, wait_for
from tests.factories import telegram_message as message

pytestmark = [pytest.mark.postgres, pytest.mark.slow]  # no timing assertions: runs in the parallel phase

APP_NAME = "promostack-receiver-under-test"  # + a suffix per test: the killer must not hit another test's receiver
JOURNEY = """\
journey: race
name: Race
status: active
re_entry: {policy}
triggers:
  - deep_link: {code}
steps:
  - id: hello
    type: message
    text: "Hello {{{{ first_name }}}}, welcome!"
  - id: name
    type: question
    text: "What should I call you?"
    save_as: nick
  - id: nice
    type: message
    text: "Nice to meet you, {{{{ nick }}}}!"
  - id: level
    type: question
    text: "How long have you traded?"
  - id: thanks
    type: message
    text: "Thanks, that's all."
"""


class Deployed:
    def __init__(self, cli: Cli, db_url: str, port: int, path: str, secret: str, proc, app_name: str):
        self.cli, self.db_url, self.port, self.path, self.secret, self.proc = cli, db_url, port, path, secret, proc
        self.app_name = app_name  # PGAPPNAME of this test's processes

    def post_until_accepted(self, client: httpx.Client, update: dict, *, give_up: float = 60.0) -> int:
        """Post like Telegram: anything but 2xx (or no answer) is sent again after a short wait."""
        end = time.time() + give_up
        tries = 0
        while True:
            tries += 1
            try:
                r = client.post(f"http://127.0.0.1:{self.port}{self.path}", json=update,
                                headers={"X-Telegram-Bot-Api-Secret-Token": self.secret})
                if 200 <= r.status_code < 300:
                    return tries
            except httpx.HTTPError:
                pass
            if time.time() > end:
                last = f"{r.status_code} {r.text[:200]}" if "r" in locals() else "no answer"
                raise AssertionError(f"update {update['update_id']} never accepted (last answer: {last})")
            time.sleep(0.2)

    def query(self, sql: str, **params):
        engine = sa.create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(sql), params).all()
        finally:
            engine.dispose()


@pytest.fixture
def deployed(tmp_path, pg_url, fake_tg):
    import uuid

    app_name = f"{APP_NAME}-{uuid.uuid4().hex[:8]}"
    env = base_env(tmp_path)
    env.update({"PROMOSTACK_DATABASE_URL": pg_url, "PROMOSTACK_TELEGRAM_API_URL": fake_tg.base_url,
                "PROMOSTACK_PUBLIC_URL": "https://promo.example.com", "PGAPPNAME": app_name})
    cli = Cli(env, tmp_path)
    assert cli("db", "upgrade").code == 0
    assert cli("tenants", "add", "entrylab").code == 0
    r = cli("-t", "entrylab", "connections", "set", "message_bot", "--token", MESSAGE_TOKEN)
    assert r.code == 0, r.stderr
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "race.yaml").write_text(JOURNEY.format(policy="block", code="race"))
    (tmp_path / "journeys" / "again.yaml").write_text(
        JOURNEY.format(policy="restart", code="again").replace("journey: race", "journey: again"))
    r = cli("-t", "entrylab", "journeys", "import", str(tmp_path / "journeys"))
    assert r.code == 0, r.stderr
    hook = fake_tg.webhooks[MESSAGE_TOKEN]
    port = free_port()
    log = open(os.environ.get("RECEIVER_LOG", tmp_path / "receiver.log"), "w")
    import subprocess

    from tests.acceptance.conftest import PROMOSTACK
    proc = subprocess.Popen([PROMOSTACK, "webhook", "serve", "--port", str(port), "--workers", "2"], stdout=log,
                            stderr=log, text=True, env={**env, "PROMOSTACK_LOG_LEVEL": "WARNING"}, cwd=tmp_path)
    try:
        assert wait_for(lambda: healthy(port), timeout=60), "the receiver did not start"
        yield Deployed(cli, pg_url, port, "/api/bot-webhook/" + hook["url"].rsplit("/", 1)[1],
                       hook["secret_token"], proc, app_name)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        finally:
            log.close()
            pass


def texts_by_user(fake_tg) -> dict[int, Counter]:
    out: dict[int, Counter] = {}
    for m in fake_tg.sent(token=MESSAGE_TOKEN):
        out.setdefault(int(m["chat_id"]), Counter())[m["text"]] += 1
    return out


def live_sessions(deployed: Deployed, journey: str) -> Counter:
    rows = deployed.query("SELECT chat_id, count(*) FROM journey_sessions WHERE journey_slug = :j "
                          "AND status IN ('active', 'waiting_delay', 'awaiting_reply') GROUP BY chat_id", j=journey)
    return Counter({int(chat): n for chat, n in rows})


def processed_all(deployed: Deployed) -> bool:
    return deployed.query("SELECT count(*) FROM telegram_updates WHERE status = 'received'")[0][0] == 0


def test_twenty_copies_of_start_and_of_a_reply_at_once(deployed, fake_tg):
    users = [7100000 + i for i in range(30)]
    next_id = iter(range(1, 10_000))
    starts = [(u, message(next(next_id), "/start race", user_id=u, first_name="Sam")) for u in users for _ in range(20)]
    with ThreadPoolExecutor(40) as pool, httpx.Client(timeout=30) as client:
        list(pool.map(lambda item: deployed.post_until_accepted(client, item[1]), starts))
        assert wait_for(lambda: processed_all(deployed), timeout=120)  # stored first, processed right after
        assert live_sessions(deployed, "race") == Counter({u: 1 for u in users})
        assert wait_for(lambda: all(texts_by_user(fake_tg).get(u) for u in users), timeout=120)
        replies = [(u, message(next(next_id), "Sam", user_id=u)) for u in users for _ in range(20)]
        list(pool.map(lambda item: deployed.post_until_accepted(client, item[1]), replies))
        assert wait_for(lambda: processed_all(deployed), timeout=120)
    r = deployed.cli("scheduler", "tick", "--for", "20s")  # the safety net delivers anything left
    assert r.code == 0, r.stderr
    by_user = texts_by_user(fake_tg)
    for u in users:
        assert by_user[u] == Counter({"Hello Sam, welcome!": 1, "What should I call you?": 1,
                                      "Nice to meet you, Sam!": 1, "How long have you traded?": 1,
                                      "Thanks, that's all.": 1}), f"user {u} got {dict(by_user[u])}"
    rows = deployed.query("SELECT chat_id, status FROM journey_sessions WHERE journey_slug = 'race'")
    assert Counter(status for _, status in rows) == Counter({"completed": 30})


def test_twenty_restarts_at_once_leave_one_live_session(deployed, fake_tg):
    users = [7200000 + i for i in range(30)]
    next_id = iter(range(20_000, 30_000))
    starts = [message(next(next_id), "/start again", user_id=u, first_name="Ann") for u in users for _ in range(20)]
    with ThreadPoolExecutor(40) as pool, httpx.Client(timeout=30) as client:
        list(pool.map(lambda update: deployed.post_until_accepted(client, update), starts))
    assert wait_for(lambda: processed_all(deployed), timeout=120)
    assert live_sessions(deployed, "again") == Counter({u: 1 for u in users})
    rows = deployed.query("SELECT count(*) FROM journey_sessions WHERE journey_slug = 'again' AND status = 'cancelled' "
                          "AND end_reason = 'restarted'")
    assert rows[0][0] == 30 * 19  # each /start restarted the one before it, one at a time


def test_killed_database_connections_lose_no_start(deployed, fake_tg):
    users = [7300000 + i for i in range(300)]
    stop = threading.Event()
    killed = []

    def kill_receiver_connections():  # every connection of the receiver, twice a second, for the first 10 s
        raw = deployed.db_url.split("?")[0].replace("postgresql+psycopg", "postgresql")
        until = time.time() + 10
        with psycopg.connect(raw, autocommit=True) as conn:
            while not stop.wait(0.5) and time.time() < until:
                rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE application_name = %s AND pid <> pg_backend_pid()", (deployed.app_name,)).fetchall()
                killed.append(len(rows))

    killer = threading.Thread(target=kill_receiver_connections)
    killer.start()
    tries = []
    try:
        with ThreadPoolExecutor(16) as pool, httpx.Client(timeout=30) as client:
            began = time.time()

            def start(i_user):  # user i's /start at began + i/30 s: ~30 a second for 10 s, while the killer runs
                i, user = i_user
                time.sleep(max(0.0, began + i / 30 - time.time()))
                tries.append(deployed.post_until_accepted(client, message(40_000 + i, "/start race", user_id=user)))

            list(pool.map(start, enumerate(users)))
    finally:
        stop.set()
        killer.join()
    assert sum(killed) >= 10, f"only {sum(killed)} connections were killed: the test did not test anything"
    assert wait_for(lambda: processed_all(deployed), timeout=120)  # the receiver processes what it stored
    r = deployed.cli("scheduler", "tick", "--for", "30s")
    assert r.code == 0, r.stderr
    assert live_sessions(deployed, "race") == Counter({u: 1 for u in users})
    lost = deployed.query("SELECT count(*) FROM telegram_updates WHERE payload IS NULL OR status <> 'processed'")
    assert lost[0][0] == 0, "an update was stored without its payload or left unprocessed"
    by_user = texts_by_user(fake_tg)
    assert all(by_user.get(u, Counter())["Hello Sam, welcome!"] == 1 for u in users)
    outbox = deployed.query("SELECT status, attempts, coalesce(last_error, '') FROM outbox_messages")
    assert Counter(status for status, _, _ in outbox) == Counter({"sent": 600})  # hello + the first question
    assert all(attempts == 1 and "internal error" not in error for _, attempts, error in outbox), \
        "a database error was counted as a send attempt"


def test_a_burst_of_users_each_writing_several_times_is_processed_in_order_per_user(deployed, fake_tg):
    users = [7400000 + i for i in range(150)]
    ids = {u: iter(range(50_000 + 10 * i, 50_000 + 10 * i + 10)) for i, u in enumerate(users)}
    texts = ["/start race", "Sam", "5 years"]

    def user_writes(client, u):  # each update once the previous one was answered, like Telegram per chat
        for text in texts:
            deployed.post_until_accepted(client, message(next(ids[u]), text, user_id=u, first_name="Sam"))

    with ThreadPoolExecutor(32) as pool, httpx.Client(timeout=30) as client:
        list(pool.map(lambda u: user_writes(client, u), users))
    assert wait_for(lambda: processed_all(deployed), timeout=120)
    rows = deployed.query("SELECT chat_id, status, variables FROM journey_sessions WHERE journey_slug = 'race'")
    assert sorted(int(chat) for chat, _, _ in rows) == users  # one session each
    assert {status for _, status, _ in rows} == {"completed"}, Counter(status for _, status, _ in rows)
    for _ in range(3):  # 750 messages at the bot's ~28/s: the safety net delivers what the receiver left
        r = deployed.cli("scheduler", "tick", "--for", "20s")
        assert r.code == 0, r.stderr
        if sum(sum(c.values()) for c in texts_by_user(fake_tg).values()) >= 5 * len(users):
            break
    by_user = texts_by_user(fake_tg)
    for u in users:
        assert by_user[u] == Counter({"Hello Sam, welcome!": 1, "What should I call you?": 1,
                                      "Nice to meet you, Sam!": 1, "How long have you traded?": 1,
                                      "Thanks, that's all.": 1}), f"user {u} got {dict(by_user[u])}"


def test_the_same_update_from_twenty_threads_is_stored_and_processed_once(deployed, fake_tg):
    """Telegram resending an update (a timeout on its side) while the first copy is still in flight,
    twenty times at once, for 30 users: each stored once, answered "stored" once and "duplicate" after."""
    users = [7500000 + i for i in range(30)]
    updates = [message(60_000 + i, "/start race", user_id=u, first_name="Sam") for i, u in enumerate(users)]
    answers: list[tuple[int, str]] = []

    def post(update):
        r = client.post(f"http://127.0.0.1:{deployed.port}{deployed.path}", json=update,
                        headers={"X-Telegram-Bot-Api-Secret-Token": deployed.secret})
        assert r.status_code == 200, r.text
        answers.append((update["update_id"], r.json()["status"]))

    with ThreadPoolExecutor(20) as pool, httpx.Client(timeout=30) as client:
        list(pool.map(post, [u for u in updates for _ in range(20)]))
    assert Counter(status for _, status in answers) == Counter({"stored": 30, "duplicate": 30 * 19})
    assert sorted(u for u, status in answers if status == "stored") == [u["update_id"] for u in updates]
    assert wait_for(lambda: processed_all(deployed), timeout=120)
    rows = deployed.query("SELECT update_id, count(*) FROM telegram_updates WHERE update_id >= 60000 GROUP BY 1")
    assert all(n == 1 for _, n in rows) and len(rows) == 30
    assert live_sessions(deployed, "race") == Counter({u: 1 for u in users})
    assert wait_for(lambda: all(texts_by_user(fake_tg).get(u, Counter())["What should I call you?"] == 1
                                for u in users), timeout=60)
    assert all(texts_by_user(fake_tg)[u]["Hello Sam, welcome!"] == 1 for u in users)
