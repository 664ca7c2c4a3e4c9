"""The floors for ``bench receiver``: the least a durable webhook receiver on our stack does.

Both are a bare Starlette route that checks the header secret, parses the JSON and does its work
through SQLAlchemy and psycopg in a thread, run under uvicorn with as many workers as
``promostack webhook serve``. Configured by ``FLOOR_DB_URL`` and ``FLOOR_SECRET``; each uses its own
tables (``CREATE`` / ``INLINE_CREATE``) in the schema it is given, never the product's.

* :func:`create_app`, the naive floor: one ``INSERT ... ON CONFLICT DO NOTHING`` and commit per
  update (stored, not processed).
* :func:`create_inline_app`, the inline floor: the product's work for a ``/start welcome`` in ONE
  transaction in the request: store the update (unique per bot and update_id), end the user's live
  session of the journey (``re_entry: restart``), start a new one at its delay step, and queue the
  welcome message in an outbox-like table. Answered once that commits, so its work is done by then.
"""

import hmac
import html
import json
import os

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TABLE = "floor_updates"
CREATE = [f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGSERIAL PRIMARY KEY, bot_id BIGINT NOT NULL, "
          "update_id BIGINT NOT NULL, payload JSON NOT NULL, received_at TIMESTAMPTZ NOT NULL DEFAULT now(), "
          "UNIQUE (bot_id, update_id))"]
INSERT = sa.text(f"INSERT INTO {TABLE} (bot_id, update_id, payload) VALUES (:b, :u, CAST(:p AS json)) "
                 "ON CONFLICT DO NOTHING")

# The inline floor's tables carry the indexes the product's equivalents need for their queries:
# the due work (status, time), a user's sessions, one live session per journey and chat, send lanes.
INLINE_CREATE = [
    "CREATE TABLE IF NOT EXISTS inline_updates (id BIGSERIAL PRIMARY KEY, bot_id BIGINT NOT NULL, "
    "update_id BIGINT NOT NULL, payload JSON NOT NULL, status VARCHAR(10) NOT NULL, "
    "received_at TIMESTAMPTZ NOT NULL DEFAULT now(), processed_at TIMESTAMPTZ, UNIQUE (bot_id, update_id))",
    "CREATE INDEX IF NOT EXISTS ix_inline_updates_status ON inline_updates (status)",
    "CREATE TABLE IF NOT EXISTS inline_sessions (id BIGSERIAL PRIMARY KEY, journey VARCHAR(64) NOT NULL, "
    "chat_id VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL, step_id VARCHAR(64), variables JSON NOT NULL, "
    "wake_at TIMESTAMPTZ, started_at TIMESTAMPTZ NOT NULL DEFAULT now(), ended_at TIMESTAMPTZ)",
    "CREATE INDEX IF NOT EXISTS ix_inline_sessions_due ON inline_sessions (status, wake_at)",
    "CREATE INDEX IF NOT EXISTS ix_inline_sessions_user ON inline_sessions (chat_id, status)",
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_inline_sessions_live ON inline_sessions (journey, chat_id) "
    "WHERE status <> 'ended'",
    "CREATE TABLE IF NOT EXISTS inline_outbox (id BIGSERIAL PRIMARY KEY, bot_id BIGINT NOT NULL, "
    "chat_id VARCHAR(64) NOT NULL, method VARCHAR(40) NOT NULL, payload JSON NOT NULL, "
    "status VARCHAR(12) NOT NULL, not_before TIMESTAMPTZ NOT NULL DEFAULT now(), "
    "created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    "CREATE INDEX IF NOT EXISTS ix_inline_outbox_due ON inline_outbox (status, not_before)",
    "CREATE INDEX IF NOT EXISTS ix_inline_outbox_lane ON inline_outbox (bot_id, chat_id, id)",
]
STORE = sa.text("INSERT INTO inline_updates (bot_id, update_id, payload, status, processed_at) "
                "VALUES (:b, :u, CAST(:p AS json), 'processed', now()) ON CONFLICT DO NOTHING RETURNING id")
END_LIVE = sa.text("UPDATE inline_sessions SET status = 'ended', ended_at = now() "
                   "WHERE journey = :j AND chat_id = :c AND status <> 'ended'")
START = sa.text("INSERT INTO inline_sessions (journey, chat_id, status, step_id, variables, wake_at) "
                "VALUES (:j, :c, 'waiting_delay', 'pause', CAST(:v AS json), now() + interval '10 minutes')")
QUEUE = sa.text("INSERT INTO inline_outbox (bot_id, chat_id, method, payload, status) "
                "VALUES (:b, :c, 'sendMessage', CAST(:p AS json), 'pending')")


def _app(handle) -> Starlette:
    """POST /u: check the header secret, parse, ``handle(body, update)`` in a thread, then answer 200."""
    secret = os.environ["FLOOR_SECRET"].encode()

    async def webhook(request: Request):
        if not hmac.compare_digest(request.headers.get("x-telegram-bot-api-secret-token", "").encode(), secret):
            return JSONResponse({"ok": False}, status_code=401)
        body = await request.body()
        await run_in_threadpool(handle, body, json.loads(body))
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/u", webhook, methods=["POST"])])


def _engine() -> sa.Engine:
    return sa.create_engine(os.environ["FLOOR_DB_URL"], pool_size=4, max_overflow=8)


def create_app() -> Starlette:
    engine = _engine()

    def store(body: bytes, update: dict) -> None:
        with engine.begin() as conn:
            conn.execute(INSERT, {"b": 1, "u": update["update_id"], "p": body.decode()})

    return _app(store)


def create_inline_app() -> Starlette:
    engine = _engine()

    def process(body: bytes, update: dict) -> None:
        message = update.get("message") or {}
        chat, text = str(message.get("chat", {}).get("id", "")), message.get("text") or ""
        with engine.begin() as conn:
            if conn.execute(STORE, {"b": 1, "u": update["update_id"], "p": body.decode()}).first() is None:
                return  # a repeat: stored and processed before
            if not chat or text.split(maxsplit=1)[1:] != ["welcome"] or not text.startswith("/start"):
                return
            first = (message.get("from") or {}).get("first_name", "")
            conn.execute(END_LIVE, {"j": "welcome", "c": chat})
            conn.execute(START, {"j": "welcome", "c": chat, "v": json.dumps({"first_name": first})})
            text = f"Hi {html.escape(first)}! Welcome to <b>Bench</b>."
            conn.execute(QUEUE, {"b": 1, "c": chat, "p": json.dumps({"chat_id": chat, "text": text,
                                                                    "parse_mode": "HTML"})})

    return _app(process)
