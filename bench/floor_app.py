"""The floor for ``bench ingest``: the least any durable webhook receiver on our stack does.

A bare Starlette route that checks the header secret, parses the JSON, runs one
``INSERT ... ON CONFLICT DO NOTHING`` and commits, per update, through SQLAlchemy and psycopg (run
under uvicorn with the same number of workers as ``promostack webhook serve``). Configured by
``FLOOR_DB_URL`` and ``FLOOR_SECRET``.
"""

import hmac
import json
import os

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TABLE = "floor_updates"
CREATE = (f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGSERIAL PRIMARY KEY, bot_id BIGINT NOT NULL, "
          "update_id BIGINT NOT NULL, payload JSON NOT NULL, received_at TIMESTAMPTZ NOT NULL DEFAULT now(), "
          "UNIQUE (bot_id, update_id))")
INSERT = sa.text(f"INSERT INTO {TABLE} (bot_id, update_id, payload) VALUES (:b, :u, CAST(:p AS json)) "
                 "ON CONFLICT DO NOTHING")


def create_app() -> Starlette:
    engine = sa.create_engine(os.environ["FLOOR_DB_URL"], pool_size=4, max_overflow=8)
    secret = os.environ["FLOOR_SECRET"].encode()

    def store(body: bytes, update: dict) -> None:
        with engine.begin() as conn:
            conn.execute(INSERT, {"b": 1, "u": update["update_id"], "p": body.decode()})

    async def webhook(request: Request):
        if not hmac.compare_digest(request.headers.get("x-telegram-bot-api-secret-token", "").encode(), secret):
            return JSONResponse({"ok": False}, status_code=401)
        body = await request.body()
        update = json.loads(body)
        await run_in_threadpool(store, body, update)
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/u", webhook, methods=["POST"])])
