"""Acceptance tier: the installed ``promostack`` console script and real processes (``webhook serve``,
several ``scheduler tick`` processes, the fakes as scripts). ``Cli`` runs the entry point with a
controlled environment; the ``cli`` fixture points it at a migrated database (SQLite and PostgreSQL)
and the fake Bot API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_KEY

BIN = Path(sys.executable).parent
PROMOSTACK = shutil.which("promostack", path=str(BIN)) or str(BIN / "promostack")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


class Cli:
    """Runs the installed ``promostack`` console script with a controlled environment."""

    def __init__(self, env: dict[str, str], cwd: Path):
        self.env = env
        self.cwd = cwd

    def __call__(self, *args: str, input: str | None = None, env: dict | None = None, timeout: float = 120) -> Result:
        full_env = {**self.env, **(env or {})}
        proc = subprocess.run([PROMOSTACK, *args], capture_output=True, text=True, env=full_env, cwd=self.cwd,
                              input=input, timeout=timeout)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def popen(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        return subprocess.Popen([PROMOSTACK, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**self.env, **(env or {})}, cwd=self.cwd)



def one_line(r: Result, code: int) -> str:
    """The one stderr line of a command that exits ``code``: no traceback, nothing else said."""
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.code == code and len(lines) == 1 and "Traceback" not in r.stderr, (r.code, r.stdout, r.stderr)
    return lines[0]

def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMOSTACK_")}
    env.update({"PROMOSTACK_DATA_DIR": str(tmp_path / "data"), "NO_COLOR": "1", "COLUMNS": "200",
                "PROMOSTACK_SECRET_KEY": TEST_KEY})
    return env


@pytest.fixture
def cli(tmp_path, db_url, fake_tg):
    """The CLI against a migrated ``db_url`` (SQLite and PostgreSQL) and the fake Bot API."""
    env = base_env(tmp_path)
    env.update({"PROMOSTACK_DATABASE_URL": db_url, "PROMOSTACK_TELEGRAM_API_URL": fake_tg.base_url})
    runner = Cli(env, tmp_path)
    r = runner("db", "upgrade")
    assert r.code == 0, r.stderr
    return runner


def healthy(port: int) -> bool:
    """True once ``webhook serve`` on ``port`` answers its health check."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()["ok"] is True
    except (httpx.HTTPError, ValueError):
        return False
