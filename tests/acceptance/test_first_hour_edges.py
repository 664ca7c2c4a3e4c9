"""The first hour's edges, through the installed ``promostack`` (issue 13): a port in use, input that is not
an update, failures that can be dismissed, one "cannot reach" per message, a lost or changed
PROMOSTACK_SECRET_KEY (recovery, key rotation, a tick that goes on for the other bots) and a confirmed
``connections remove``. One line, the right exit code, no traceback, nothing changed when refused.

Rows are set up in-process (``tests/factories.py``, the product's own services) on a SQLite file the
CLI then uses: each CLI call costs a process start, so the set-up does not go through it."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa

from promostack_cli.core.secrets import SecretBox
from tests import factories
from tests.acceptance.conftest import Cli, base_env, one_line
from tests.conftest import EXAMPLES, MESSAGE_TOKEN, TEST_KEY, free_port

OLD_KEY = "the-old-secret-key-0123456789-abcdefghijklmnop"
THIRD_KEY = "a-third-secret-key-0123456789-abcdefghijklmnop"
BAD_TOKEN = "7000000003:AAFbadbadbadbadbadbadbadbadbadbad0003"
WHSEC = "whsec_testtesttesttesttest1234"
SK = "sk_test_abcdefghijklmnop1234"
COLUMNS = {"bot_connections": ("token_encrypted", "webhook_path_encrypted", "webhook_token_encrypted"),
           "billing_settings": ("webhook_secret_encrypted", "api_key_encrypted", "link_secret_encrypted")}


@pytest.fixture
def setup(tmp_path, sqlite_url, fake_tg):
    """(cli, db, tenant id): a migrated SQLite file with tenant 'entrylab'; the CLI uses it, TEST_KEY
    and the fake Bot API."""
    from promostack_cli.db import Database
    from promostack_cli.system.migrate import upgrade

    db = Database(sqlite_url)
    upgrade(db)
    tid = factories.tenant(db, "entrylab", "EntryLab")
    env = {**base_env(tmp_path), "PROMOSTACK_DATABASE_URL": sqlite_url, "PROMOSTACK_TELEGRAM_API_URL": fake_tg.base_url}
    yield Cli(env, tmp_path), db, tid
    db.engine.dispose()


def _rows(db, sql: str):
    with db.engine.connect() as conn:
        return conn.execute(sa.text(sql)).all()


def _secrets(db) -> list:
    return [row for name, cols in COLUMNS.items() for row in _rows(db, f"SELECT {', '.join(cols)} FROM {name}")]


def test_webhook_serve_on_a_port_in_use_says_so_in_one_line_before_any_listening_line(setup):
    cli = setup[0]
    port = free_port()
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", port))
        taken.listen()
        r = cli("webhook", "serve", "--port", str(port), timeout=30)
    line = one_line(r, 1)
    assert line == (f"Error: Port {port} on 127.0.0.1 is in use (another webhook serve?); stop that process "
                    "or choose another port with --port.")
    assert "Listening" not in r.stderr + r.stdout


def test_webhook_inject_refuses_input_that_is_not_an_update_and_stores_nothing(setup):
    cli, db, tid = setup
    factories.connect_bot(db, SecretBox(TEST_KEY), tid, "message_bot")
    cases = {"": "Error: No update given: the input is empty. Pipe the update JSON in, or pass --file FILE; "
                 "nothing was stored.",
             "hello": "Error: The input is not a Telegram update (not JSON: ",
             "[1, 2]": "Error: The input is not a Telegram update (not a Telegram update (no integer update_id)); "
                       "nothing was stored.",
             '{"update_id": 5}': "Error: The input is not a Telegram update (no update field Telegram sends "
                                 "(message, edited_message, channel_post, edited_channel_post, callback_query, ...)); "
                                 "nothing was stored.",
             '{"update_id": 6, "message": "hi"}': "Error: The input is not a Telegram update ("}
    for body, expected in cases.items():
        line = one_line(cli("-t", "entrylab", "webhook", "inject", input=body), 2)
        assert line.startswith(expected) and line.endswith("nothing was stored."), (body, line)
    assert _rows(db, "SELECT count(*) FROM telegram_updates")[0][0] == 0


def test_failed_updates_can_be_dismissed_and_stay_visible_with_their_status(setup):
    from promostack_cli.core.clock import utcnow
    from promostack_cli.settings import Settings
    from promostack_cli.telegram.updates import BotRef
    from promostack_cli.webhooks.handlers import Dispatcher
    from promostack_cli.webhooks.service import ingest

    cli, db, tid = setup
    bot = factories.connect_bot(db, SecretBox(TEST_KEY), tid, "message_bot")
    with db.transaction() as s:
        for body in (b"garbage 1", b"garbage 2", b"garbage 3"):
            dispatcher = Dispatcher(Settings(), SecretBox(TEST_KEY))
            assert ingest(dispatcher, s, BotRef(tid, bot["bot_id"], "message_bot"), body, utcnow()).status == "failed"
    first, second, third = [r[0] for r in _rows(db, "SELECT id FROM telegram_updates ORDER BY id")]

    r = cli("-t", "entrylab", "webhook", "failures", "--dismiss", str(first))
    assert r.code == 0 and f"1 failed update(s) dismissed ({first})" in r.stderr, r.stderr
    assert [u["id"] for u in cli("-t", "entrylab", "webhook", "failures", "--json").json()] == [third, second]
    line = one_line(cli("-t", "entrylab", "webhook", "failures", "--dismiss", "999"), 2)
    assert line == "Error: No failed update 999 for this tenant (see: promostack webhook failures)."
    line = one_line(cli("-t", "entrylab", "webhook", "failures", "--dismiss-all"), 2)
    assert line == ("Error: Dismiss all 2 failed update(s) of 'entrylab': pass --yes to confirm (no terminal to ask "
                    "on); nothing changed.")
    assert cli("-t", "entrylab", "webhook", "failures", "--dismiss-all", "--yes").code == 0
    shown = cli("-t", "entrylab", "webhook", "failures", "--dismissed", "--json").json()
    assert [(u["id"], u["status"]) for u in shown] == [(third, "dismissed"), (second, "dismissed"), (first, "dismissed")]
    r = cli("-t", "entrylab", "webhook", "retry")  # "retry all" no longer picks the dismissed ones up
    assert r.code == 0 and "0 of 0 update(s) processed" in r.stderr
    assert _rows(db, "SELECT count(*) FROM telegram_updates WHERE status = 'dismissed'")[0][0] == 3


def test_an_unreachable_bot_api_is_named_once(setup):
    cli, db, tid = setup
    closed = f"http://127.0.0.1:{free_port()}"
    r = cli("-t", "entrylab", "connections", "set", "message_bot", "--token", MESSAGE_TOKEN,
            env={"PROMOSTACK_TELEGRAM_API_URL": closed})
    line = one_line(r, 1)
    assert line == (f"Error: Cannot reach the Bot API at {closed}: [Errno 111] Connection refused. Nothing was stored; "
                    "use --no-validate to store the token offline.")
    assert line.lower().count("reach the bot api") == 1 and MESSAGE_TOKEN not in r.stderr
    assert _rows(db, "SELECT count(*) FROM bot_connections")[0][0] == 0


def test_after_the_secret_key_changed_set_replaces_the_secrets_and_keeps_the_queue(setup, fake_tg):
    cli, db, tid = setup
    factories.connect_bot(db, SecretBox(OLD_KEY), tid, "message_bot")   # stored under a key since lost
    factories.import_journeys(db, tid, EXAMPLES / "welcome.yaml")
    queued = factories.enqueue(db, tid, 5550001, "still here")
    fix = "promostack --tenant entrylab connections set message_bot --token <token>"

    listed = cli("-t", "entrylab", "connections", "list", "--json")
    assert listed.code == 0, listed.stderr
    assert listed.json()[0]["secrets"] == "cannot decrypt token, webhook secret, webhook header secret"
    r = cli("-t", "entrylab", "connections", "test", "message_bot", "--json")
    assert r.code == 1 and r.json()[0]["check"] == "secrets" and fix in r.json()[0]["detail"]
    assert fix in one_line(r, 1)
    link = cli("-t", "entrylab", "journeys", "link", "welcome")   # needs the username, never the token
    assert link.code == 0 and link.stdout.strip() == "https://t.me/entrylab_helper_bot?start=welcome", link.stderr
    line = one_line(cli("-t", "entrylab", "connections", "set", "message_bot"), 1)
    assert line.startswith("Error: Cannot decrypt the message_bot token of tenant 'entrylab'") and line.endswith(fix + ".")

    r = cli("-t", "entrylab", "connections", "set", "message_bot", "--token", MESSAGE_TOKEN)
    assert r.code == 0, r.stderr
    assert "could not be decrypted with the current key: replaced" in r.stderr and MESSAGE_TOKEN not in r.stderr
    assert [c.method for c in fake_tg.calls] == ["getMe"]     # replaced only once Telegram accepted the token
    assert cli("-t", "entrylab", "connections", "list", "--json").json()[0]["secrets"] == "ok"
    outbox = cli("-t", "entrylab", "outbox", "list", "--json").json()
    assert [(m["id"], m["status"]) for m in outbox] == [(queued, "pending")]


def test_secrets_rotate_re_encrypts_every_secret_all_or_nothing_with_the_old_key_never_in_argv(setup):
    from promostack_cli.billing import config as billing_config
    from promostack_cli.core.clock import utcnow

    cli, db, tid = setup
    old = SecretBox(OLD_KEY)
    factories.connect_bot(db, old, tid, "message_bot")
    with db.transaction() as s:
        billing_config.setup(s, tid, old, utcnow(), webhook_secret=WHSEC, api_key=SK, vip_chat_id="-1001000000001")
    other = factories.tenant(db, "second", "Second")
    factories.connect_bot(db, SecretBox(THIRD_KEY), other, "message_bot", BAD_TOKEN)
    before = _secrets(db)

    line = one_line(cli("secrets", "rotate"), 2)
    assert line.startswith("Error: No old key given: set PROMOSTACK_SECRET_KEY_OLD")
    line = one_line(cli("secrets", "rotate", "--old-key", OLD_KEY), 2)
    assert line.startswith("Error: The old key is not taken from the command line") and OLD_KEY not in line
    # during the rotation every process also reads the old key: nothing stops working
    during = cli("-t", "entrylab", "connections", "list", "--json", env={"PROMOSTACK_SECRET_KEY_OLD": OLD_KEY})
    assert during.json()[0]["secrets"] == "ok"
    # the second tenant's row is under a third key: refused, and nothing at all was re-encrypted
    line = one_line(cli("secrets", "rotate", "--old-key-file", "-", input=OLD_KEY + "\n"), 1)
    assert line.startswith("Error: Cannot rotate: 3 stored secret(s) decrypt with neither the current key nor the old "
                           "one (bot_connections id 2 (tenant 'second'): token_encrypted;") and "Nothing was changed" in line
    assert _secrets(db) == before

    r = cli("secrets", "rotate", "--old-key-file", "-", "--json", input=f"{OLD_KEY}\n{THIRD_KEY}\n")
    assert r.code == 0, r.stderr
    assert r.json()["rotated"] == 9 and r.json()["already_current"] == 0
    assert "Re-encrypted 9 secret(s) under the current key (2 bot_connections, 1 billing_settings)" in r.stderr
    current = SecretBox(TEST_KEY)
    for row in _secrets(db):
        assert all(current.is_current(v) for v in row if v)
    assert not any(old.can_decrypt(v) for row in _secrets(db) for v in row if v)
    again = cli("secrets", "rotate", "--json", env={"PROMOSTACK_SECRET_KEY_OLD": OLD_KEY})
    assert again.json()["rotated"] == 0 and again.json()["already_current"] == 9


def test_a_tick_sends_for_the_good_bot_and_keeps_the_undecryptable_bots_messages_queued(setup, fake_tg):
    cli, db, tid = setup
    bad = factories.tenant(db, "bad", "Bad")
    factories.connect_bot(db, SecretBox(TEST_KEY), tid, "message_bot", MESSAGE_TOKEN, telegram=fake_tg)
    factories.connect_bot(db, SecretBox(OLD_KEY), bad, "message_bot", BAD_TOKEN)
    for i in range(3):
        factories.enqueue(db, bad, 5550001 + i, f"bad {i}")
        factories.enqueue(db, tid, 5550001 + i, f"good {i}")

    r = cli("scheduler", "tick", "--for", "30s")
    assert r.code == 1
    assert "outbox.delivery: 3 sent, 0 dry-run, 0 failed, 0 to retry, 0 rate-limited, 3 handed back" in r.stderr
    errors = [line.split(" ", 1)[1] for line in r.stderr.splitlines() if " Error: " in line]  # after the time
    assert errors == ["Error: Cannot decrypt the message_bot token of tenant 'bad': PROMOSTACK_SECRET_KEY (or the key "
                      "file) is not the key it was stored with. Restore the original key (or put it in "
                      "PROMOSTACK_SECRET_KEY_OLD and run: promostack secrets rotate), or store it again: promostack "
                      "--tenant bad connections set message_bot --token <token>."]
    assert sorted(m["text"] for m in fake_tg.sent()) == ["good 0", "good 1", "good 2"]
    statuses = _rows(db, f"SELECT status, attempts FROM outbox_messages WHERE tenant_id = {bad}")
    assert statuses == [("pending", 0)] * 3


def test_connections_remove_needs_yes_without_a_terminal(setup):
    cli, db, tid = setup
    factories.connect_bot(db, SecretBox(TEST_KEY), tid, "message_bot")
    factories.enqueue(db, tid, 5550001, "hi")
    line = one_line(cli("-t", "entrylab", "connections", "remove", "message_bot"), 2)
    assert line == ("Error: Remove message_bot from 'entrylab' and cancel its pending messages: pass --yes to confirm "
                    "(no terminal to ask on); nothing changed.")
    assert _rows(db, "SELECT count(*) FROM bot_connections")[0][0] == 1
    assert _rows(db, "SELECT status FROM outbox_messages") == [("pending",)]
    r = cli("-t", "entrylab", "connections", "remove", "message_bot", "--yes", "--keep-webhook")
    assert r.code == 0 and "1 pending message(s) cancelled" in r.stderr
    assert _rows(db, "SELECT count(*) FROM bot_connections")[0][0] == 0
