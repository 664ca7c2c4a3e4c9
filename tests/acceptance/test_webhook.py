"""The webhook through the installed CLI and real processes: ``webhook serve``, ``webhook inject``, the
tick that processes what a crashed receiver stored, and a fresh worker process (SQLite and PostgreSQL)."""

import json

import httpx
from sqlmodel import select

from promostack_cli.core.clock import utcnow
from promostack_cli.webhooks.models import TelegramUpdate
from tests.acceptance.conftest import healthy
from tests.conftest import EXAMPLES, MESSAGE_TOKEN, free_port, wait_for
from tests.factories import telegram_message as message


def test_webhook_serve_command(cli, tmp_path):
    port = free_port()
    proc = cli.popen("webhook", "serve", "--port", str(port))
    try:
        assert wait_for(lambda: healthy(port), timeout=20), proc.stderr.read() if proc.poll() is not None else "no answer"
        r = httpx.post(f"http://127.0.0.1:{port}/api/bot-webhook/unknown", content=b"{}",
                       headers={"X-Telegram-Bot-Api-Secret-Token": "x"})
        assert r.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert cli("tenants", "add", "entrylab").code == 0
    r = cli("-t", "entrylab", "webhook", "failures", "--json")
    assert r.code == 0 and r.json() == []


def test_models_resolve_in_a_fresh_process(db, db_url):
    """A fresh receiver worker that has imported only the webhook models must still write updates
    (FK to tenants): the database it opens, as the receiver does (``runtime.default_db``), has
    every table registered, although db.py itself knows no domain table."""
    import os
    import subprocess
    import sys

    # import order matters: the model module first, as in a fresh uvicorn worker
    code = ("from promostack_cli.webhooks.models import TelegramUpdate\n"
            "from promostack_cli.runtime import default_db\n"
            "db = default_db()\n"
            "from sqlalchemy import text\n"
            "with db.transaction() as s:\n"
            "    s.execute(text(\"INSERT INTO tenants (slug, name, created_at) VALUES ('x', 'x', CURRENT_TIMESTAMP)\"))\n"
            "    tid = s.execute(text(\"SELECT id FROM tenants WHERE slug = 'x'\")).scalar()\n"
            "    s.add(TelegramUpdate(tenant_id=tid, bot_id=1, bot_role='message_bot', kind='message', status='ignored'))\n"
            "print('ok')\n")
    env = {**os.environ, "PROMOSTACK_DATABASE_URL": db_url}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_inject_command_processes_an_update_like_the_receiver(cli):
    assert cli("tenants", "add", "entrylab", "--name", "EntryLab").code == 0
    assert cli("-t", "entrylab", "connections", "set", "message_bot", "--no-validate",
               "--token", MESSAGE_TOKEN).code == 0
    assert cli("-t", "entrylab", "journeys", "import", str(EXAMPLES)).code == 0
    update = json.dumps(message(700, "/start welcome"))
    r = cli("-t", "entrylab", "webhook", "inject", "--json", input=update)
    assert r.code == 0 and r.json() == {"status": "processed", "result": "started welcome"}
    r = cli("-t", "entrylab", "webhook", "inject", "--json", input=update)
    assert r.json()["status"] == "duplicate"
    r = cli("-t", "entrylab", "webhook", "inject", input="{broken")   # refused, not stored (issue 13)
    assert r.code == 2 and "nothing was stored" in r.stderr
    assert cli("-t", "entrylab", "webhook", "failures", "--json").json() == []
    r = cli("scheduler", "tick", "--dry-run")
    assert "Hi Sam! Welcome to <b>EntryLab</b>." in r.stdout


def test_updates_a_crashed_receiver_stored_are_processed_by_the_tick(cli, db_url):
    """Stored and acknowledged, then the receiver died before processing: ``scheduler tick`` does it."""
    from promostack_cli.db import Database
    from promostack_cli.telegram.updates import envelope
    from promostack_cli.webhooks import inbox

    assert cli("tenants", "add", "entrylab", "--name", "EntryLab").code == 0
    assert cli("-t", "entrylab", "connections", "set", "message_bot", "--no-validate", "--token", MESSAGE_TOKEN).code == 0
    assert cli("-t", "entrylab", "journeys", "import", str(EXAMPLES)).code == 0
    db = Database(db_url)
    with db.transaction() as s:
        from promostack_cli.connections.lookup import find_bot
        from promostack_cli.tenants.models import Tenant

        tenant = s.exec(select(Tenant)).one()
        ref = find_bot(s, None, tenant_id=tenant.id, role="message_bot").ref
        body = json.dumps(message(800, "/start welcome")).encode()
        assert inbox.store(s, [inbox.Incoming(ref, envelope(body), body)], utcnow()) == ["stored"]
        assert inbox.store(s, [inbox.Incoming(ref, envelope(body), body)], utcnow()) == ["duplicate"]
    r = cli("scheduler", "tick", "--dry-run")
    assert r.code == 0, r.stderr
    assert "Hi Sam! Welcome to <b>EntryLab</b>." in r.stdout
    with db.session() as s:
        assert [(u.status, u.result) for u in s.exec(select(TelegramUpdate))] == [("processed", "started welcome")]
    db.engine.dispose()
