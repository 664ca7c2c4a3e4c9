"""Start-up cost of the cron paths against the floor of importing SQLAlchemy.

cron starts a new process every minute, so ``promostack --help`` and ``promostack scheduler tick``
(with nothing due) must not pay for pandas, numba or stripe.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def _time(cmd: list[str], env: dict, runs: int) -> float:
    subprocess.run(cmd, env=env, capture_output=True, check=True)  # warm the page cache
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def run(runs: int = 15) -> dict:
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROMOSTACK_")}
        env["PROMOSTACK_DATA_DIR"] = data
        promostack = str(BIN / "promostack")
        subprocess.run([promostack, "db", "upgrade"], env=env, capture_output=True, check=True)
        base = _time([sys.executable, "-c", "import sqlalchemy"], env, runs)
        help_t = _time([promostack, "--help"], env, runs)
        tick_t = _time([promostack, "scheduler", "tick", "--for", "5s"], env, runs)
        heavy = subprocess.run(
            [sys.executable, "-c",
             "import sys; sys.argv=['promostack','scheduler','tick','--for','1s']\n"
             "from promostack_cli.main import run\ntry: run()\nexcept SystemExit: pass\n"
             "print(','.join(m for m in ('pandas','pandas_ta','numba','stripe','uvicorn') if m in sys.modules) or 'none')"],
            env=env, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    print(f"start-up (median of {runs} runs)")
    print(f"  python -c 'import sqlalchemy'      {base * 1000:7.0f} ms   1.00x")
    print(f"  promostack --help                  {help_t * 1000:7.0f} ms   {help_t / base:4.2f}x")
    print(f"  promostack scheduler tick (idle)   {tick_t * 1000:7.0f} ms   {tick_t / base:4.2f}x")
    print(f"  heavy modules loaded by the tick:  {heavy}")
    return {"sqlalchemy": base, "help": help_t, "tick": tick_t, "heavy": heavy}
