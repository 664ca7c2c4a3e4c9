"""``bench receiver`` (also ``bench ingest``): the webhook receiver end to end, beside two floors.

One run on PostgreSQL (a fresh schema, dropped afterwards), three servers up, each under uvicorn
with ``workers`` processes:

* the naive floor (:func:`bench.floor_app.create_app`): one INSERT ... ON CONFLICT and commit per
  update; the floor of any durable receiver's *ingest*;
* the inline floor (:func:`bench.floor_app.create_inline_app`): per ``/start`` the product's work
  in one transaction in the request (store the update, start the journey session, queue the
  welcome message); done when its request returns, so the floor of *processing*;
* ``promostack webhook serve --workers <workers>``, with the example journeys, a message bot and
  the fake Bot API (``bench.journeys``); it answers once an update is stored and processes after.

They are loaded in alternating rounds (naive, inline, promostack, naive, ...) with the same
``/start welcome`` updates (distinct users) from ``clients`` concurrent connections; each phase has
the machine to itself but for the product's background sending. Measured: ingest (requests/s,
p50/p99) against the naive floor; processed/s, from a round's first request until the product has
started every journey of the round and queued its welcome message (plain SQL counts on
``journey_sessions`` and ``outbox_messages``), against the inline floor; and CPU per update of
each server's processes (its process group: uvicorn and its workers, from /proc) over the same
windows. The product's windows also hold the messages its deliverer sent meanwhile; its CPU while
the floors are loaded (sending only) gives the cost per message, and so an estimate net of sending.
The set-up (tenant, message bot, example journeys) is :func:`bench.journeys._setup`, as for drain.
"""

import os
import statistics
import subprocess
import tempfile
import time

import httpx
import sqlalchemy as sa

from bench.cron_load import group_cpu_seconds
from bench.delivery import BIN
from bench.emit import emit, revision
from bench.floor_app import CREATE, INLINE_CREATE
from bench.ingest import FLOOR_SECRET, _first_messages, _p, _port, _wait_healthy, chats, load, settle, start_floor
from bench.journeys import _drop, _env, _schema_url, _setup, _start_fake

NAMES = {"naive": "naive floor (store, commit)", "inline": "inline floor (one transaction)",
         "promostack": "promostack webhook serve"}


def _start_product(url: str, api: str, workers: int, tmp: str):
    """``promostack webhook serve`` on its tables in the schema, in a process group of its own;
    (process, POST url, header, base, path)."""
    port = _port()
    _, path, header = _setup(url, f"http://127.0.0.1:{port}")
    proc = subprocess.Popen([str(BIN / "promostack"), "webhook", "serve", "--port", str(port), "--workers",
                             str(workers)], env=_env(url, api, tmp), stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(tmp, "server.log"), "w"), start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    _wait_healthy(base + "/healthz", proc, "promostack webhook serve")
    return proc, base + "/api/bot-webhook/" + path, header, base, path


def _sent(api: str) -> int:
    return httpx.get(api + "/_fake/stats").json()["sent"]


def _cpu(servers: dict) -> dict[str, float]:
    return {name: group_cpu_seconds(proc.pid) for name, (proc, _, _) in servers.items()}


def _phase(name: str, servers: dict, ids: range, clients: int, engine, api: str) -> dict:
    """One load phase on server ``name``: request wall, latencies, processed time; every server's
    CPU (the others are idle but for the product's sending) and the messages sent meanwhile."""
    _, target, header = servers[name]
    sent0, cpu0 = _sent(api), _cpu(servers)
    wall, lat = load(target, header, ids, clients)
    done = wall
    if name == "promostack":
        end = time.perf_counter()
        at = settle(engine, chats(ids))
        if at is None:
            raise SystemExit("promostack: not every journey started with its welcome queued within 120 s")
        done = wall + (at - end)
    cpu1 = _cpu(servers)
    return {"server": name, "wall": wall, "lat": lat, "done": done, "cpu": {n: cpu1[n] - cpu0[n] for n in cpu1},
            "sent": _sent(api) - sent0}


def _sum(name: str, phases: list[dict], updates: int) -> dict:
    mine = [p for p in phases if p["server"] == name]
    lat = [x for p in mine for x in p["lat"]]
    wall, done = (sum(p[k] for p in mine) for k in ("wall", "done"))
    return {"ingest_rate": updates / wall, "processed_rate": updates / done, "p50": statistics.median(lat),
            "p99": _p(lat, 0.99), "cpu_per_update": sum(p["cpu"][name] for p in mine) / updates,
            "sent": sum(p["sent"] for p in mine), "rounds_done": [p["done"] for p in mine]}


def _sending(phases: list[dict]) -> dict:
    """The product's CPU while the floors were loaded: its deliverer's sending (and idle loops) alone."""
    others = [p for p in phases if p["server"] != "promostack"]
    cpu, sent = sum(p["cpu"]["promostack"] for p in others), sum(p["sent"] for p in others)
    return {"cpu": cpu, "sent": sent, "seconds": sum(p["done"] for p in others),
            "cpu_per_message": cpu / sent if sent else None}


def _inline_rows(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT (SELECT count(*) FROM inline_sessions WHERE status <> 'ended'),"
                                    " (SELECT count(*) FROM inline_outbox)")).one()


