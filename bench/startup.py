"""``bench startup``: what a new ``promostack`` process costs, against the floor of importing SQLAlchemy.

cron starts ``scheduler tick`` every minute and people run short commands; each start pays the
interpreter and the imports before any work. The figure that counts is CPU time (user + sys of the
child, from ``getrusage(RUSAGE_CHILDREN)``): on a machine shared by several cron processes it is what
each start takes from the others, and it varies less than wall time. Both are reported, as medians
over ``runs`` rounds; each round runs every command once, side by side, after one warm-up run of
each, so a busy moment of the machine weighs on all of them alike.

Only the installed ``promostack`` command is driven (and the console script's entry point for the
module probe), so the same benchmark measures any version of the code. The idle tick is timed in
every environment cron or a person may give it: bare, ``PROMOSTACK_TENANT``, a ``.env`` file in the
working directory, ``--tenant``, ``--json``. Idle: a migrated database, a tenant ``acme``, nothing
queued. Byte-code is cached as an installed package has it: ``PYTHONDONTWRITEBYTECODE`` is dropped
for the commands, so the warm-up run writes ``__pycache__`` (otherwise an editable checkout compiles
every module of the CLI at every start, a quarter of its cost).

On PostgreSQL (a fresh schema, dropped afterwards) the targets are judged against ``import
sqlalchemy, psycopg``, the floor of any program that talks to PostgreSQL through SQLAlchemy; the
ratio to ``import sqlalchemy`` is printed beside it.

``--instructions``: each command also runs once under ``valgrind --tool=callgrind``, which counts the
instructions it executes: the same count for the same code whatever else the machine does, so the
ratio to the floor's count is the noise-free companion of the CPU median (a loaded machine moves
CPU ratios by ±0.1x; it does not move these).
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.delivery import BIN, KEY
from bench.emit import emit, revision

HEAVY = ("pandas", "pandas_ta", "numba", "stripe", "uvicorn", "matplotlib", "pydantic_settings", "sqlmodel",
         "httpx", "rich")
TICK = ["scheduler", "tick", "--for", "1s"]

# The probe runs the console script's entry point in-process (wherever it lives) and prints, as its
# last line, which of HEAVY it left in sys.modules.
PROBE = """import json, sys
from importlib.metadata import entry_points
heavy, sys.argv = json.loads(sys.argv[1]), ["promostack"] + json.loads(sys.argv[2])
(main,) = [ep.load() for ep in entry_points(group="console_scripts", name="promostack")]
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
print("\\n" + json.dumps([m for m in heavy if m in sys.modules]))
"""


class Case:
    """One command as it is run: argv, environment, working directory, target ratio (None: a floor)."""

    def __init__(self, label: str, argv: list[str], env: dict, cwd: str, target: float | None = None):
        self.label, self.argv, self.env, self.cwd, self.target = label, argv, env, cwd, target

    def instructions(self) -> int | None:
        """Instructions one run executes (valgrind's callgrind); None without valgrind."""
        import re
        import shutil

        if shutil.which("valgrind") is None:
            return None
        done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *self.argv],
                              env=self.env, cwd=self.cwd, capture_output=True, text=True)
        found = re.search(r"Collected : (\d+)", done.stderr)
        return int(found.group(1)) if done.returncode == 0 and found else None

    def run(self) -> tuple[float, float]:
        """(wall, CPU) seconds of one run; the child is reaped, so its CPU is in the delta."""
        cpu0, t0 = _cpu(), time.perf_counter()
        done = subprocess.run(self.argv, env=self.env, cwd=self.cwd, capture_output=True, text=True)
        wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
        if done.returncode != 0:
            raise SystemExit(f"{self.label} exited with {done.returncode}: {done.stderr.strip()[-500:]}")
        return wall, cpu


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _medians(cases: dict[str, Case], runs: int) -> dict[str, dict]:
    for case in cases.values():
        case.run()  # warm the page cache (and fail early on a broken command)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, case in cases.items():
            samples[name].append(case.run())
    return {name: {"wall": statistics.median(w for w, _ in s), "cpu": statistics.median(c for _, c in s)}
            for name, s in samples.items()}


def _cases(env: dict, work: str, dotenv: str, postgres: bool) -> dict[str, Case]:
    promostack = str(BIN / "promostack")
    floors = {"sqlalchemy": Case("python -c 'import sqlalchemy'", [sys.executable, "-c", "import sqlalchemy"], env, work)}
    if postgres:
        floors["psycopg"] = Case("python -c 'import sqlalchemy, psycopg'",
                                 [sys.executable, "-c", "import sqlalchemy, psycopg"], env, work)
    acme = {**env, "PROMOSTACK_TENANT": "acme"}
    return {
        **floors,
        "help": Case("promostack --help", [promostack, "--help"], env, work, 0.6),
        "tick": Case("scheduler tick (idle), bare", [promostack, *TICK], env, work, 1.3),
        "tick_env_tenant": Case("  ... PROMOSTACK_TENANT=acme", [promostack, *TICK], acme, work, 1.3),
        "tick_dotenv": Case("  ... a .env file in the cwd", [promostack, *TICK], env, dotenv, 1.3),
        "tick_tenant": Case("  ... --tenant acme", [promostack, "--tenant", "acme", *TICK], env, work, 1.3),
        "tick_json": Case("  ... --json", [promostack, "--json", *TICK], env, work, 1.3),
        "tenants_list": Case("--tenant acme tenants list", [promostack, "--tenant", "acme", "tenants", "list"],
                             env, work, 2.0),
        "outbox_list": Case("--tenant acme outbox list", [promostack, "--tenant", "acme", "outbox", "list"],
                            env, work, 2.0),
        "journeys_list": Case("--tenant acme journeys list", [promostack, "--tenant", "acme", "journeys", "list"],
                              env, work, 2.0),
    }


