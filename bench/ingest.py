"""The pieces of ``bench receiver`` (:mod:`bench.receiver`): servers, load, and what is measured of them.

* servers: the floors of :mod:`bench.floor_app` under uvicorn, each with its own tables in the schema;
* load: ``/start welcome`` updates (distinct users) posted from ``clients`` concurrent connections;
* measures: latencies, and when the
  product has started every journey and queued its welcome message (plain SQL on its tables).
"""

import asyncio
import json
import os
import socket
import subprocess
import time

import httpx
import sqlalchemy as sa

from bench.delivery import BIN, ROOT

FLOOR_SECRET = "floorsecret"
FIRST_USER = 7000000


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc, what: str) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not start")


def _start_update(i: int, first: int = FIRST_USER) -> dict:
    user = first + i
    return {"update_id": i, "message": {"message_id": i, "date": int(time.time()), "text": "/start welcome",
                                        "chat": {"id": user, "type": "private", "first_name": "U"},
                                        "from": {"id": user, "is_bot": False, "first_name": "U"}}}


def chats(ids: range) -> list[str]:
    """The chat ids of the users whose /start updates are ``ids``."""
    return [str(FIRST_USER + i) for i in ids]


async def _load(url: str, header: str, ids: range, clients: int) -> tuple[float, list[float]]:
    """Post one /start per id from ``clients`` concurrent connections; (wall seconds, latencies)."""
    queue = iter(ids)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        async def worker():
            for i in queue:
                body = json.dumps(_start_update(i)).encode()
                t0 = time.perf_counter()
                r = await client.post(url, content=body, headers={"X-Telegram-Bot-Api-Secret-Token": header,
                                                                   "Content-Type": "application/json"})
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise SystemExit(f"{url}: {r.status_code} {r.text[:200]}")

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return time.perf_counter() - t0, latencies


def load(url: str, header: str, ids: range, clients: int) -> tuple[float, list[float]]:
    return asyncio.run(_load(url, header, ids, clients))


def _p(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies)
    return ordered[max(0, int(len(ordered) * q) - 1)]


def start_floor(url: str, workers: int, tmp: str, factory: str, create: list[str]):
    """Create the floor's tables, start ``uvicorn bench.floor_app:<factory>`` in a process group of
    its own; (process, POST url)."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in create:
            conn.execute(sa.text(statement))
    engine.dispose()
    port = _port()
    env = {**os.environ, "FLOOR_DB_URL": url, "FLOOR_SECRET": FLOOR_SECRET}
    proc = subprocess.Popen([str(BIN / "uvicorn"), f"bench.floor_app:{factory}", "--factory", "--port", str(port),
                             "--workers", str(workers), "--log-level", "warning", "--no-access-log"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, f"{factory}.log"), "w"),
                            start_new_session=True)  # its own process group: its CPU is the group's
    _wait_healthy(f"http://127.0.0.1:{port}/", proc, factory)
    return proc, f"http://127.0.0.1:{port}/u"


def _first_messages(base: str, api: str, path: str, header: str) -> list[float]:
    """/start posted on an idle bot -> its first message received by the fake Bot API."""
    first = []
    with httpx.Client(base_url=base, timeout=30) as c:
        for k in range(20):
            before = httpx.get(api + "/_fake/stats").json()["sent"]
            t1 = time.perf_counter()
            c.post("/api/bot-webhook/" + path, json=_start_update(900000 + k, first=7900000),
                   headers={"X-Telegram-Bot-Api-Secret-Token": header})
            while httpx.get(api + "/_fake/stats").json()["sent"] <= before and time.perf_counter() - t1 < 10:
                time.sleep(0.005)
            first.append(time.perf_counter() - t1)
            time.sleep(0.2)
    return first


COUNT_DONE = sa.text(
    "SELECT (SELECT count(DISTINCT chat_id) FROM journey_sessions WHERE chat_id = ANY(:c)),"
    " (SELECT count(DISTINCT chat_id) FROM outbox_messages WHERE chat_id = ANY(:c))")


def settle(engine, users: list[str], limit: float = 120) -> float | None:
    """perf_counter() once every user has a journey session and a queued message (None: not in ``limit`` s)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        with engine.connect() as conn:
            sessions, queued = conn.execute(COUNT_DONE, {"c": users}).one()
        if sessions >= len(users) and queued >= len(users):
            return time.perf_counter()
        time.sleep(0.02)
    return None
