"""One of several processes running ``crosspromo run`` through a replayed fortnight (the cross-promo
acceptance test starts three at once against one PostgreSQL database).

Usage: python -m tests.crosspromo_runner DB_URL SYNC_DIR INDEX COUNT TIMES_FILE

The processes replay the same instants (ISO times, one per line in TIMES_FILE) and keep in step,
as cron processes on machines with synchronised clocks do: before its instant number i a process
waits until every other one has finished instant i - 1 (each writes its progress to SYNC_DIR). It
prints a JSON summary at the end.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path


def _wait_for_peers(sync: Path, index: int, count: int, step: int) -> None:
    deadline = time.monotonic() + 120
    while True:
        done = []
        for peer in range(count):
            if peer == index:
                continue
            try:
                done.append(int((sync / str(peer)).read_text() or -1))
            except (FileNotFoundError, ValueError):
                done.append(-1)
        if all(d >= step - 1 for d in done):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"runner {index}: peers stuck before step {step}: {done}")
        time.sleep(0.001)


def main(url: str, sync_dir: str, index: str, count: str, times_file: str) -> None:
    from promostack_cli.crosspromo import service
    from promostack_cli.models import open_database
    from promostack_cli.settings import Settings
    from tests.integration.test_crosspromo import market

    db = open_database(url)
    market_for = market()
    me, n, sync = int(index), int(count), Path(sync_dir)
    times = [datetime.fromisoformat(line) for line in open(times_file).read().split()]
    queued = enqueued = 0
    for step, now in enumerate(times):
        _wait_for_peers(sync, me, n, step)
        report = service.run(db, Settings(), now, f"runner-{me}", market_for=market_for)
        queued += report.queued
        enqueued += report.enqueued
        tmp = sync / f".{me}"
        tmp.write_text(str(step))
        tmp.replace(sync / str(me))
    print(json.dumps({"runner": me, "queued": queued, "enqueued": enqueued}))


if __name__ == "__main__":
    main(*sys.argv[1:6])
