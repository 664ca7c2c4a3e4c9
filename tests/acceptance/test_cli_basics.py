"""CLI conventions through the installed entry point: help, version, exit codes, stdout/stderr, secrets."""

import re
import subprocess
import sys

from tests.acceptance.conftest import Cli, base_env
from tests.conftest import MESSAGE_TOKEN, TEST_KEY

HEAVY = ("pandas", "pandas_ta", "numba", "matplotlib", "stripe", "uvicorn", "starlette", "jinja2", "yaml")


def _modules_loaded_by(args: list[str], env: dict) -> set[str]:
    code = (
        "import sys\n"
        f"sys.argv = ['promostack', *{args!r}]\n"
        "from promostack_cli.main import run\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.__stderr__)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    marker = [line for line in proc.stderr.splitlines() if line.startswith("HEAVY=")]
    assert marker, proc.stderr
    return {m for m in marker[-1].removeprefix("HEAVY=").split(",") if m}


def test_forex_listing_and_an_idle_forex_tick_do_not_need_pandas(tmp_path):
    env = base_env(tmp_path)
    loaded = _modules_loaded_by(["forex", "strategies"], env)
    assert not loaded & {"pandas", "pandas_ta", "numba", "matplotlib"}, loaded
    cli = Cli(env, tmp_path)
    assert cli("tenants", "add", "entrylab").code == 0
    assert cli("-t", "entrylab", "connections", "set", "signal_bot", "--no-validate", "--username", "signals_bot",
               "--token", "7000000001:AAFsignalsignalsignalsignalsignal001", "--vip-channel", "-1001000000001",
               "--free-channel", "@entrylab_free").code == 0
    # a Saturday: no check, monitor or report is due, so cron's minute costs no pandas import
    idle = {**env, "PROMOSTACK_TWELVEDATA_API_KEY": "unused-key", "PROMOSTACK_TWELVEDATA_API_URL": "http://127.0.0.1:9"}
    r = cli("forex", "tick", "--now", "2025-03-08T14:00:20", env=idle)
    assert r.code == 0 and r.stderr == "", r.stderr
    loaded = _modules_loaded_by(["forex", "tick", "--now", "2025-03-08T14:00:20"], idle)
    assert not loaded & {"pandas", "pandas_ta", "numba", "matplotlib"}, loaded


def test_help_and_tick_do_not_import_heavy_libraries(tmp_path):
    env = base_env(tmp_path)
    assert _modules_loaded_by(["--help"], env) == set()
    assert _modules_loaded_by(["scheduler", "tick", "--for", "1s"], env) == set()


def test_help_lists_every_domain_group(tmp_path):
    r = Cli(base_env(tmp_path), tmp_path)("--help")
    assert r.code == 0
    for group in ("tenants", "connections", "outbox", "scheduler", "db", "config"):
        assert group in r.stdout
    assert "Exit codes: 0 ok, 1 operational failure, 2 usage or validation error" in r.stdout


def test_version(tmp_path):
    r = Cli(base_env(tmp_path), tmp_path)("--version")
    assert r.code == 0 and r.stdout.startswith("promostack ")


def test_usage_error_exit_2(tmp_path):
    cli = Cli(base_env(tmp_path), tmp_path)
    assert cli("tenants", "add").code == 2
    r = cli("tenants", "add", "Bad Slug!")
    assert r.code == 2 and "not valid" in r.stderr and "Traceback" not in r.stderr
    r = cli("scheduler", "tick", "--for", "soon")
    assert r.code == 2 and "not a duration" in r.stderr


def test_data_on_stdout_messages_on_stderr(tmp_path):
    cli = Cli(base_env(tmp_path), tmp_path)
    r = cli("tenants", "add", "entrylab", "--name", "EntryLab")
    assert r.stdout == "" and "Tenant 'entrylab' added" in r.stderr
    r = cli("tenants", "list", "--json")
    assert r.json() == [{"slug": "entrylab", "name": "EntryLab", "created_at": r.json()[0]["created_at"]}]
    r = cli("--json", "tenants", "list")
    assert r.json()[0]["slug"] == "entrylab"


def test_config_show_masks_secrets(tmp_path):
    env = base_env(tmp_path)
    env["PROMOSTACK_DATABASE_URL"] = "postgresql+psycopg://promo:pgpassword123@127.0.0.1/prod"
    r = Cli(env, tmp_path)("config", "show", "--json")
    assert r.code == 0
    shown = r.json()
    assert "pgpassword123" not in r.stdout and TEST_KEY not in r.stdout
    assert shown["database_url"] == "postgresql+psycopg://promo:***@127.0.0.1/prod"
    assert shown["secret_key"].startswith("te…")


def test_invalid_setting_is_one_line(tmp_path):
    env = base_env(tmp_path)
    env["PROMOSTACK_SEND_RATE_PER_BOT"] = "fast"
    r = Cli(env, tmp_path)("tenants", "list")
    assert r.code == 2 and "PROMOSTACK_SEND_RATE_PER_BOT" in r.stderr and "Traceback" not in r.stderr


def test_tokens_never_reach_logs(tmp_path, fake_tg):
    env = base_env(tmp_path)
    env.update({"PROMOSTACK_TELEGRAM_API_URL": fake_tg.base_url, "PROMOSTACK_LOG_LEVEL": "DEBUG"})
    cli = Cli(env, tmp_path)
    cli("tenants", "add", "entrylab")
    outputs = [cli("-t", "entrylab", "connections", "set", "message_bot", "--token", MESSAGE_TOKEN)]
    cli("-t", "entrylab", "outbox", "send", "message_bot", "--chat", "5550001", "--text", "hi")
    fake_tg.fail_next("sendMessage", 500, count=1)
    outputs.append(cli("scheduler", "tick", "--for", "30s"))  # the retry after the 500 goes out in this tick
    outputs.append(cli("-t", "entrylab", "outbox", "list", "--json"))
    everything = "".join(r.stdout + r.stderr for r in outputs)
    # the request log lines were written, with the token masked in their URLs
    assert "httpx: HTTP Request: POST" in everything
    assert "bot7000000002:AA…02/getMe" in everything and "bot7000000002:AA…02/sendMessage" in everything
    assert MESSAGE_TOKEN not in everything and MESSAGE_TOKEN.split(":")[1] not in everything


def test_outbox_cli_send_list_retry(tmp_path, fake_tg):
    env = base_env(tmp_path)
    env.update({"PROMOSTACK_TELEGRAM_API_URL": fake_tg.base_url})
    cli = Cli(env, tmp_path)
    cli("tenants", "add", "entrylab")
    assert cli("-t", "entrylab", "connections", "set", "message_bot", "--token", MESSAGE_TOKEN).code == 0
    fake_tg.block(5550001)
    assert cli("-t", "entrylab", "outbox", "send", "message_bot", "--chat", "5550001", "--text", "hi <b>there</b>").code == 0
    r = cli("-t", "entrylab", "outbox", "send", "message_bot", "--chat", "5550002", "--text", "-", input="from stdin\n")
    assert r.code == 0
    r = cli("scheduler", "tick", "--json")
    assert r.code == 0 and r.json()["sent"] == 1 and r.json()["failed"] == 1
    failed = cli("-t", "entrylab", "outbox", "list", "--status", "failed", "--json").json()
    assert len(failed) == 1 and "blocked" in failed[0]["error"]
    fake_tg.unblock(5550001)
    r = cli("-t", "entrylab", "outbox", "retry", "--failed")
    assert r.code == 0 and "1 message(s) queued again" in r.stderr
    assert cli("scheduler", "tick", "--json").json()["sent"] == 1
    assert cli("-t", "entrylab", "outbox", "stats", "--json").json()["sent"] == 2
    r = cli("-t", "entrylab", "outbox", "retry", str(failed[0]["id"]))
    assert r.code == 2 and "is sent" in r.stderr
    r = cli("-t", "entrylab", "outbox", "show", "999")
    assert r.code == 2 and "No outbox message 999" in r.stderr


def test_dry_run_tick_prints_what_would_be_sent(tmp_path):
    env = base_env(tmp_path)
    cli = Cli(env, tmp_path)
    cli("tenants", "add", "demo")
    cli("-t", "demo", "connections", "set", "message_bot", "--token", "1234567:AAFdemodemodemodemodemodemodemodemo", "--no-validate")
    cli("-t", "demo", "outbox", "send", "message_bot", "--chat", "5550001", "--text", "Hi <b>Sam</b>")
    r = cli("scheduler", "tick", env={"PROMOSTACK_DRY_RUN": "1"})
    assert r.code == 0
    assert "dry run · message_bot → 5550001" in r.stdout and "Hi <b>Sam</b>" in r.stdout
    # one summary line per step, each stamped with an ISO UTC time for the cron log
    lines = [line for line in r.stderr.splitlines() if " tick " in line]
    assert [line.split(" ")[2] for line in lines] == ["webhooks.updates:", "billing.sweep:", "journeys.timers:",
                                                        "journeys.inactive:", "crosspromo.run:", "outbox.delivery:",
                                                        "journeys.blocked:"]
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ tick ", line) for line in lines)
    assert "1 dry-run" in lines[5]
    assert cli("-t", "demo", "outbox", "list", "--json").json()[0]["status"] == "dry_run"


def test_dotenv_in_working_directory_is_read_and_environment_wins(tmp_path):
    (tmp_path / ".env").write_text("PROMOSTACK_TELEGRAM_API_URL=http://127.0.0.1:9/\nPROMOSTACK_TENANT=from-dotenv\n")
    cli = Cli(base_env(tmp_path), tmp_path)
    shown = cli("config", "show", "--json").json()
    assert shown["telegram_api_url"] == "http://127.0.0.1:9" and shown["tenant"] == "from-dotenv"
    shown = cli("config", "show", "--json", env={"PROMOSTACK_TENANT": "from-env"}).json()
    assert shown["tenant"] == "from-env"


def test_sqlite_database_and_its_wal_files_are_private(tmp_path):
    """The database holds encrypted tokens and users' answers: owner-only, like the key file."""
    import stat

    env = base_env(tmp_path)
    db_path = tmp_path / "private" / "promostack.db"
    env["PROMOSTACK_DATABASE_URL"] = f"sqlite:///{db_path}"
    cli = Cli(env, tmp_path)
    assert cli("db", "upgrade").code == 0
    assert cli("tenants", "add", "entrylab").code == 0
    import sqlite3

    conn = sqlite3.connect(db_path)  # keep it open so the -wal and -shm files exist
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS probe (x)")
    conn.execute("INSERT INTO probe VALUES (1)")
    conn.commit()
    try:
        files = [db_path, db_path.with_name(db_path.name + "-wal"), db_path.with_name(db_path.name + "-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {f.name: "0o600" for f in files}
    finally:
        conn.close()
