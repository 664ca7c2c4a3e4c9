"""Connecting bots through the real entry point, against the fake Bot API (SQLite and PostgreSQL)."""

import sqlalchemy as sa

from promostack_cli.db import Database
from tests.conftest import MESSAGE_TOKEN, SIGNAL_TOKEN

PUBLIC = "https://promo.example.com"


def _add_tenant(cli):
    assert cli("tenants", "add", "entrylab", "--name", "EntryLab").code == 0


def _raw_rows(db_url: str, sql: str):
    with Database(db_url).engine.connect() as conn:
        return conn.execute(sa.text(sql)).all()


def test_set_message_bot_validates_and_registers_webhook(cli, fake_tg, db_url):
    _add_tenant(cli)
    r = cli("-t", "entrylab", "connections", "set", "message_bot", "--token", MESSAGE_TOKEN,
            env={"PROMOSTACK_PUBLIC_URL": PUBLIC})
    assert r.code == 0, r.stderr
    methods = [c.method for c in fake_tg.calls]
    assert methods == ["getMe", "setWebhook"]
    hook = fake_tg.webhooks[MESSAGE_TOKEN]
    assert hook["url"].startswith(f"{PUBLIC}/api/bot-webhook/")
    assert 1 <= len(hook["secret_token"]) <= 256
    assert set(hook["allowed_updates"]) == {"message", "edited_message", "callback_query", "my_chat_member",
                                           "chat_member", "chat_join_request"}
    # the path secret and the header secret differ
    assert hook["url"].rsplit("/", 1)[1] != hook["secret_token"]

    listed = cli("-t", "entrylab", "connections", "list", "--json").json()
    assert listed[0]["username"] == "entrylab_helper_bot"
    assert listed[0]["token"] == "7000000002:AA…02"
    assert MESSAGE_TOKEN not in r.stdout + r.stderr + str(listed)
    assert hook["secret_token"] not in r.stdout + r.stderr + str(listed)

    # neither token nor webhook secrets are readable in the database
    dump = str(_raw_rows(db_url, "SELECT * FROM bot_connections"))
    assert MESSAGE_TOKEN not in dump and MESSAGE_TOKEN.split(":")[1] not in dump
    assert hook["secret_token"] not in dump and hook["url"].rsplit("/", 1)[1] not in dump


def test_token_not_in_sqlite_file(cli, fake_tg, db_url):
    if not db_url.startswith("sqlite"):
        return
    _add_tenant(cli)
    assert cli("-t", "entrylab", "connections", "set", "message_bot", "--token", MESSAGE_TOKEN).code == 0
    path = db_url.removeprefix("sqlite:///")
    raw = b"".join(open(p, "rb").read() for p in (path, path + "-wal") if __import__("os").path.exists(p))
    assert MESSAGE_TOKEN.split(":")[1].encode() not in raw


def test_rejected_token_exit_2_nothing_stored(cli, fake_tg, db_url):
    _add_tenant(cli)
    bad = "7000000099:AAFrejectedrejectedrejectedrejected9"
    r = cli("-t", "entrylab", "connections", "set", "message_bot", "--token", bad, env={"PROMOSTACK_PUBLIC_URL": PUBLIC})
    assert r.code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "rejected the message_bot token" in lines[0]
    assert bad not in r.stderr
    assert _raw_rows(db_url, "SELECT count(*) FROM bot_connections")[0][0] == 0
    assert bad not in fake_tg.webhooks


def test_malformed_token_and_bad_channel_are_usage_errors(cli, fake_tg):
    _add_tenant(cli)
    r = cli("-t", "entrylab", "connections", "set", "message_bot", "--token", "not-a-token")
    assert r.code == 2 and "not shaped like a bot token" in r.stderr
    r = cli("-t", "entrylab", "connections", "set", "signal_bot", "--token", SIGNAL_TOKEN,
            "--vip-channel", "12345", "--free-channel", "@entrylab_free")
    assert r.code == 2 and "--vip-channel '12345' is not a channel id" in r.stderr
    r = cli("-t", "entrylab", "connections", "set", "signal_bot", "--token", SIGNAL_TOKEN)
    assert r.code == 2 and "needs --vip-channel and --free-channel" in r.stderr
    assert fake_tg.calls == []


def test_rerun_keeps_secret_rotate_makes_new(cli, fake_tg):
    _add_tenant(cli)
    env = {"PROMOSTACK_PUBLIC_URL": PUBLIC}
    args = ("-t", "entrylab", "connections", "set", "signal_bot", "--token", SIGNAL_TOKEN,
            "--vip-channel", "-1001234567890", "--free-channel", "@entrylab_free")
    assert cli(*args, env=env).code == 0
    first = fake_tg.webhooks[SIGNAL_TOKEN]
    assert cli("-t", "entrylab", "connections", "set", "signal_bot", "--free-channel", "@entrylab_free2", env=env).code == 0
    second = fake_tg.webhooks[SIGNAL_TOKEN]
    assert (second["url"], second["secret_token"]) == (first["url"], first["secret_token"])
    assert cli("-t", "entrylab", "connections", "list", "--json").json()[0]["free_channel"] == "@entrylab_free2"
    assert cli("-t", "entrylab", "connections", "set", "signal_bot", "--rotate-secret", env=env).code == 0
    third = fake_tg.webhooks[SIGNAL_TOKEN]
    assert third["url"] != first["url"] and third["secret_token"] != first["secret_token"]