def _heavy(case: Case) -> list[str] | None:
    """Which HEAVY modules the command loads, run in-process; None: the probe does not work here."""
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(HEAVY), json.dumps(case.argv[1:])],
                          env=case.env, cwd=case.cwd, capture_output=True, text=True)
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return None


def measure(runs: int = 9, db: str = "sqlite", instructions: bool = False) -> dict:
    """Set up an idle database, time every case, probe the ticks' modules; the figures as a dict."""
    from bench.journeys import _drop, _schema_url

    schema = None
    with tempfile.TemporaryDirectory(prefix="promostack-startup-") as tmp:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PROMOSTACK_") and k != "PYTHONDONTWRITEBYTECODE"}
        env["PROMOSTACK_DATA_DIR"] = os.path.join(tmp, "data")
        load0 = os.getloadavg()[0]
        try:
            if db == "postgres":
                schema, env["PROMOSTACK_DATABASE_URL"] = _schema_url()
                env["PROMOSTACK_SECRET_KEY"] = KEY  # a shared database needs the key given, not a local file
            work, dotenv = os.path.join(tmp, "work"), os.path.join(tmp, "work-dotenv")
            for d in (work, dotenv):
                os.mkdir(d)
            Path(dotenv, ".env").write_text("PROMOSTACK_LOG_LEVEL=WARNING\n")
            promostack = str(BIN / "promostack")
            for argv in (["db", "upgrade"], ["tenants", "add", "acme", "--name", "Acme"]):
                Case(" ".join(argv), [promostack, *argv], env, work).run()
            cases = _cases(env, work, dotenv, db == "postgres")
            figures = _medians(cases, runs)
            if instructions:
                for name, case in cases.items():
                    figures[name]["instructions"] = case.instructions()
            heavy = {name: _heavy(case) for name, case in cases.items() if name.startswith("tick")}
            load = [round(load0, 1), round(os.getloadavg()[0], 1)]
        finally:
            if schema:
                _drop(schema)
    floor = "psycopg" if db == "postgres" else "sqlalchemy"
    for name, case in cases.items():
        f = figures[name]
        f.update(label=case.label, target=case.target,
                 cpu_ratio=f["cpu"] / figures["sqlalchemy"]["cpu"], wall_ratio=f["wall"] / figures["sqlalchemy"]["wall"],
                 cpu_floor_ratio=f["cpu"] / figures[floor]["cpu"])
        if f.get("instructions") and figures[floor].get("instructions"):
            f["instructions_floor_ratio"] = f["instructions"] / figures[floor]["instructions"]
        if case.target is not None:
            f["met"] = f["cpu_floor_ratio"] <= case.target
    return {"benchmark": "startup", "db": db, "runs": runs, "floor": floor, "revision": revision(),
            "python": sys.version.split()[0], "load": load, "cores": os.cpu_count(), "commands": figures, "heavy": heavy}


def report(res: dict) -> None:
    pg = res["db"] == "postgres"
    print(f"start-up on {res['db']}, median of {res['runs']} interleaved rounds ({res['revision']}); "
          f"targets in CPU against {'import sqlalchemy, psycopg' if pg else 'import sqlalchemy'}; "
          f"load average {res['load'][0]} -> {res['load'][1]} on {res['cores']} cores")
    extra = "  /sa+pg" if pg else ""
    counted = any("instructions_floor_ratio" in f for f in res["commands"].values())
    instr = "  instr./floor" if counted else ""
    print(f"  {'command':38} {'CPU':>7} {'/sa':>6}{extra}  {'wall':>7} {'/sa':>6}{instr}   target")
    for f in res["commands"].values():
        floor = f"  {f['cpu_floor_ratio']:5.2f}x" if pg else ""
        count = f"  {f['instructions_floor_ratio']:11.2f}x" if "instructions_floor_ratio" in f else \
            ("  " + " " * 12 if counted else "")
        target = "" if f["target"] is None else f"<= {f['target']}x {'met' if f['met'] else 'NOT MET'}"
        print(f"  {f['label']:38} {f['cpu'] * 1000:4.0f} ms {f['cpu_ratio']:5.2f}x{floor}  "
              f"{f['wall'] * 1000:4.0f} ms {f['wall_ratio']:5.2f}x{count}   {target}")
    print("  heavy modules loaded by the idle tick (in-process probe of the console script):")
    for name, mods in res["heavy"].items():
        label = res["commands"][name]["label"].strip(" .")
        shown = "probe failed (entry point not runnable in-process): skipped" if mods is None else ", ".join(mods) or "none"
        print(f"    {label:34} {shown}")


def run(runs: int = 9, db: str = "sqlite", as_json: bool = False, save: str | None = None,
        instructions: bool = False) -> dict:
    return emit(measure(runs, db, instructions), report, as_json, save)
