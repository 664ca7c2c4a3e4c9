"""``bench ingest``: the webhook receiver against the floor of any durable receiver, side by side.

One run on PostgreSQL, both servers up: the floor (:mod:`bench.floor_app`, one INSERT ... ON CONFLICT
DO NOTHING and commit per update, uvicorn, ``workers`` processes) and ``promostack webhook serve
--workers <workers>``, loaded in alternating rounds with the same ``/start`` updates (distinct users)
from ``clients`` concurrent connections. Printed: updates/s and p50/p99 latency of both and their ratios; for promostack,
the time from the end of the load until every update's journey session exists, and (before the
load, on an idle bot) /start -> first journey message at the fake Bot API.
"""

import asyncio
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time

import httpx
import sqlalchemy as sa

from bench.delivery import BIN, ROOT
from bench.journeys import _drop, _env, _schema_url, _setup, _start_fake


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


def _start_update(i: int, first: int = 7000000) -> dict:
    user = first + i
    return {"update_id": i, "message": {"message_id": i, "date": int(time.time()), "text": "/start welcome",
                                        "chat": {"id": user, "type": "private", "first_name": "U"},
                                        "from": {"id": user, "is_bot": False, "first_name": "U"}}}


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


def _p(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies)
    return ordered[max(0, int(len(ordered) * q) - 1)]


def _start_floor(url: str, workers: int, tmp: str):
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        from bench.floor_app import CREATE

        conn.execute(sa.text(CREATE))
    engine.dispose()
    port = _port()
    env = {**os.environ, "FLOOR_DB_URL": url, "FLOOR_SECRET": "floorsecret"}
    proc = subprocess.Popen([str(BIN / "uvicorn"), "bench.floor_app:create_app", "--factory", "--port", str(port),
                             "--workers", str(workers), "--log-level", "warning", "--no-access-log"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "floor.log"), "w"))
    _wait_healthy(f"http://127.0.0.1:{port}/", proc, "the floor")
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


def _settle(engine, expected: int, since: float, limit: float = 120) -> float | None:
    """Seconds from ``since`` until ``expected`` journey sessions exist (None: not within ``limit``)."""
    while time.perf_counter() - since < limit:
        with engine.connect() as conn:
            if conn.execute(sa.text("SELECT count(*) FROM journey_sessions")).scalar() >= expected:
                return time.perf_counter() - since
        time.sleep(0.05)
    return None


def run(updates: int = 3000, clients: int = 32, workers: int = 2, rounds: int = 3) -> dict:
    """Floor and promostack both running; ``rounds`` alternating load phases of updates/rounds each
    (floor, promostack, floor, ...), each phase on an otherwise idle pair: a machine shared with other
    work shifts both alike. Promostack's next phase starts once every journey of the last one started."""
    schema, url = _schema_url()
    tmp = tempfile.mkdtemp(prefix="promostack-bench-")
    fake, api = _start_fake()
    floor_proc = server = None
    per = updates // rounds
    try:
        floor_proc, floor_url = _start_floor(url, workers, tmp)
        port = _port()
        _, path, header = _setup(url, f"http://127.0.0.1:{port}")
        server = subprocess.Popen([str(BIN / "promostack"), "webhook", "serve", "--port", str(port), "--workers",
                                   str(workers)], env=_env(url, api, tmp), stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(tmp, "server.log"), "w"))
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base + "/healthz", server, "promostack webhook serve")
        first = _first_messages(base, api, path, header)
        target = base + "/api/bot-webhook/" + path
        engine = sa.create_engine(url)
        asyncio.run(_load(floor_url, "floorsecret", range(1, 201), clients))  # warm-up both
        asyncio.run(_load(target, header, range(1, 201), clients))
        expected = 200 + len(first)
        if _settle(engine, expected, time.perf_counter()) is None:
            raise SystemExit("the warm-up's journeys did not start")
        res = {"floor": {"wall": 0.0, "lat": []}, "promostack": {"wall": 0.0, "lat": []}, "settled": []}
        for r in range(rounds):
            ids = range(1000 + r * per, 1000 + (r + 1) * per)
            wall, lat = asyncio.run(_load(floor_url, "floorsecret", ids, clients))
            res["floor"]["wall"] += wall
            res["floor"]["lat"] += lat
            wall, lat = asyncio.run(_load(target, header, ids, clients))
            end = time.perf_counter()
            res["promostack"]["wall"] += wall
            res["promostack"]["lat"] += lat
            expected += per
            res["settled"].append(_settle(engine, expected, end))
        engine.dispose()
    finally:
        for proc in (server, floor_proc, fake):
            if proc:
                proc.terminate()
                proc.wait()
        _drop(schema)
    floor = {"rate": per * rounds / res["floor"]["wall"], "p50": statistics.median(res["floor"]["lat"]),
             "p99": _p(res["floor"]["lat"], 0.99)}
    ours = {"rate": per * rounds / res["promostack"]["wall"], "p50": statistics.median(res["promostack"]["lat"]),
            "p99": _p(res["promostack"]["lat"], 0.99), "settled": res["settled"], "first": sorted(first)}
    ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
    print(f"webhook ingest: {per * rounds} /start updates each, {clients} concurrent clients, {workers} workers each, "
          f"postgres, {rounds} alternating rounds")
    print(f"  floor (bare Starlette, INSERT ON CONFLICT + commit per update): {floor['rate']:.0f} updates/s; "
          f"p50 {ms(floor['p50'])}, p99 {ms(floor['p99'])}")
    print(f"  promostack webhook serve:                                     {ours['rate']:.0f} updates/s; "
          f"p50 {ms(ours['p50'])}, p99 {ms(ours['p99'])}")
    print(f"  ratios: throughput {ours['rate'] / floor['rate']:.2f}x the floor (target >= 0.8), "
          f"p99 {ours['p99'] / floor['p99']:.2f}x (target <= 1.5)")
    settled = ", ".join(f"{s:.1f} s" if s is not None else "NOT within 120 s" for s in ours["settled"])
    print(f"  every update's journey started, after each round's load ended: {settled}")
    first = ours["first"]
    print(f"  /start -> first journey message at the Bot API (idle bot): p50 {ms(statistics.median(first))}, "
          f"max {ms(first[-1])} over {len(first)} (target < 1000 ms)")
    return {"floor": floor, "promostack": ours}
