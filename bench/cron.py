"""Delivery as deployed: N ``scheduler tick --loop 30s --for 65s`` processes started every minute.

``./dev bench cron [--processes 1,2,4,8] [--minutes 3] [--db postgres|sqlite] [--for 65s] [--loop 30s]
[--pause 10] [--starts 3] [--json] [--save FILE]``

For each N, one full run, everything fresh:

1. the fake Bot API in its own process (Telegram's limits: 30/s per bot, 1/s per private chat); a
   fresh schema with one tenant whose message bot points at the fake, a backlog of
   ``rate x 60 x minutes + 10 %`` messages over ``20 x rate`` private chats (each text carries its
   chat's sequence number), and a journey imported with ``promostack journeys import`` whose
   ``deep_link`` trigger starts it with a first message;
2. ``promostack webhook serve --workers 2`` on the same database and fake, receiving ``/start``
   updates at 3/s (``--starts``; 0 leaves the receiver idle) for the whole run; it sends each journey's first message right after its commit,
   through the same bot (and, as deployed, delivers whatever else is due while it is at it);
3. cron: at t = 0, 60, 120 ... N new tick processes at once, until the backlog is delivered or
   ``minutes + 2`` minutes have passed (a stalled bot ends the run; what is left is reported stuck);
4. a sampler reads ``bot_rate_limits`` and the outbox's status counts once a second;
5. with ``--pause S`` (default 10; 0 = off), at ``minutes x 30 + 15`` s (mid-run, off the :00/:30
   loop boundaries) the fake answers the bot's next sendMessage with 429 ``retry_after=S``; the run
   reports how long after the pause's end the bot is back at >= 0.9 of the rate in a 1 s window.

The figures come from the fake's record of every send (see ``bench/cron_report.py``). Configure the
rate with PROMOSTACK_SEND_RATE_PER_BOT (default 28); other PROMOSTACK_SEND_* variables pass through.
"""

from __future__ import annotations

import json
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict

import httpx

from bench import cron_setup as setup
from bench.cron_load import Sampler, StartPoster, group_cpu_seconds, machine_cpu
from bench.cron_report import analyse, table
from promostack_cli.core.clock import parse_duration