def measure(updates: int = 3000, clients: int = 32, workers: int = 2, rounds: int = 3) -> dict:
    schema, url = _schema_url()
    tmp = tempfile.mkdtemp(prefix="promostack-bench-")
    fake, api = _start_fake()
    procs = []
    per = updates // rounds
    load0 = os.getloadavg()[0]
    try:
        servers = {}
        for name, factory, create in (("naive", "create_app", CREATE), ("inline", "create_inline_app", INLINE_CREATE)):
            proc, target = start_floor(url, workers, tmp, factory, create)
            procs.append(proc)
            servers[name] = (proc, target, FLOOR_SECRET)
        proc, target, header, base, path = _start_product(url, api, workers, tmp)
        procs.append(proc)
        servers["promostack"] = (proc, target, header)
        first = sorted(_first_messages(base, api, path, header))
        engine = sa.create_engine(url)
        warm = range(1, 201)
        for name, (_, target, secret) in servers.items():
            load(target, secret, warm, clients)
        if settle(engine, chats(warm)) is None:
            raise SystemExit("the warm-up's journeys did not start")
        phases = []
        for r in range(rounds):
            ids = range(1000 + r * per, 1000 + (r + 1) * per)
            for name in servers:
                phases.append(_phase(name, servers, ids, clients, engine, api))
        inline_sessions, inline_queued = _inline_rows(engine)
        engine.dispose()
    finally:
        for proc in procs + [fake]:
            proc.terminate()
            proc.wait()
        _drop(schema)
    expected = per * rounds + len(warm)
    if (inline_sessions, inline_queued) != (expected, expected):
        raise SystemExit(f"the inline floor did not do its work: {inline_sessions} sessions, {inline_queued} "
                         f"messages for {expected} /start updates")
    return {"benchmark": "receiver", "revision": revision(), "updates": per * rounds, "clients": clients,
            "workers": workers, "rounds": rounds, "first_message": first, "cores": os.cpu_count(),
            "load": [round(load0, 1), round(os.getloadavg()[0], 1)],
            "servers": {name: _sum(name, phases, per * rounds) for name in NAMES}, "sending": _sending(phases)}


def report(res: dict) -> None:
    s = res["servers"]
    naive, inline, ours = s["naive"], s["inline"], s["promostack"]
    ms = lambda v: f"{v * 1000:.0f} ms"  # noqa: E731
    print(f"webhook receiver: {res['updates']} /start updates to each, {res['clients']} concurrent clients, "
          f"{res['workers']} workers each, postgres, {res['rounds']} alternating rounds ({res['revision']}); "
          f"load average {res['load'][0]} -> {res['load'][1]} on {res['cores']} cores")
    print(f"  {'server':32} {'ingest/s':>9} {'p50':>7} {'p99':>7} {'processed/s':>12} {'CPU/update':>11}")
    for name, f in s.items():
        processed = "-" if name == "naive" else f"{f['processed_rate']:.0f}"
        print(f"  {NAMES[name]:32} {f['ingest_rate']:9.0f} {ms(f['p50']):>7} {ms(f['p99']):>7} {processed:>12} "
              f"{f['cpu_per_update'] * 1000:8.2f} ms")
    met = lambda ok: "met" if ok else "NOT MET"  # noqa: E731
    ingest, p99 = ours["ingest_rate"] / naive["ingest_rate"], ours["p99"] / naive["p99"]
    processed = ours["processed_rate"] / inline["processed_rate"]
    print(f"  ingest: {ingest:.2f}x the naive floor's updates/s (target >= 1.0: {met(ingest >= 1.0)}), "
          f"p99 {p99:.2f}x (target <= 1.5: {met(p99 <= 1.5)})")
    print(f"  processed: {processed:.2f}x the inline floor's updates/s (target >= 0.8: {met(processed >= 0.8)}); "
          f"CPU per update {ours['cpu_per_update'] / inline['cpu_per_update']:.2f}x the inline floor's")
    rounds = ", ".join(f"{d:.1f} s" for d in ours["rounds_done"])
    print(f"  promostack, first request -> every journey started and its welcome queued, per round: {rounds}")
    sending = res["sending"]
    if sending["cpu_per_message"]:
        net = ours["cpu_per_update"] - ours["sent"] * sending["cpu_per_message"] / res["updates"]
        print(f"  promostack's windows include {ours['sent']} messages its deliverer sent; sending alone (while the "
              f"floors were loaded) cost {sending['cpu_per_message'] * 1000:.2f} ms CPU per message, so ~{net * 1000:.2f} "
              f"ms per update net of sending ({net / inline['cpu_per_update']:.2f}x the inline floor's)")
    first = res["first_message"]
    print(f"  /start -> first journey message at the Bot API (idle bot): p50 {ms(statistics.median(first))}, "
          f"max {ms(first[-1])} over {len(first)} (target < 1000 ms)")


def run(updates: int = 3000, clients: int = 32, workers: int = 2, rounds: int = 3, as_json: bool = False,
        save: str | None = None) -> dict:
    return emit(measure(updates, clients, workers, rounds), report, as_json, save)
