"""Start-up cost of the cron paths against the floor of importing SQLAlchemy.

cron starts a new process every minute, so ``promostack --help`` and ``promostack scheduler tick``
(with nothing due) must not pay for pandas, numba or stripe. The figure that counts is CPU time
(user + sys of the child, from ``getrusage(RUSAGE_CHILDREN)``): on a machine shared by several cron
processes it is what each start takes from the others, and it varies less than wall time. Both are
reported, as medians over ``runs`` rounds; each round runs every command once, side by side, so a
busy moment of the machine weighs on all of them alike.
"""

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _once(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``cmd``; the child is reaped, so its CPU is in the delta."""
    cpu0, t0 = _cpu(), time.perf_counter()
    subprocess.run(cmd, env=env, capture_output=True, check=True)
    return time.perf_counter() - t0, _cpu() - cpu0


def _medians(commands: dict[str, list[str]], env: dict, runs: int) -> dict[str, tuple[float, float]]:
    for cmd in commands.values():
        subprocess.run(cmd, env=env, capture_output=True, check=True)  # warm the page cache
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            samples[name].append(_once(cmd, env))
    return {name: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
            for name, s in samples.items()}


def run(runs: int = 15) -> dict:
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROMOSTACK_")}
        env["PROMOSTACK_DATA_DIR"] = data
        promostack = str(BIN / "promostack")
        subprocess.run([promostack, "db", "upgrade"], env=env, capture_output=True, check=True)
        m = _medians({
            "sqlalchemy": [sys.executable, "-c", "import sqlalchemy"],
            "help": [promostack, "--help"],
            "tick": [promostack, "scheduler", "tick", "--for", "5s"],
        }, env, runs)
        heavy = subprocess.run(
            [sys.executable, "-c",
             "import sys; sys.argv=['promostack','scheduler','tick','--for','1s']\n"
             "from promostack_cli.main import run\ntry: run()\nexcept SystemExit: pass\n"
             "print(','.join(m for m in ('pandas','pandas_ta','numba','stripe','uvicorn') if m in sys.modules) or 'none')"],
            env=env, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    (base_w, base_c), (help_w, help_c), (tick_w, tick_c) = m["sqlalchemy"], m["help"], m["tick"]
    print(f"start-up (median of {runs} runs)          CPU              wall")
    for label, (w, c) in (("python -c 'import sqlalchemy'   ", m["sqlalchemy"]),
                          ("promostack --help               ", m["help"]),
                          ("promostack scheduler tick (idle)", m["tick"])):
        print(f"  {label}  {c * 1000:6.0f} ms {c / base_c:5.2f}x   {w * 1000:6.0f} ms {w / base_w:5.2f}x")
    print(f"  heavy modules loaded by the tick:  {heavy}")
    return {"sqlalchemy": base_w, "help": help_w, "tick": tick_w, "heavy": heavy,
            "cpu": {"sqlalchemy": base_c, "help": help_c, "tick": tick_c}}