def test_without_public_url_webhook_is_skipped(cli, fake_tg):
    _add_tenant(cli)
    r = cli("-t", "entrylab", "connections", "set", "message_bot", "--token", MESSAGE_TOKEN)
    assert r.code == 0
    assert "PROMOSTACK_PUBLIC_URL is not set" in r.stderr
    assert [c.method for c in fake_tg.calls] == ["getMe"]


def test_refused_webhook_stores_nothing(cli, fake_tg, db_url):
    _add_tenant(cli)
    fake_tg.fail_next("setWebhook", 400, "Bad Request: bad webhook: Failed to resolve host")
    r = cli("-t", "entrylab", "connections", "set", "message_bot", "--token", MESSAGE_TOKEN, env={"PROMOSTACK_PUBLIC_URL": PUBLIC})
    assert r.code == 1 and "Failed to resolve host" in r.stderr and "Nothing was stored" in r.stderr
    assert _raw_rows(db_url, "SELECT count(*) FROM bot_connections")[0][0] == 0


def test_one_bot_cannot_serve_two_roles(cli, fake_tg):
    _add_tenant(cli)
    assert cli("-t", "entrylab", "connections", "set", "message_bot", "--token", MESSAGE_TOKEN).code == 0
    r = cli("-t", "entrylab", "connections", "set", "signal_bot", "--token", MESSAGE_TOKEN,
            "--vip-channel", "-1001234567890", "--free-channel", "@entrylab_free")
    assert r.code == 2 and "already connected as message_bot" in r.stderr


def test_no_validate_stores_offline(cli, fake_tg):
    _add_tenant(cli)
    token = "7000000077:AAFofflineofflineofflineoffline00077"
    r = cli("-t", "entrylab", "connections", "set", "message_bot", "--token", token, "--no-validate")
    assert r.code == 0 and "--no-validate" in r.stderr
    assert fake_tg.calls == []
    assert cli("-t", "entrylab", "connections", "list", "--json").json()[0]["validated_at"] is None


def test_connections_test_reports_problems_in_words(cli, fake_tg):
    _add_tenant(cli)
    fake_tg.add_chat(-1001234567890, type="channel", title="EntryLab VIP")
    fake_tg.add_chat("@entrylab_free", type="channel", title="EntryLab Free", admins=set())
    env = {"PROMOSTACK_PUBLIC_URL": PUBLIC}
    assert cli("-t", "entrylab", "connections", "set", "signal_bot", "--token", SIGNAL_TOKEN,
               "--vip-channel", "-1001234567890", "--free-channel", "@entrylab_free", env=env).code == 0
    r = cli("-t", "entrylab", "connections", "test", "signal_bot", "--json", env=env)
    assert r.code == 1
    checks = {c["check"]: c for c in r.json()}
    assert checks["token"]["ok"] and checks["VIP channel"]["ok"] and checks["webhook"]["ok"]
    assert not checks["FREE channel"]["ok"] and "not an administrator" in checks["FREE channel"]["detail"]
    assert "1 problem(s)" in r.stderr

    # a webhook that another deployment overwrote is reported
    r = cli("-t", "entrylab", "connections", "test", "signal_bot", "--json", env={"PROMOSTACK_PUBLIC_URL": "https://other.example.com"})
    assert "points elsewhere" in {c["check"]: c for c in r.json()}["webhook"]["detail"]


def test_missing_connection_is_actionable(cli, fake_tg):
    _add_tenant(cli)
    r = cli("-t", "entrylab", "connections", "test", "signal_bot")
    assert r.code == 1
    assert "Signal Bot not configured for tenant 'entrylab'. Run: promostack --tenant entrylab connections set signal_bot --token" in r.stderr


def test_remove_deletes_webhook_and_cancels_pending(cli, fake_tg):
    _add_tenant(cli)
    env = {"PROMOSTACK_PUBLIC_URL": PUBLIC}
    assert cli("-t", "entrylab", "connections", "set", "message_bot", "--token", MESSAGE_TOKEN, env=env).code == 0
    assert cli("-t", "entrylab", "outbox", "send", "message_bot", "--chat", "5550001", "--text", "hi").code == 0
    r = cli("-t", "entrylab", "connections", "remove", "message_bot", "--yes", "--json")
    assert r.code == 0, r.stderr
    assert r.json() == {"role": "message_bot", "webhook": "deleted", "cancelled_messages": 1}
    assert fake_tg.calls[-1].method == "deleteWebhook"
    assert cli("-t", "entrylab", "connections", "list", "--json").json() == []
    assert cli("-t", "entrylab", "outbox", "list", "--json").json()[0]["status"] == "cancelled"


def test_tenant_required_and_unknown_tenant(cli):
    r = cli("connections", "list")
    assert r.code == 2 and "No tenant selected" in r.stderr
    r = cli("-t", "ghost", "connections", "list")
    assert r.code == 2 and "Unknown tenant 'ghost'" in r.stderr
    r = cli("connections", "list", env={"PROMOSTACK_TENANT": "ghost"})
    assert r.code == 2 and "Unknown tenant 'ghost'" in r.stderr
