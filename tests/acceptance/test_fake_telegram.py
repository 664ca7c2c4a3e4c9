"""The fake Telegram Bot API run as a script (a separate process), as benchmarks use it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.test_fake_telegram import TOKEN


def test_script_mode(tmp_path):
    script = Path(__file__).resolve().parents[1] / "fakes" / "telegram.py"
    bots_file = tmp_path / "bots.txt"
    bots_file.write_text("# token username\n222:BBB second_bot\n")
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--bot", f"{TOKEN}:script_bot",
         "--bots-file", str(bots_file), "--chat=-10042:channel"],
        stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=base, timeout=5) as c:
            assert c.get(f"/bot{TOKEN}/getMe").json()["result"]["username"] == "script_bot"
            assert c.get("/bot222:BBB/getMe").json()["result"]["username"] == "second_bot"
            assert c.post("/_fake/bots", json={"token": "333:CCC", "username": "third_bot"}).json()["ok"]
            assert c.get("/bot333:CCC/getMe").json()["ok"]
            for chat_id in (-10042, 5, 5):
                c.post(f"/bot{TOKEN}/sendMessage", json={"chat_id": chat_id, "text": "hi"})
            stats = c.get("/_fake/stats").json()
            assert stats["sent_by_bot"] == {"123456": 2} and stats["count_429"] == 1
            assert stats["max_in_any_second_by_bot"] == {"123456": 2}
            assert stats["first_at_by_bot"]["123456"] <= stats["last_at_by_bot"]["123456"]
            assert c.post("/_fake/reset").json() == {"ok": True}
            assert c.get("/_fake/stats").json()["sent"] == 0
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
        proc.stdout.close()
