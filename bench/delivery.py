"""Outbox delivery through a loopback Bot API that enforces Telegram's limits.

Seeds ``bots x per_bot`` messages spread over ``chats`` private chats, starts the fake Bot API
(tests/fakes/telegram.py) in its own process, runs ``ticks`` concurrent ``promostack scheduler tick``
processes, and reports per bot: achieved messages/second as a share of Telegram's 30/s, and the
429s received. Target: >= 0.9 of the limit and zero 429s.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG = os.environ.get("PROMOSTACK_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
KEY = "bench-secret-key-0123456789-abcdefghijklmnop"


def _token(i: int) -> str:
    return f"{8000000000 + i}:AAFbench{i:03d}" + "x" * 27


def _start_fake(bots: int) -> tuple[subprocess.Popen, str]:
    args = [sys.executable, str(ROOT / "tests" / "fakes" / "telegram.py"), "--port", "0"]
    for i in range(bots):
        args += ["--bot", f"{_token(i)}:bench_bot_{i}"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def _seed(url: str, bots: int, per_bot: int, chats: int) -> None:
    from promostack_cli.connections.models import BotConnection
    from promostack_cli.core.clock import utcnow
    from promostack_cli.core.secrets import SecretBox, fingerprint, mask
    from promostack_cli.db import Database
    from promostack_cli.outbox.models import OutboxMessage
    from promostack_cli.system.migrate import upgrade
    from promostack_cli.tenants.models import Tenant

    db = Database(url)
    upgrade(db)
    box = SecretBox(KEY)
    now = utcnow()
    with db.transaction() as s:
        for i in range(bots):  # one tenant per bot, as in production
            tenant = Tenant(slug=f"bench{i}", name=f"Bench {i}")
            s.add(tenant)
            s.flush()
            tok = _token(i)
            s.add(BotConnection(tenant_id=tenant.id, role="message_bot", bot_id=int(tok.split(":")[0]),
                                username=f"bench_bot_{i}", token_encrypted=box.encrypt(tok), token_hint=mask(tok),
                                webhook_path_hash=fingerprint(tok), webhook_path_encrypted=box.encrypt("p"),
                                webhook_token_encrypted=box.encrypt("h")))
            s.flush()
            rows = [dict(tenant_id=tenant.id, bot_role="message_bot", chat_id=str(7000000 + (i * per_bot + k) % chats),
                         chat_kind="private", method="sendMessage", payload={"text": f"b{i} m{k}"}, status="pending",
                         not_before=now, attempts=0, rate_limited=0, created_at=now, updated_at=now)
                    for k in range(per_bot)]
            s.execute(sa.insert(OutboxMessage.__table__), rows)
    db.engine.dispose()


def run(*, db: str = "postgres", bots: int = 10, per_bot: int = 840, chats: int = 2000, ticks: int = 3) -> dict:
    tmp = tempfile.mkdtemp(prefix="promostack-bench-")
    schema = None
    if db == "postgres":
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
            c.execute(f"CREATE SCHEMA {schema}")
        url = f"{PG}?options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tmp}/bench.db"
    fake, base_url = _start_fake(bots)
    try:
        _seed(url, bots, per_bot, chats)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROMOSTACK_")}
        env.update(PROMOSTACK_DATABASE_URL=url, PROMOSTACK_TELEGRAM_API_URL=base_url, PROMOSTACK_SECRET_KEY=KEY,
                   PROMOSTACK_DATA_DIR=tmp)
        t0 = time.perf_counter()
        procs = [subprocess.Popen([str(BIN / "promostack"), "--json", "scheduler", "tick", "--for", "600s"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(ticks)]
        reports = []
        for p in procs:
            out, err = p.communicate()
            if p.returncode != 0:
                raise SystemExit(f"tick failed: {err.strip()}")
            reports.append(json.loads(out))
        wall = time.perf_counter() - t0
        stats = json.loads(urllib.request.urlopen(f"{base_url}/_fake/stats").read())
    finally:
        fake.terminate()
        fake.wait()
        if schema:
            import psycopg

            with psycopg.connect(PG.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
                c.execute(f"DROP SCHEMA {schema} CASCADE")
    rates = []
    for bot_id, n in sorted(stats["sent_by_bot"].items()):
        span = stats["last_at_by_bot"][bot_id] - stats["first_at_by_bot"][bot_id]
        rates.append((n - 1) / span if span > 0 else 0.0)
    total = sum(r["sent"] for r in reports)
    print(f"delivery: {bots} bots x {per_bot} messages over {chats} chats, {ticks} tick processes, {db}")
    print(f"  delivered {total} of {bots * per_bot} in {wall:.1f} s ({total / wall:.0f} msg/s overall)")
    print(f"  per bot msg/s: min {min(rates):.1f}  mean {sum(rates) / len(rates):.1f}  max {max(rates):.1f}")
    print(f"  share of Telegram's 30/s per bot: min {min(rates) / 30:.2f}  mean {sum(rates) / len(rates) / 30:.2f}  (target >= 0.90)")
    print(f"  busiest second per bot (fake's count): {max(stats['max_in_any_second_by_bot'].values())}")
    print(f"  429 responses: {stats['count_429']}  (target 0)")
    print(f"  send slots given up by late senders: {sum(r.get('late_slots', 0) for r in reports)}")
    return {"rates": rates, "count_429": stats["count_429"], "delivered": total, "wall": wall}
