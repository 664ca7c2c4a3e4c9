"""Figures of one ``bench/cron.py`` run, computed from what the fake Bot API saw, and the table.

Every time here is wall-clock epoch seconds. Send times are the fake's arrival times (its limiter
measures the same), mapped onto the wall clock by the fake's own (clock, time.time()) pair.
"""

from __future__ import annotations

import bisect
import math
import statistics

from bench.cron_setup import parse_backlog_text
from promostack_cli.core.clock import parse_duration


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def pause_window(scripted: list[dict]) -> tuple[float, float] | None:
    """(start, end) of the scripted 429: answered at ``at``, Telegram said wait ``retry_after``."""
    for f in scripted:
        if f["error_code"] == 429 and f["method"].lower() == "sendmessage":
            return f["at"], f["at"] + (f["retry_after"] or 0)
    return None


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def rate_figures(times: list[float], rate: float, pause: tuple[float, float] | None, until: float,
                 gap: tuple[float, float] | None = None) -> dict:
    """Rate share first->last send (pause excluded); longest gap and idle seconds (outside the pause)
    from the first send to ``until``: the last send of a finished run, the end of a stalled one (whose
    bot sat idle with messages waiting). ``gap`` = (cron start, --for): idle seconds in the part of each
    cron minute after --for, when no tick is running, are counted separately."""
    if len(times) < 2:
        return {"achieved_rate": None, "share": None, "longest_gap": None, "idle_seconds": None, "idle_no_tick": None}
    first, last = times[0], times[-1]
    excluded = _overlap(first, last, *pause) if pause else 0.0
    span = last - first - excluded
    achieved = (len(times) - 1) / span if span > 0 else None
    edges = times + ([until] if until > last else [])
    longest = max(b - a - (_overlap(a, b, *pause) if pause else 0.0) for a, b in zip(edges, edges[1:]))
    idle = idle_no_tick = 0
    for k in range(int(max(until, last) - first)):  # whole 1 s buckets from the first send
        lo = first + k
        if pause and pause[0] <= lo + 0.5 < pause[1]:
            continue
        if bisect.bisect_left(times, lo + 1) - bisect.bisect_left(times, lo) == 0:
            idle += 1
            idle_no_tick += bool(gap and (lo + 0.5 - gap[0]) % 60 >= gap[1])
    return {"achieved_rate": achieved, "share": achieved / rate if achieved else None, "longest_gap": longest,
            "idle_seconds": idle, "idle_no_tick": idle_no_tick if gap and gap[1] < 60 else None}


def resume_latency(times: list[float], pause_end: float, rate: float) -> float | None:
    """Seconds from the pause's end to the start of the first 1 s window with >= 0.9 x rate sends."""
    need = math.ceil(0.9 * rate - 1e-9)
    for i in range(bisect.bisect_left(times, pause_end), len(times)):
        if bisect.bisect_left(times, times[i] + 1.0) - i >= need:
            return times[i] - pause_end
    return None


def order_violations(sends: list[dict]) -> int:
    """Backlog messages that reached their chat after a later one of the same chat."""
    highest: dict[int, int] = {}
    bad = 0
    for m in sends:
        parsed = parse_backlog_text(m["text"])
        if parsed is None:
            continue
        chat, seq = parsed
        if seq < highest.get(chat, -1):
            bad += 1
        highest[chat] = max(highest.get(chat, -1), seq)
    return bad


def tick_totals(reports: list[dict]) -> dict:
    keys = ("sent", "released", "late_slots", "rate_limited", "retrying", "failed")
    ok = [r["report"] for r in reports if r.get("report")]
    totals = {k: sum(int(r.get(k, 0) or 0) for r in ok) for k in keys}
    by_minute: dict[int, dict] = {}
    for r in reports:
        if r.get("report"):
            m = by_minute.setdefault(r["minute"], {k: 0 for k in ("sent", "released", "late_slots")})
            for k in m:
                m[k] += int(r["report"].get(k, 0) or 0)
    totals.update(processes=len(reports), reported=len(ok), by_minute=[by_minute[m] | {"minute": m} for m in sorted(by_minute)],
                  errors=sorted({e for r in ok for e in r.get("errors", [])})[:5],
                  failures=[r["problem"] for r in reports if r.get("problem")][:5])
    return totals


