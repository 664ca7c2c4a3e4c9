"""Journey benchmarks on PostgreSQL.

* receiver (ingest): see :mod:`bench.receiver` (the receiver beside the floors of ingest and processing).
* drain: N sessions due at once, ``ticks`` concurrent ``scheduler tick`` processes advance them and
  deliver what they queue through the fake Bot API with Telegram's limits; time to advance all
  sessions, duplicates (must be 0).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.delivery import BIN, KEY, PG, ROOT

TOKEN = "8100000001:AAFjourneybenchjourneybenchjourney1"


def _schema_url() -> tuple[str, str]:
    import psycopg

    schema = f"benchj_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    return schema, f"{PG}?options=-csearch_path%3D{schema}"


def _drop(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
        c.execute(f"DROP SCHEMA {schema} CASCADE")


def _setup(url: str, public_url: str):
    """Tenant, message bot with known webhook secrets, the example journeys. Returns (path, header)."""
    from promostack_cli.connections.models import BotConnection
    from promostack_cli.core.clock import utcnow
    from promostack_cli.core.secrets import SecretBox, fingerprint, mask
    from promostack_cli.db import Database
    from promostack_cli.journeys.service import apply_import, load_specs, plan_import
    from promostack_cli.system.migrate import upgrade
    from promostack_cli.tenants.service import add_tenant

    db = Database(url)
    upgrade(db)
    box = SecretBox(KEY)
    path, header = "benchpath" + uuid.uuid4().hex, "benchheader" + uuid.uuid4().hex
    with db.transaction() as s:
        tenant = add_tenant(s, "bench")
        s.add(BotConnection(tenant_id=tenant.id, role="message_bot", bot_id=8100000001, username="bench_bot",
                            token_encrypted=box.encrypt(TOKEN), token_hint=mask(TOKEN),
                            webhook_path_hash=fingerprint(path), webhook_path_encrypted=box.encrypt(path),
                            webhook_token_encrypted=box.encrypt(header)))
        s.flush()
        apply_import(s, tenant.id, plan_import(s, tenant.id, load_specs([str(ROOT / "examples" / "journeys")])), utcnow())
    db.engine.dispose()
    return tenant.id, path, header


def _start_fake():
    args = [sys.executable, str(ROOT / "tests" / "fakes" / "telegram.py"), "--port", "0", "--bot", f"{TOKEN}:bench_bot"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def _env(url: str, api: str, tmp: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMOSTACK_")}
    env.update(PROMOSTACK_DATABASE_URL=url, PROMOSTACK_TELEGRAM_API_URL=api, PROMOSTACK_SECRET_KEY=KEY,
               PROMOSTACK_DATA_DIR=tmp)
    return env


def drain(sessions: int = 20000, ticks: int = 4) -> dict:
    schema, url = _schema_url()
    fake, api = _start_fake()
    tmp = tempfile.mkdtemp(prefix="promostack-bench-")
    try:
        tenant_id, _, _ = _setup(url, "https://bench.example.com")
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            journey_id = conn.execute(sa.text("SELECT id FROM journeys WHERE slug = 'welcome'")).scalar()
            conn.execute(sa.text(
                "INSERT INTO journey_sessions (tenant_id, journey_id, journey_slug, chat_id, status, step_id, variables,"
                " wake_at, started_at, last_activity_at) SELECT :t, :j, 'welcome', (8000000 + g)::text, 'waiting_delay',"
                " 'pause', CAST('{\"first_name\": \"U\"}' AS json), now() - interval '1 second', now(), now()"
                " FROM generate_series(1, :n) g"), {"t": tenant_id, "j": journey_id, "n": sessions})
        env = _env(url, api, tmp)
        t0 = time.perf_counter()
        procs = [subprocess.Popen([str(BIN / "promostack"), "--json", "scheduler", "tick", "--for", "20s"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(ticks)]
        advanced_at = None
        while advanced_at is None and time.perf_counter() - t0 < 25:
            with engine.connect() as conn:
                left = conn.execute(sa.text("SELECT count(*) FROM journey_sessions WHERE step_id = 'pause'")).scalar()
            if left == 0:
                advanced_at = time.perf_counter() - t0
            else:
                time.sleep(0.2)
        outputs = [p.communicate() for p in procs]
        reports = []
        for out, err in outputs:
            if not out.strip():
                raise SystemExit(f"tick failed: {err.strip()[-500:]}")
            reports.append(json.loads(out))
        with engine.connect() as conn:
            dupes = conn.execute(sa.text(
                "SELECT count(*) FROM (SELECT chat_id, payload::text, count(*) FROM outbox_messages"
                " GROUP BY chat_id, payload::text HAVING count(*) > 1) d")).scalar()
            queued = conn.execute(sa.text("SELECT count(*) FROM outbox_messages")).scalar()
        engine.dispose()
        stats = json.loads(httpx.get(api + "/_fake/stats").text)
    finally:
        fake.terminate()
        fake.wait()
        _drop(schema)
    advanced = sum(r["sessions_advanced"] for r in reports)
    print(f"tick drain: {sessions} sessions due at once, {ticks} concurrent scheduler ticks, postgres")
    if advanced_at is None:
        print(f"  NOT all advanced within the ticks' 20 s: {advanced} advanced; reports {reports}")
        return {"seconds": None, "advanced": advanced, "duplicates": dupes}
    print(f"  all advanced in {advanced_at:.1f} s ({advanced} advanced, {sessions / advanced_at:.0f} sessions/s); "
          f"{queued} messages queued, duplicates {dupes} (target 0)")
    print(f"  delivered within the ticks' 20 s: {stats['sent']} at Telegram's limits (~28/s for one bot); 429s {stats['count_429']}")
    return {"seconds": advanced_at, "advanced": advanced, "duplicates": dupes}
