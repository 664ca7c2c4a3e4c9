"""Set-up and tear-down for ``bench/cron.py``: database, seed data, fake Bot API, receiver, processes.

Every process is started in its own session (process group) so that a Ctrl-C at the terminal reaches
only the benchmark, which then stops each of them by its group id, and so that the receiver's
uvicorn workers go down with it.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.delivery import BIN, KEY, PG, ROOT

TOKEN = "8200000001:AAFcronbenchcronbenchcronbench01"
BOT_ID = 8200000001
TENANT = "cronbench"
BACKLOG_SOURCE = "bench-backlog"
START_PAYLOAD = "benchgo"
JOURNEY_YAML = f"""# bench/cron.py: /start {START_PAYLOAD} starts it; its first message goes out right after the commit
journey: cron-bench
name: Cron bench welcome
status: active
re_entry: restart
triggers:
  - deep_link: {START_PAYLOAD}
steps:
  - id: hello
    type: message
    text: "Hi {{{{ first_name }}}}, welcome to the cron bench."
"""


def configured_rate() -> float:
    """The send rate the ticks are configured with (PROMOSTACK_SEND_RATE_PER_BOT, default 28/s)."""
    return float(os.environ.get("PROMOSTACK_SEND_RATE_PER_BOT") or 28.0)


def backlog_size(rate: float, minutes: float) -> int:
    """Enough messages to keep the bot busy for ``minutes`` at ``rate``, plus 10 %."""
    return math.ceil(rate * 60 * minutes * 1.1)


def chat_count(rate: float) -> int:
    """20 x the rate: each chat gets a message every ~20 s, so the 1/s-per-chat limit never binds."""
    return math.ceil(20 * rate)


def backlog_text(k: int, chats: int) -> str:
    chat, seq = k % chats, k // chats
    return f"cron bench #{k}: chat {chat} seq {seq}"


def parse_backlog_text(text: str) -> tuple[int, int] | None:
    """(chat index, sequence number) of a backlog message's text, None for other messages."""
    if not text.startswith("cron bench #"):
        return None
    _, _, rest = text.partition(": chat ")
    chat, _, seq = rest.partition(" seq ")
    return int(chat), int(seq)


def backlog_chat_id(chat: int) -> str:
    return str(7_000_000 + chat)


@dataclass
class Database:
    url: str
    schema: str | None  # PostgreSQL schema to drop afterwards
    path: str | None    # SQLite file


def create_database(kind: str, tmp: str) -> Database:
    if kind == "sqlite":
        return Database(f"sqlite:///{tmp}/bench.db", None, f"{tmp}/bench.db")
    import psycopg

    schema = f"benchcron_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    return Database(f"{PG}?options=-csearch_path%3D{schema}", schema, None)


def drop_database(db: Database) -> None:
    if db.schema:
        import psycopg

        with psycopg.connect(PG.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
            c.execute(f"DROP SCHEMA IF EXISTS {db.schema} CASCADE")


def child_env(url: str, api: str, tmp: str, rate: float) -> dict:
    """The environment of every promostack process: ours, plus any PROMOSTACK_SEND_* tuning given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMOSTACK_") or k.startswith("PROMOSTACK_SEND_")}
    env.update(PROMOSTACK_DATABASE_URL=url, PROMOSTACK_TELEGRAM_API_URL=api, PROMOSTACK_SECRET_KEY=KEY,
               PROMOSTACK_DATA_DIR=tmp, PROMOSTACK_SEND_RATE_PER_BOT=str(rate))
    return env


def seed(url: str, *, backlog: int, chats: int) -> tuple[str, str]:
    """Schema, tenant, its message bot (with known webhook secrets) and the backlog.

    Returns (path secret, header secret) for the receiver. The connection row is written directly
    (as ``connections set`` would store it, without asking Telegram): the path secret is looked up by
    its SHA-256 (``webhook_path_hash``), the header secret is stored encrypted.
    """
    from promostack_cli.connections.models import BotConnection
    from promostack_cli.core.clock import utcnow
    from promostack_cli.core.secrets import SecretBox, fingerprint, mask
    from promostack_cli.db import Database as PromoDatabase
    from promostack_cli.outbox.models import OutboxMessage
    from promostack_cli.system.migrate import upgrade
    from promostack_cli.tenants.service import add_tenant

    db = PromoDatabase(url)
    upgrade(db)
    box = SecretBox(KEY)
    path, header = "cronbench" + uuid.uuid4().hex, "cronbenchhdr" + uuid.uuid4().hex
    now = utcnow()
    with db.transaction() as s:
        tenant = add_tenant(s, TENANT)
        s.add(BotConnection(tenant_id=tenant.id, role="message_bot", bot_id=BOT_ID, username="cron_bench_bot",
                            token_encrypted=box.encrypt(TOKEN), token_hint=mask(TOKEN),
                            webhook_path_hash=fingerprint(path), webhook_path_encrypted=box.encrypt(path),
                            webhook_token_encrypted=box.encrypt(header)))
        s.flush()
        rows = [dict(tenant_id=tenant.id, bot_role="message_bot", chat_id=backlog_chat_id(k % chats),
                     chat_kind="private", method="sendMessage", payload={"text": backlog_text(k, chats)},
                     status="pending", not_before=now, attempts=0, rate_limited=0, source=BACKLOG_SOURCE,
                     created_at=now, updated_at=now) for k in range(backlog)]
        for i in range(0, len(rows), 2000):
            s.execute(sa.insert(OutboxMessage.__table__), rows[i:i + 2000])
    db.engine.dispose()
    return path, header


def import_journey(env: dict, tmp: str) -> None:
    """The journey goes in as an operator would put it: ``promostack journeys import``."""
    path = Path(tmp) / "cron-bench.yaml"
    path.write_text(JOURNEY_YAML)
    done = subprocess.run([str(BIN / "promostack"), "--tenant", TENANT, "journeys", "import", str(path)],
                          env=env, cwd=tmp, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"journeys import failed: {done.stderr.strip()[-500:]}")


def start_fake() -> tuple[subprocess.Popen, str]:
    args = [sys.executable, str(ROOT / "tests" / "fakes" / "telegram.py"), "--port", "0",
            "--bot", f"{TOKEN}:cron_bench_bot"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, start_new_session=True)
    base = proc.stdout.readline().strip()
    if not base.startswith("http"):
        raise RuntimeError("the fake Bot API did not start")
    return proc, base


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_receiver(env: dict, tmp: str, workers: int = 2) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(os.path.join(tmp, "receiver.log"), "w")
    proc = subprocess.Popen([str(BIN / "promostack"), "webhook", "serve", "--port", str(port), "--workers", str(workers)],
                            env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    log.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"webhook serve exited with {proc.returncode}; see {tmp}/receiver.log")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(proc)
    raise RuntimeError("webhook serve did not answer /healthz within 60 s")


def start_tick(env: dict, tmp: str, loop: str, for_: str, name: str) -> tuple[subprocess.Popen, Path, Path]:
    """One cron-started ``promostack --json scheduler tick --loop <loop> --for <for>``."""
    out, err = Path(tmp) / f"{name}.json", Path(tmp) / f"{name}.err"
    with open(out, "w") as o, open(err, "w") as e:
        proc = subprocess.Popen([str(BIN / "promostack"), "--json", "scheduler", "tick", "--loop", loop, "--for", for_],
                                env=env, cwd=tmp, stdout=o, stderr=e, start_new_session=True)
    return proc, out, err


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM to the process's own group (it and its children), SIGKILL if it lingers."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:  # children (uvicorn workers) may outlive a parent that exited
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait(5)
