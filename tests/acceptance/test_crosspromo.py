"""Cross promo as deployed: the CLI's settings checks, and several processes replaying a fortnight
across a daylight-saving change against one PostgreSQL database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from promostack_cli.crosspromo import config
from tests.acceptance.conftest import Cli, base_env
from tests.conftest import SIGNAL_TOKEN
from tests.integration.test_crosspromo import CTA, FREE, MONDAY, connect, jobs, outbox


def test_invalid_settings_change_nothing_and_exit_2(tmp_path):
    cli = Cli(base_env(tmp_path), tmp_path)
    assert cli("tenants", "add", "entrylab").code == 0
    ok = cli("-t", "entrylab", "crosspromo", "settings", "set", "--timezone", "Europe/London", "--morning-time", "08:30")
    assert ok.code == 0, ok.stderr
    # (every rule is checked in test_crosspromo_schedule.py; here: the CLI's exit code and that a
    # refused change leaves everything, the valid part of it included, as it was)
    for args in (["--teaser-time", "11:00", "--timezone", "Nowhere/Land"], ["--enabled"],
                 ["--morning-time", "25:00", "--days", "sat-sun"]):
        r = cli("-t", "entrylab", "crosspromo", "settings", "set", *args)
        assert r.code == 2 and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    shown = cli("-t", "entrylab", "crosspromo", "settings", "show", "--json").json()
    assert (shown["timezone"], shown["morning_time"], shown["teaser_time"], shown["enabled"]) == \
        ("Europe/London", "08:30", "10:00", False)
    schedule = cli("-t", "entrylab", "crosspromo", "schedule", "--days", "3", "--now", "2026-10-23T12:00Z", "--json").json()
    # Fri 23 Oct (BST) has passed its posts; the weekend has none; Mon 26 Oct is GMT
    assert [(s["kind"], s["utc"][:16]) for s in schedule] == [("morning_news", "2026-10-26T08:30"),
                                                             ("teaser", "2026-10-26T10:00")]


@pytest.mark.postgres
@pytest.mark.slow
def test_three_processes_running_every_minute_for_a_fortnight_across_a_clock_change_post_each_once(pg_url, tmp_path, box):
    """Europe/London, Mon 19 Oct - Sun 1 Nov 2026 (clocks go back on Sun 25 Oct): three processes
    replay the same fortnight at once, every minute around each post time (every hour
    otherwise). Each weekday gets one morning post at 09:00 local and one teaser at 10:00 local,
    the weekends none, nothing is cancelled as late and no message is queued twice."""
    import os
    import subprocess
    import sys

    from promostack_cli.db import Database
    from promostack_cli.system.migrate import upgrade
    from promostack_cli.tenants.service import add_tenant

    db = Database(pg_url)
    upgrade(db)
    with db.transaction() as s:
        tenant_id = add_tenant(s, "entrylab", "EntryLab").id
    connect(db, box, tenant_id, "signal_bot", SIGNAL_TOKEN, "entrylab_signals_bot", free_channel=FREE)
    with db.transaction() as s:
        config.update(s, tenant_id, {"enabled": True, "cta_url": CTA, "timezone": "Europe/London"}, MONDAY)

    expected = {}
    for day in range(14):
        d = MONDAY + timedelta(days=day)
        if d.weekday() < 5:
            shift = 0 if d < datetime(2026, 10, 25, 1, tzinfo=UTC) else 1   # BST (UTC+1) until the 25th
            expected[("morning_news", d.date().isoformat())] = d.replace(hour=8 + shift)
            expected[("teaser", d.date().isoformat())] = d.replace(hour=9 + shift)
    times = {MONDAY + timedelta(minutes=60 * i) for i in range(14 * 24)}
    for at in expected.values():
        times |= {at + timedelta(minutes=m) for m in range(-3, 4)}
    times_file = tmp_path / "times.txt"
    times_file.write_text("\n".join(t.isoformat() for t in sorted(times)))
    sync = tmp_path / "sync"
    sync.mkdir()
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.crosspromo_runner", pg_url, str(sync), str(i), "3",
                               str(times_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for i in range(3)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=400)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))

    assert sum(r["queued"] for r in results) == len(expected) == 20
    got = {(j.kind, j.local_date): j for j in jobs(db)}
    assert set(got) == set(expected)
    for key, job in got.items():
        assert job.status == "queued", (key, job.status, job.last_error)
        assert job.scheduled_at == expected[key], key
    messages = outbox(db)
    assert len(messages) == 20 and len({m.dedupe_key for m in messages}) == 20
    # each message was queued in the minute its post came due (the processes keep in step, as cron
    # processes on machines with synchronised clocks do)
    for m in messages:
        job = next(j for j in got.values() if j.outbox_id == m.id)
        assert job.scheduled_at <= m.created_at < job.scheduled_at + timedelta(minutes=1)