SETTLE_SECONDS = 10.0


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Run:
    """One run for N processes; :meth:`execute` returns the raw record that ``analyse`` reads."""

    def __init__(self, n: int, *, minutes: float, db: str, loop: str, for_: str, pause: int, starts: float):
        self.n, self.minutes, self.db_kind, self.loop, self.for_, self.pause = n, minutes, db, loop, for_, pause
        self.starts = starts
        self.rate = setup.configured_rate()
        self.backlog = setup.backlog_size(self.rate, minutes)
        self.chats = setup.chat_count(self.rate)
        self.tmp = tempfile.mkdtemp(prefix="promostack-cron-")
        self.ticks: list[dict] = []
        self.fake = self.receiver = self.sampler = self.poster = None

    def execute(self) -> dict:
        database = setup.create_database(self.db_kind, self.tmp)
        try:
            record = self._execute(database)
        except BaseException:
            self._cleanup(database)
            say(f"[N={self.n}] logs of the failed run kept in {self.tmp}")
            raise
        self._cleanup(database)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return record

    def _execute(self, database) -> dict:
        self.fake, api = setup.start_fake()
        path, header = setup.seed(database.url, backlog=self.backlog, chats=self.chats)
        env = setup.child_env(database.url, api, self.tmp, self.rate)
        setup.import_journey(env, self.tmp)
        self.receiver, base = setup.start_receiver(env, self.tmp)
        self.sampler = Sampler(database.url)
        self.poster = StartPoster(base, path, header, self.starts) if self.starts > 0 else None
        say(f"[N={self.n}] {self.backlog} messages over {self.chats} chats at {self.rate:g}/s; "
            f"ticks '--loop {self.loop} --for {self.for_}' x {self.n} every minute ({self.tmp})")
        cpu0 = (group_cpu_seconds(self.fake.pid), group_cpu_seconds(self.receiver.pid), _children_cpu(), machine_cpu())
        t0 = time.time()
        self.sampler.start()
        if self.poster:
            self.poster.start()
        with httpx.Client(base_url=api, timeout=10) as control:
            finished = self._cron(env, control, t0)
            if self.poster:
                self.poster.stop()
            if finished:  # the last journey messages go out right after their commit
                self._settle()
            end = time.time()
            end_counts = self.sampler.sample().counts
            cpu1 = (group_cpu_seconds(self.fake.pid), group_cpu_seconds(self.receiver.pid), None, machine_cpu())
            self._wait_for_ticks()
            ticks_cpu = _children_cpu() - cpu0[2]
            ticks_span = time.time() - t0
            log = control.get("/_fake/sent").json()
            stats = control.get("/_fake/stats").json()
        self.sampler.stop()
        shift = log["wall"] - log["now"]  # fake clock -> wall clock
        sends = [{"chat_id": m["chat_id"], "text": m["text"], "at": m["at"] + shift}
                 for m in log["result"] if m["token"] == setup.TOKEN]
        scripted = [dict(f, at=f["at"] + shift) for f in log["scripted"] if f["token"] == setup.TOKEN]
        span, cores = end - t0, (cpu1[3][1] - cpu0[3][1]) / (end - t0)
        cpu = {"fake": 100 * (cpu1[0] - cpu0[0]) / span, "receiver": 100 * (cpu1[1] - cpu0[1]) / span,
               "ticks": 100 * ticks_cpu / ticks_span, "machine": 100 * (cpu1[3][0] - cpu0[3][0]) / span,
               "cores": round(cores, 1)}
        return {"processes": self.n, "db": self.db_kind, "loop": self.loop, "for": self.for_, "rate": self.rate,
                "backlog": self.backlog, "t0": t0, "end": end, "finished": finished, "sends": sends,
                "scripted": scripted, "posts": [asdict(p) for p in self.poster.posts] if self.poster else [],
                "starts_per_second": self.starts, "pause_armed_at": self.pause_armed_at,
                "samples": [asdict(s) for s in self.sampler.samples], "end_counts": end_counts,
                "ticks": self._tick_reports(), "stats": stats, "cpu": cpu}

    def _cron(self, env: dict, control: httpx.Client, t0: float) -> bool:
        """Start N ticks each minute until the backlog is delivered (True) or the time limit (False)."""
        limit = t0 + (self.minutes + 2) * 60
        pause_at = t0 + self.minutes * 30 + 15 if self.pause else None
        minute, shown = 0, 0.0
        self.pause_armed_at = None
        while True:
            now = time.time()
            if now >= t0 + minute * 60 and now < limit:
                for i in range(self.n):
                    proc, out, err = setup.start_tick(env, self.tmp, self.loop, self.for_, f"tick-m{minute}-{i}")
                    self.ticks.append({"minute": minute, "proc": proc, "out": out, "err": err, "started": now})
                minute += 1
            if pause_at and now >= pause_at:
                control.post("/_fake/fail_next", json={"method": "sendMessage", "error_code": 429,
                                                       "retry_after": self.pause, "token": setup.TOKEN}).raise_for_status()
                say(f"[N={self.n}] t={now - t0:.0f}s: the bot's next sendMessage gets 429 retry_after={self.pause}")
                pause_at, self.pause_armed_at = None, now
            sample = self.sampler.latest()
            if sample and now - shown >= 10:
                shown = now
                ahead = sample.ahead
                say(f"[N={self.n}] t={now - t0:3.0f}s backlog left {sample.backlog_left}, statuses {sample.counts}, "
                    f"schedule ahead {'-' if ahead is None else f'{ahead:.1f}'} s")
            if sample and sample.t > t0 and sample.backlog_left == 0:
                say(f"[N={self.n}] backlog delivered after {now - t0:.0f} s")
                return True
            if now >= limit:
                say(f"[N={self.n}] time limit ({self.minutes + 2:g} min) reached with {sample and sample.backlog_left} "
                    "backlog messages not sent")
                return False
            time.sleep(0.2)

    def _settle(self) -> None:
        deadline = time.time() + SETTLE_SECONDS
        while time.time() < deadline:
            counts = self.sampler.sample().counts
            if counts.get("pending", 0) + counts.get("sending", 0) == 0:
                return
            time.sleep(0.2)

    def _wait_for_ticks(self) -> None:
        """Let running ticks end by themselves (their --json report says what they did)."""
        budget = parse_duration(self.for_) + 30
        for t in self.ticks:
            try:
                t["proc"].wait(max(0.0, t["started"] + budget - time.time()))
            except subprocess.TimeoutExpired:
                t["killed"] = True
                setup.stop(t["proc"])

    def _tick_reports(self) -> list[dict]:
        reports = []
        for t in self.ticks:
            entry = {"minute": t["minute"], "returncode": t["proc"].returncode, "report": None, "problem": None}
            try:
                entry["report"] = json.loads(t["out"].read_text())
            except (OSError, ValueError):
                err = t["err"].read_text()[-300:].strip() if t["err"].exists() else ""
                entry["problem"] = ("killed after its --for + 30 s" if t.get("killed")
                                    else f"exit {t['proc'].returncode}, no JSON report: {err}")
            if entry["report"] and entry["report"].get("errors"):
                entry["errors"] = entry["report"]["errors"]
            reports.append(entry)
        return reports

    def _cleanup(self, database) -> None:
        """Every step on its own: one that fails must not leave the others' processes running."""
        steps = [thread.stop for thread in (self.poster, self.sampler) if thread is not None]
        steps += [lambda p=proc: setup.stop(p) for proc in [t["proc"] for t in self.ticks] + [self.receiver, self.fake]
                  if proc is not None]
        steps.append(lambda: setup.drop_database(database))
        for step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - report, keep cleaning up
                say(f"clean-up step failed ({exc}); schema {database.schema or database.path}, files in {self.tmp}")


def run(*, processes: list[int], minutes: float = 3, db: str = "postgres", for_: str = "65s", loop: str = "30s",
        pause: int = 10, starts: float = 3.0, as_json: bool = False, save: str | None = None) -> list[dict]:
    def on_term(*_):
        raise KeyboardInterrupt

    # SIGINT too: a shell without job control starts background jobs with SIGINT ignored
    previous = {sig: signal.signal(sig, on_term) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    results = []
    try:
        for n in processes:
            raw = Run(n, minutes=minutes, db=db, loop=loop, for_=for_, pause=pause, starts=starts).execute()
            result = analyse(raw)
            result["samples"] = [dict(s, t=s["t"] - raw["t0"]) for s in raw["samples"]]
            results.append(result)
            say(table([result]))
            if save:
                with open(save, "w") as f:
                    json.dump(results, f, indent=1)
    except KeyboardInterrupt:
        say("interrupted: every process of the run stopped and its schema dropped")
        raise SystemExit(130) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if as_json:
        print(json.dumps(results, indent=1))
    else:
        print(table(results))
    return results
