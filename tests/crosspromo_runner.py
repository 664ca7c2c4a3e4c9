"""One of several processes running ``crosspromo run`` through a replayed fortnight (the cross-promo
acceptance test starts three at once against one PostgreSQL database).

Usage: python -m tests.crosspromo_runner DB_URL START_FILE TIMES_FILE
Waits until START_FILE exists (so the processes start together), then runs once per instant in
TIMES_FILE (ISO times, one per line) and prints a JSON summary.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime


def main(url: str, start_file: str, times_file: str) -> None:
    from promostack_cli.crosspromo import service
    from promostack_cli.db import Database
    from promostack_cli.settings import Settings
    from tests.test_crosspromo import market

    db = Database(url)
    market_for = market()
    times = [datetime.fromisoformat(line) for line in open(times_file).read().split()]
    while not os.path.exists(start_file):
        time.sleep(0.01)
    queued = enqueued = 0
    for now in times:
        report = service.run(db, Settings(), now, f"runner-{os.getpid()}", market_for=market_for)
        queued += report.queued
        enqueued += report.enqueued
    print(json.dumps({"pid": os.getpid(), "queued": queued, "enqueued": enqueued}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