def analyse(run: dict) -> dict:
    """Figures of one run from its raw record (see ``bench.cron.run_once``)."""
    rate, t0, end = run["rate"], run["t0"], run["end"]
    sends = sorted(run["sends"], key=lambda m: m["at"])
    in_run = [m for m in sends if m["at"] <= end]
    backlog_times = [m["at"] for m in in_run if parse_backlog_text(m["text"])]
    # a finished run's rate window ends with the last backlog message, not the /start trickle after it
    window_end = backlog_times[-1] if run["finished"] and backlog_times else end
    times = [m["at"] for m in in_run if m["at"] <= window_end]
    pause = pause_window(run["scripted"])
    figures = rate_figures(times, rate, pause, window_end, (t0, parse_duration(run["for"])))
    posted = {p["user"]: p for p in run["posts"] if p["status"] == 200}
    first_to_chat: dict[str, float] = {}
    for m in sends:
        first_to_chat.setdefault(str(m["chat_id"]), m["at"])
    latencies = [first_to_chat[str(u)] - p["at"] for u, p in posted.items() if str(u) in first_to_chat]
    journey_in_run = sum(1 for u in posted if first_to_chat.get(str(u), math.inf) <= end)
    samples = run["samples"]

    def ahead(s: dict) -> float | None:  # inside the scripted pause, only the slot schedule counts
        in_pause = pause and pause[0] <= s["t"] < pause[1]
        values = [s["slot_ahead"]] + ([] if in_pause else [s["pause_ahead"]])
        values = [v for v in values if v is not None]
        return max(values) if values else None

    aheads = [a for a in (ahead(s) for s in samples) if a is not None]
    ticks = tick_totals(run["ticks"])
    out = {
        "processes": run["processes"], "db": run["db"], "loop": run["loop"], "for": run["for"], "configured_rate": rate,
        "starts_per_second": run["starts_per_second"],
        "wall_seconds": window_end - t0, "finished": run["finished"],
        "expected": run["backlog"] + len(posted), "delivered": len(in_run),
        "backlog": run["backlog"], "backlog_delivered": sum(1 for m in in_run if parse_backlog_text(m["text"])),
        "delivered_after_end": len(sends) - len(in_run),
        "duplicates": len(sends) - len({m["text"] for m in sends}),
        "order_violations": order_violations(sends),
        "limiter_429": run["stats"].get("count_429"), "scripted_failures": run["stats"].get("count_scripted"),
        "stuck": sum(n for s, n in run["end_counts"].items() if s in ("pending", "sending")),
        "end_counts": run["end_counts"],
        "max_run_ahead": max(aheads) if aheads else None,
        **figures,
        "pause": None, "pause_armed_at": run["pause_armed_at"] and run["pause_armed_at"] - t0,
        "journey_posted": len(run["posts"]), "journey_accepted": len(posted), "journey_delivered": journey_in_run,
        "journey_latency_p50": statistics.median(latencies) if latencies else None,
        "journey_latency_p95": _percentile(latencies, 0.95),
        "post_seconds_p95": _percentile([p["seconds"] for p in run["posts"]], 0.95),
        "ticks": ticks,
        "receiver_sends": len(sends) - ticks["sent"] if ticks["reported"] == ticks["processes"] else None,
        "cpu": run["cpu"],
        "timeline": _timeline([m["at"] for m in in_run], samples, t0, end),
    }
    if pause:
        after = [a for s in samples if pause[1] <= s["t"] <= pause[1] + 3 and (a := ahead(s)) is not None]
        latency = resume_latency(times, pause[1], rate)
        out["pause"] = {"at": pause[0] - t0, "seconds": pause[1] - pause[0], "resume_latency": latency,
                        "run_ahead_after": max(after) if after else None,
                        "sends_into_pause": sum(1 for t in times if pause[0] < t < pause[1])}
    return out


