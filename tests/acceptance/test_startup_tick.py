"""The idle ``scheduler tick`` cron starts every minute: the same CLI path as every command, answered
by the domains' due checks (SQLAlchemy Core) before any model, sender, HTTP client or rich console
loads, whatever the environment (a tenant, a ``.env`` file, ``--json``); work found runs the steps."""

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete
from sqlmodel import select

from tests.acceptance.conftest import base_env

NOT_ON_THE_IDLE_PATH = ("pydantic", "pydantic_settings", "sqlmodel", "sqlalchemy.orm", "httpx", "rich",
                        "cryptography", "jinja2", "promostack_cli.models", "promostack_cli.outbox.sender")


def _tick(env: dict, cwd, *args: str) -> tuple[int, list[str], set[str]]:
    """(exit code, stderr lines without their time stamps, modules of NOT_ON_THE_IDLE_PATH loaded)."""
    code = ("import sys\n"
            f"sys.argv = ['promostack', *{list(args)!r}]\n"
            "from promostack_cli.main import run\n"
            "try:\n    run()\nexcept SystemExit as exc:\n    code = exc.code or 0\nelse:\n    code = 0\n"
            f"print('LOADED=' + ','.join(m for m in {NOT_ON_THE_IDLE_PATH!r} if m in sys.modules), file=sys.__stderr__)\n"
            "print('CODE=' + str(code), file=sys.__stderr__)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd)
    lines = proc.stderr.splitlines()
    loaded = {m for m in lines[-2].removeprefix("LOADED=").split(",") if m}
    unstamped = [re.sub(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", "", line) for line in lines[:-2]]
    return int(lines[-1].removeprefix("CODE=")), unstamped, loaded


def _migrated(tmp_path) -> dict:
    env = base_env(tmp_path)
    subprocess.run([sys.executable, "-m", "promostack_cli", "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "promostack_cli", "tenants", "add", "acme"], env=env, check=True,
                   capture_output=True)
    return env


def test_the_idle_tick_loads_no_model_sender_or_console_in_any_environment(tmp_path):
    env = _migrated(tmp_path)
    plain, dotenv = tmp_path / "plain", tmp_path / "dotenv"
    plain.mkdir()
    dotenv.mkdir()
    (dotenv / ".env").write_text("PROMOSTACK_LOG_LEVEL=warning\nPROMOSTACK_SEND_WORKERS=8\n")
    runs = {
        "bare": (env, plain, ()),
        "PROMOSTACK_TENANT": ({**env, "PROMOSTACK_TENANT": "acme"}, plain, ()),
        ".env": (env, dotenv, ()),
        "--tenant": (env, plain, ("--tenant", "acme")),
        "--json": (env, plain, ("--json",)),
    }
    seen = {}
    for label, (environ, cwd, options) in runs.items():
        code, lines, loaded = _tick(environ, cwd, *options, "scheduler", "tick", "--for", "3s", "--loop", "1s")
        assert code == 0 and loaded == set(), (label, lines, loaded)
        seen[label] = [re.sub(r" in \d+\.\ds$", "", line) for line in lines]
    assert all(lines == seen["bare"] for lines in seen.values()), seen
    # one line per step (its counts summed over the three ticks), the order the domains declare
    assert [line.split(":")[0] for line in seen["bare"]] == [
        "tick webhooks.updates", "tick billing.sweep", "tick journeys.timers", "tick journeys.inactive",
        "tick crosspromo.run", "tick outbox.delivery", "tick journeys.blocked"]
    assert seen["bare"][0] == "tick webhooks.updates: 0 stored Telegram update(s) processed"


def test_bad_command_lines_are_refused_the_usual_way(tmp_path):
    env = _migrated(tmp_path)
    for args, expect in ((["--for", "nonsense"], 2), (["--loop", "0s"], 2), (["--for"], 2), (["--bogus"], 2),
                         (["--help"], 0), (["--dry-run", "--for", "1s"], 0)):
        code, lines, _loaded = _tick(env, tmp_path, "scheduler", "tick", *args)
        assert code == expect, (args, code, lines)
    code, lines, _ = _tick({**env, "PROMOSTACK_SEND_WORKERS": "0"}, tmp_path, "scheduler", "tick", "--for", "1s")
    assert code == 2 and lines == ["Error: Invalid setting PROMOSTACK_SEND_WORKERS: must be at least 1 (got '0')"]


def test_a_tick_that_finds_work_later_in_its_loop_does_it(cli, db_url, tmp_path):
    """Idle at first (no ORM, no sender), then a journey message comes due: the loop's next tick sends it."""
    assert cli("tenants", "add", "entrylab").code == 0
    from tests.conftest import MESSAGE_TOKEN

    assert cli("-t", "entrylab", "connections", "set", "message_bot", "--no-validate", "--token", MESSAGE_TOKEN).code == 0
    from promostack_cli.core.clock import utcnow
    from promostack_cli.models import open_database
    from promostack_cli.outbox.models import OutboxMessage
    from promostack_cli.tenants.models import Tenant

    db = open_database(db_url)
    with db.transaction() as s:
        tid = s.exec(select(Tenant).where(Tenant.slug == "entrylab")).one().id
        s.add(OutboxMessage(tenant_id=tid, bot_role="message_bot", chat_id="700", chat_kind="private",
                            payload={"text": "later"}, not_before=utcnow() + timedelta(seconds=2.5)))
    r = cli("scheduler", "tick", "--loop", "1s", "--for", "4s")
    assert r.code == 0, r.stderr
    assert "tick outbox.delivery: 1 sent" in r.stderr
    with db.session() as s:
        assert s.exec(select(OutboxMessage)).one().status == "sent"


@pytest.fixture
def due(db, tenant_id):
    from jobs.tick import nothing_due
    from promostack_cli.core.clock import utcnow

    def check(deadline_in: float = 60.0) -> bool:
        now = utcnow()
        return not nothing_due(db, "tick", now, now + timedelta(seconds=deadline_in))

    return check


def test_each_kind_of_due_work_is_seen(db, tenant_id, due):
    from promostack_cli.core.clock import utcnow
    from promostack_cli.journeys.states import ACTIVE, WAITING_DELAY
    from promostack_cli.journeys.models import Journey, JourneySession
    from promostack_cli.outbox.models import ChatState, OutboxMessage
    from promostack_cli.webhooks.models import TelegramUpdate

    now = utcnow()
    assert not due()

    def added(*rows):
        with db.transaction() as s:
            for row in rows:
                s.add(row)

    def cleared(*models):
        with db.transaction() as s:
            for model in models:
                s.execute(delete(model))

    added(TelegramUpdate(tenant_id=tenant_id, bot_id=1, bot_role="message_bot", kind="message", status="processed"))
    assert not due()
    added(TelegramUpdate(tenant_id=tenant_id, bot_id=1, bot_role="message_bot", kind="message", status="received"))
    assert due()
    cleared(TelegramUpdate)

    msg = dict(tenant_id=tenant_id, bot_role="message_bot", chat_id="1", chat_kind="private")
    added(OutboxMessage(**msg, not_before=now + timedelta(minutes=5)), OutboxMessage(**msg, status="sent"))
    assert not due(60) and due(400)  # due before the tick's deadline, or not
    added(OutboxMessage(**msg, status="sending", not_before=now))
    assert due(1)
    cleared(OutboxMessage)

    added(Journey(tenant_id=tenant_id, slug="j", name="j", status="active", content_hash="h",
                  definition={"inactivity_timeout": "1h"}))
    with db.session() as s:
        jid = s.exec(select(Journey)).one().id
    live = dict(tenant_id=tenant_id, journey_id=jid, journey_slug="j", chat_id="9")
    added(JourneySession(**live, status=WAITING_DELAY, wake_at=now + timedelta(minutes=5), last_activity_at=now))
    assert not due()
    cleared(JourneySession)
    added(JourneySession(**live, status=WAITING_DELAY, wake_at=now - timedelta(seconds=1), last_activity_at=now))
    assert due()
    cleared(JourneySession)
    added(JourneySession(**live, status=ACTIVE, last_activity_at=now - timedelta(hours=2)))
    assert due()  # idle longer than the journey's inactivity_timeout
    cleared(JourneySession)
    added(JourneySession(**live, status=ACTIVE, last_activity_at=now),
          ChatState(tenant_id=tenant_id, bot_role="message_bot", chat_id="9", blocked_at=now))
    assert due()  # a live session in a chat the outbox marked blocked
    cleared(JourneySession, ChatState)


def test_cross_promo_work_is_seen(db, tenant_id):
    """A tenant with cross promo on has work when a daily post or a win copy is due and not yet a
    job, when a job is due or its lease expired, and when a queued job's message was delivered."""
    from promostack_cli.crosspromo import config
    from promostack_cli.crosspromo.models import CrossPromoJob
    from promostack_cli.forex.models import ForexSignal, ForexSignalEvent
    from promostack_cli.outbox.models import OutboxMessage
    from sqlalchemy import update

    from jobs.tick import nothing_due

    now = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)

    def due() -> bool:
        return not nothing_due(db, "tick", now, now + timedelta(seconds=60))

    J = CrossPromoJob
    todays = J.unique_key == f"morning_news:{now.date()}"
    with db.transaction() as s:   # "daily" at 15:00 UTC: nothing due today yet
        later = "15:00"
        config.update(s, tenant_id, {"enabled": True, "cta_url": "https://t.me/x_bot", "days": "daily",
                                     "morning_time": later, "teaser_time": later,
                                     "enabled_at": (now - timedelta(days=3)).isoformat()}, now)
    yesterday = (now - timedelta(days=1)).date()
    with db.transaction() as s:  # yesterday's posts were made (or recorded as missed)
        for key in (f"morning_news:{yesterday}", f"teaser:{yesterday}"):
            s.add(CrossPromoJob(tenant_id=tenant_id, kind=key.split(":")[0], unique_key=key, scheduled_at=now,
                                run_at=now, local_date=str(yesterday), status="completed"))
    two_days = (now - timedelta(days=2)).date()
    with db.transaction() as s:
        for key in (f"morning_news:{two_days}", f"teaser:{two_days}"):
            s.add(CrossPromoJob(tenant_id=tenant_id, kind=key.split(":")[0], unique_key=key, scheduled_at=now,
                                run_at=now, local_date=str(two_days), status="cancelled"))
    assert not due()
    with db.transaction() as s:
        config.update(s, tenant_id, {"morning_time": "11:55"}, now)
    assert due()  # today's morning post is due and not a job yet
    with db.transaction() as s:
        s.add(CrossPromoJob(tenant_id=tenant_id, kind="morning_news", unique_key=f"morning_news:{now.date()}",
                            scheduled_at=now, run_at=now + timedelta(minutes=1), local_date=str(now.date())))
    assert not due()  # a job now, due in a minute
    with db.transaction() as s:
        s.execute(update(J).where(todays).values(status="claimed", lease_expires_at=now - timedelta(seconds=1)))
    assert due()  # its worker died
    with db.transaction() as s:
        msg = OutboxMessage(tenant_id=tenant_id, bot_role="signal_bot", chat_id="@free", chat_kind="channel",
                            status="pending", not_before=now + timedelta(hours=1))
        s.add(msg)
        s.flush()
        s.execute(update(J).where(todays).values(status="queued", lease_expires_at=None, outbox_id=msg.id))
    assert not due()  # queued, its message not sent yet
    with db.transaction() as s:
        s.execute(update(OutboxMessage).values(status="sent"))
    assert due()  # sent: the job can be settled
    with db.transaction() as s:
        s.execute(update(J).where(todays).values(status="completed"))
        sig = ForexSignal(tenant_id=tenant_id, strategy="s", symbol="XAU/USD", timeframe="15min", direction="BUY",
                          bar_ts=now, opened_at=now, entry=1, initial_stop=0.5, stop=0.5, targets=[2, 3, 4],
                          close_percents=[50, 30, 20], pip_size=0.1, expires_at=now, monitored_until=now)
        s.add(sig)
        s.flush()
        s.add(ForexSignalEvent(tenant_id=tenant_id, signal_id=sig.id, kind="tp1", at=now - timedelta(minutes=10)))
    assert not due()  # the copy waits for win_delay (30m)
    with db.transaction() as s:
        s.execute(update(ForexSignalEvent).values(at=now - timedelta(minutes=31)))
    assert due()


def test_billing_sweep_work_is_seen(db, tenant_id, due):
    """A member whose review time passed, or a linked, paying user with no access, is work."""
    from sqlalchemy import update

    from promostack_cli.billing.models import BillingMember, TelegramSubscription
    from promostack_cli.core.clock import utcnow

    now = utcnow()
    with db.transaction() as s:
        s.add(BillingMember(tenant_id=tenant_id, telegram_user_id=5550101, access="granted",
                            review_at=now + timedelta(days=3)))
        s.add(TelegramSubscription(tenant_id=tenant_id, telegram_user_id=5550101, status="active",
                                   current_period_end=now + timedelta(days=3)))
    assert not due()
    with db.transaction() as s:
        s.execute(update(BillingMember).values(review_at=now - timedelta(seconds=1)))
    assert due()  # the paid period (or grace) ended: access is checked again
    with db.transaction() as s:
        s.execute(update(BillingMember).values(review_at=None, access="none"))
    assert due()  # paying and linked, but no access: the sweep grants it


def test_the_core_checks_name_real_columns_and_statuses():
    """Every light table clause of a Core query (the idle checks, the tenant look-up, the listings)
    names real columns of the real tables, with their types; the statuses they spell are the models'."""
    import importlib
    import pkgutil

    import promostack_cli
    from sqlalchemy import JSON, DateTime
    from sqlalchemy.sql.expression import TableClause

    from promostack_cli.core.types import UTCDateTime

    from promostack_cli.billing import due as billing_due
    from promostack_cli.billing.models import KEEP_ACCESS
    from promostack_cli.core.domain import load
    from promostack_cli.crosspromo import due as crosspromo_due
    from promostack_cli.crosspromo.models import JobStatus
    from promostack_cli.domains import domains
    from promostack_cli.models import metadata
    from promostack_cli.outbox import due as outbox_due
    from promostack_cli.outbox.models import OutboxStatus
    from promostack_cli.tenants import lookup
    from promostack_cli.webhooks import due as webhooks_due
    from promostack_cli.webhooks.inbox import RECEIVED

    modules = {load(step.due.split(":")[0]) for d in domains() for step in d.steps if step.due} | {lookup}
    modules |= {importlib.import_module(m.name) for m in pkgutil.walk_packages(promostack_cli.__path__, "promostack_cli.")
                if m.name.rsplit(".", 1)[-1] in ("due", "lookup", "listing")}
    lights = {(m.__name__, name): value for m in modules for name, value in vars(m).items()
              if isinstance(value, TableClause) and not hasattr(value, "metadata")}
    assert len(lights) >= 18, sorted(lights)
    for where, light in lights.items():
        real = metadata.tables[light.name]
        for col in light.c:
            assert col.name in real.c, (where, col.name)
            real_type = real.c[col.name].type
            if isinstance(col.type, (DateTime, UTCDateTime)):  # aware UTC both ways (the models: sqlmodel's)
                assert isinstance(col.type, UTCDateTime), (where, col.name, "light clauses read aware UTC times")
                assert isinstance(getattr(real_type, "impl", real_type), DateTime), (where, col.name)
                assert real_type.impl.timezone is True, (where, col.name)
            if isinstance(col.type, JSON):
                assert isinstance(real_type, JSON), (where, col.name)
    assert billing_due.KEEP_ACCESS == KEEP_ACCESS
    assert webhooks_due.RECEIVED == RECEIVED
    assert (outbox_due.PENDING, outbox_due.SENDING) == (OutboxStatus.pending, OutboxStatus.sending)
    assert set(crosspromo_due.FINAL) == set(OutboxStatus.final())
    assert JobStatus is crosspromo_due.JobStatus