def _timeline(times: list[float], samples: list[dict], t0: float, end: float, step: int = 10) -> list[dict]:
    """Per ``step`` seconds from the start: sends, and the schedule's run-ahead at the last sample."""
    rows = []
    for k in range(int((end - t0) // step) + 1):
        lo, hi = t0 + k * step, t0 + (k + 1) * step
        sent = bisect.bisect_left(times, hi) - bisect.bisect_left(times, lo)
        last = [s for s in samples if lo <= s["t"] < hi]
        s = last[-1] if last else None
        rows.append({"t": k * step, "sent": sent, "slot_ahead": s and s["slot_ahead"],
                     "backlog_left": s and s["backlog_left"]})
    return rows


# -- the table ------------------------------------------------------------------------------

def _f(value, fmt: str = "{:.2f}", none: str = "-") -> str:
    return none if value is None else fmt.format(value)


ROWS = [
    ("wall time (s)", lambda r: _f(r["wall_seconds"], "{:.0f}") + ("" if r["finished"] else " (limit)")),
    ("delivered / expected", lambda r: f"{r['delivered']} / {r['expected']}"),
    ("rate share, pause excluded (>=0.90)", lambda r: _f(r["share"])),
    ("  msg/s first->last", lambda r: _f(r["achieved_rate"], "{:.1f}")),
    ("  share over the whole run", lambda r: _f(whole_run_share(r))),
    ("duplicates (0)", lambda r: str(r["duplicates"])),
    ("order-per-chat violations (0)", lambda r: str(r["order_violations"])),
    ("429s from the limiter (0)", lambda r: _f(r["limiter_429"], "{}")),
    ("stuck at the end", lambda r: str(r["stuck"])),
    ("max schedule run-ahead (s)", lambda r: _f(r["max_run_ahead"], "{:.1f}")),
    ("longest send gap (s)", lambda r: _f(r["longest_gap"], "{:.1f}")),
    ("idle seconds", lambda r: _f(r["idle_seconds"], "{}")),
    ("  of which no tick ran (after --for)", lambda r: _f(r.get("idle_no_tick"), "{}", "n/a")),
    ("429 resume latency (s, <=2)", lambda r: _pause_cell(r)),
    ("  run-ahead after the pause (s)", lambda r: "-" if not r["pause"] else _f(r["pause"]["run_ahead_after"], "{:.1f}")),
    ("  sends into the pause", lambda r: "-" if not r["pause"] else str(r["pause"]["sends_into_pause"])),
    ("receiver: journey msgs delivered", lambda r: f"{r['journey_delivered']} / {r['journey_accepted']}"),
    ("  /start -> message p50 / p95 (s)", lambda r: f"{_f(r['journey_latency_p50'])} / {_f(r['journey_latency_p95'])}"),
    ("  all sends by the receiver", lambda r: _f(r["receiver_sends"], "{}")),
    ("ticks: processes / hand-backs", lambda r: f"{r['ticks']['processes']} / {r['ticks']['released']}"),
    ("  late slots", lambda r: str(r["ticks"]["late_slots"])),
    ("CPU % of a core: fake / receiver", lambda r: f"{_f(r['cpu'].get('fake'), '{:.0f}')} / {_f(r['cpu'].get('receiver'), '{:.0f}')}"),
    ("  ticks / machine busy (of 100 x cores)", lambda r: f"{_f(r['cpu'].get('ticks'), '{:.0f}')} / {_f(r['cpu'].get('machine'), '{:.0f}')}"),
]


def whole_run_share(r: dict) -> float | None:
    """Delivered / (wall time - pause) / rate: unlike first->last, a stall after the last send counts."""
    busy = r["wall_seconds"] - (r["pause"]["seconds"] if r["pause"] else 0)
    return r["delivered"] / busy / r["configured_rate"] if busy > 0 else None


def _pause_cell(r: dict) -> str:
    if r["pause"]:
        return _f(r["pause"]["resume_latency"], "{:.1f}", "never")
    if r["pause_armed_at"] is not None:
        return "429 never sent"  # armed, but the bot sent nothing more
    return "no pause"


def table(results: list[dict]) -> str:
    first = results[0]
    head = (f"cron delivery: 'scheduler tick --loop {first['loop']} --for {first['for']}' x N every minute, "
            f"{first['db']}, 1 bot at {first['configured_rate']:g}/s, {first['backlog']} queued + "
            f"{first['starts_per_second']:g} /start updates/s via the receiver (webhook serve --workers 2)")
    labels = [label for label, _ in ROWS]
    cols = [[f"N={r['processes']}"] + [fn(r) for _, fn in ROWS] for r in results]
    width = max(map(len, labels)) + 2
    colw = [max(map(len, c)) + 2 for c in cols]
    lines = [head, "".ljust(width) + "".join(c[0].rjust(w) for c, w in zip(cols, colw))]
    for i, label in enumerate(labels, start=1):
        lines.append(label.ljust(width) + "".join(c[i].rjust(w) for c, w in zip(cols, colw)))
    lines += ["rate share: (sends - 1) / (last - first send - the scripted 429 pause), as a share of the configured rate;",
              "share over the whole run: delivered / (wall time - pause) / rate, from the first cron start;",
              "gap and idle seconds: outside the pause, from the first send to the last one (finished run) or to the run's end",
              "(stalled run); stuck = pending or sending at the end; hand-backs = 'released' summed over the ticks' --json reports;",
              "429 resume latency: pause end -> first 1 s window with >= 0.9 x rate sends; run-ahead = max(next_slot_at, paused_until) - now."]
    for r in results:
        lines.append(f"N={r['processes']} per 10 s: sent / run-ahead s / backlog left: " + "  ".join(
            f"{row['sent']}/{_f(row['slot_ahead'], '{:.0f}')}/{_f(row['backlog_left'], '{}')}" for row in r["timeline"]))
        lines.append(f"N={r['processes']} hand-backs per cron minute: " + ", ".join(
            f"m{m['minute']} {m['released']} (sent {m['sent']})" for m in r["ticks"]["by_minute"]))
        problems = r["ticks"]["errors"] + r["ticks"]["failures"]
        if problems:
            lines.append(f"N={r['processes']} tick problems: " + "; ".join(problems))
    return "\n".join(lines)


if __name__ == "__main__":  # python -m bench.cron_report results.json ...: the table again, from --save files
    import json
    import sys

    print(table([r for path in sys.argv[1:] for r in json.load(open(path))]))
