"""``promostack crosspromo``: the FREE channel's schedule, win copies, the job queue and attribution."""

from enum import StrEnum
from pathlib import Path
from typing import List, Optional

import typer

from promostack_cli import context as ctx
from promostack_cli.crosspromo.domain import DOMAIN
from promostack_cli.crosspromo.states import JobStatus

app = typer.Typer(help=DOMAIN.commands[0].help, no_args_is_help=True)
settings_app = typer.Typer(help="The tenant's cross-promo settings.", no_args_is_help=True)
app.add_typer(settings_app, name="settings")

RUN_BUDGET = 300.0  # crosspromo run: seconds of building before it stops starting new jobs
COUNTS = ("enqueued", "queued", "retrying", "failed", "cancelled", "completed")
NOW_HELP = "Pretend it is this time (ISO, e.g. 2026-12-02T09:00Z; naive is UTC): replays, tests"
CANDLES_HELP = "Offline: read gold candles from a CSV instead of Twelve Data (datetime, open, high, low, close)"


class Kind(StrEnum):
    morning_news = "morning_news"
    teaser = "teaser"
    win = "win"


class WinLevel(StrEnum):
    tp1 = "tp1"
    tp2 = "tp2"
    tp3 = "tp3"


def _now(value: Optional[str]):
    from promostack_cli.core.clock import utcnow
    from promostack_cli.forex.cli_common import parse_time

    return parse_time(value, "--now") or utcnow()


def _market_for(candles: Optional[Path]):
    from promostack_cli.crosspromo.service import file_market, live_markets

    return file_market(candles, note=ctx.info) if candles else live_markets(ctx.settings())


@settings_app.command("show")
def settings_show(json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Every setting with its value (defaults included). Example: promostack -t entrylab crosspromo settings show"""
    from promostack_cli.crosspromo.config import load

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        values = load(session, tenant.id).as_dict()
    if ctx.want_json(json_):
        ctx.emit_json(values)
        return
    ctx.emit_table(f"Cross promo: {tenant.slug}", ["setting", "value"],
                   [[k, _shown(k, v)] for k, v in values.items()])


def _shown(key: str, value) -> str:
    if isinstance(value, list):
        return ", ".join(value) or "(none)"
    if value is None:
        return "(the signal bot's, from connections)" if key.endswith("_channel") else "(not set)"
    return str(value)


@settings_app.command("set")
def settings_set(
    enabled: Optional[bool] = typer.Option(None, "--enabled/--disabled", help="Post on schedule (needs --cta-url)"),
    vip_channel: Optional[str] = typer.Option(None, "--vip-channel", help="VIP channel (-100… or @name); default: the signal bot's"),
    free_channel: Optional[str] = typer.Option(None, "--free-channel", help="FREE channel; default: the signal bot's"),
    cta_url: Optional[str] = typer.Option(None, "--cta-url", help="https:// call to action; the message bot's t.me deep link gets a code per post"),
    cta_text: Optional[str] = typer.Option(None, "--cta-text", help="The button's label"),
    morning_time: Optional[str] = typer.Option(None, "--morning-time", help="Morning news, local time (09:00)"),
    teaser_time: Optional[str] = typer.Option(None, "--teaser-time", help="VIP teaser, local time (10:00)"),
    timezone: Optional[str] = typer.Option(None, "--timezone", help="IANA time zone of the times (Europe/London)"),
    days: Optional[str] = typer.Option(None, "--days", help="Days to post: mon-fri, mon,wed,fri, daily"),
    max_wins_per_day: Optional[int] = typer.Option(None, "--max-wins-per-day", help="Win copies per local day"),
    win_level: Optional[WinLevel] = typer.Option(None, "--win-level", help="Copy a VIP signal once it reaches this TP"),
    win_delay: Optional[str] = typer.Option(None, "--win-delay", help="Wait this long after the TP (30m)"),
    feed: Optional[List[str]] = typer.Option(None, "--feed", help="RSS/Atom feed for headlines (repeatable; replaces the list)"),
    no_feeds: bool = typer.Option(False, "--no-feeds", help="Remove every feed"),
    headlines: Optional[int] = typer.Option(None, "--headlines", help="Headlines in the morning post (0-10)"),
    disclaimer: Optional[str] = typer.Option(None, "--disclaimer", help="Risk disclaimer on every post"),
    late_window: Optional[str] = typer.Option(None, "--late-window", help="A late run still posts within this (2h)"),
    templates_dir: Optional[str] = typer.Option(None, "--templates-dir", help="Directory of templates that replace the built-in ones"),
) -> None:
    """Change some settings; the others keep their values. Everything is checked before anything is written.

    Example: promostack -t entrylab crosspromo settings set --enabled --cta-url https://t.me/entrylab_bot?start=vip --timezone Europe/London
    """
    from promostack_cli.core.clock import utcnow
    from promostack_cli.core.errors import ValidationError
    from promostack_cli.crosspromo.config import update

    given = {"enabled": enabled, "vip_channel": vip_channel, "free_channel": free_channel, "cta_url": cta_url,
             "cta_text": cta_text, "morning_time": morning_time, "teaser_time": teaser_time, "timezone": timezone,
             "days": days, "max_wins_per_day": max_wins_per_day, "win_level": win_level.value if win_level else None,
             "win_delay": win_delay, "headlines": headlines, "disclaimer": disclaimer, "late_window": late_window,
             "templates_dir": templates_dir}
    changes = {k: v for k, v in given.items() if v is not None}
    if feed and no_feeds:
        raise ValidationError("Give --feed or --no-feeds, not both.")
    if feed or no_feeds:
        changes["feeds"] = list(feed or [])
    if not changes:
        raise ValidationError("Nothing to set: give at least one option (see --help).")
    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    now = utcnow()
    with db.transaction() as session:
        from promostack_cli.crosspromo.config import load

        if changes.get("enabled") and not load(session, tenant.id).enabled:
            changes["enabled_at"] = now.isoformat()
        update(session, tenant.id, changes, now)
    shown = ", ".join(f"{k} = {v}" for k, v in changes.items() if k != "enabled_at")
    ctx.success(f"Cross promo for {tenant.slug}: {shown}.")


@app.command("run")
def run(
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be posted; change nothing"),
    candles: Optional[Path] = typer.Option(None, "--candles", help=CANDLES_HELP),
) -> None:
    """Enqueue the due daily posts and win copies, build and queue due jobs, settle delivered ones.

    Idempotent; cron runs it every minute (scheduler tick runs it too). Example: promostack crosspromo run
    """
    from jobs.runner import run as run_steps
    from jobs.steps import TickContext
    from jobs.tick import make_steps
    from promostack_cli.core.clock import iso_now, shifted
    from promostack_cli.core.domain import TICK
    from promostack_cli.crosspromo.service import summary_line

    db = ctx.open_db()
    tenant = ctx.current_tenant(db, required=False)
    at = _now(now)
    tenant_id = tenant.id if tenant else None
    if dry_run:
        from promostack_cli.crosspromo.preview import plan

        planned = plan(db, ctx.settings(), at, market_for=_market_for(candles), tenant_id=tenant_id)
        for p in planned:
            head = f"── {p.job.kind} · {p.job.local_date} · due {p.job.scheduled_at:%Y-%m-%d %H:%M} UTC"
            if p.post is None:
                ctx.err.print(f"{head} · not posted: {p.skipped}", style="yellow", markup=False)
                continue
            ctx.err.print(head + " (dry run)", style="cyan", markup=False)
            ctx.out.print(p.post.text, markup=False, highlight=False)
            if p.post.button:
                ctx.out.print(f"[{p.post.button['text']}] → {p.post.button['url']}", markup=False, highlight=False)
        ctx.info(f"Dry run: {sum(p.post is not None for p in planned)} post(s) would be queued; nothing changed.")
        return
    context = TickContext(db=db, box=None, settings=ctx.settings(), tenant_id=tenant_id,
                          clock=shifted(at) if now else None, options={"market_for": _market_for(candles)})
    report = run_steps(context, lambda: make_steps(context, TICK, names={"crosspromo.run"}), budget=RUN_BUDGET)
    counts = report.as_dict()
    for warning in report.warnings:
        ctx.warn(warning)
    if ctx.want_json():
        ctx.emit_json({**{k: counts.get(k, 0) for k in COUNTS}, "warnings": report.warnings})
    else:
        ctx.out.print(f"{iso_now()} crosspromo: {summary_line(counts)}", markup=False, highlight=False)
    if report.errors:
        raise ctx.fail(report.errors[0] if len(report.errors) == 1 else "; ".join(report.errors))


@app.command("schedule")
def schedule(
    days: int = typer.Option(7, "--days", min=1, max=60, help="How many days ahead"),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Upcoming daily posts with their local and UTC times. Example: promostack -t entrylab crosspromo schedule --days 14"""
    from datetime import timedelta

    from promostack_cli.crosspromo.config import load
    from promostack_cli.crosspromo.schedule import slots

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    at = _now(now)
    with db.session() as session:
        settings = load(session, tenant.id)
    upcoming = slots(settings, at, at + timedelta(days=days))
    rows = [{"kind": s.kind, "local": s.local_time.isoformat(), "utc": s.run_at.isoformat(), "key": s.key} for s in upcoming]
    if ctx.want_json(json_):
        ctx.emit_json(rows)
        return
    if not settings.enabled:
        ctx.warn(f"cross promo is disabled for {tenant.slug}: nothing will post until: crosspromo settings set --enabled")
    ctx.emit_table(f"Cross promo schedule: {tenant.slug} ({settings.timezone}, {settings.days})",
                   ["post", "local time", "UTC"],
                   [[s.kind, f"{s.local_time:%a %d %b %H:%M %Z}", f"{s.run_at:%Y-%m-%d %H:%M}"] for s in upcoming],
                   empty="No posts in that period (check --days and the settings).")


def _one_post(kind: Kind, signal: Optional[int], at, candles):
    """(post, tenant) of ``kind`` as it would be built at ``at``."""
    from promostack_cli.core.errors import ValidationError
    from promostack_cli.crosspromo import service
    from promostack_cli.crosspromo.config import load
    from promostack_cli.crosspromo.models import CrossPromoJob
    from promostack_cli.crosspromo.preview import latest_win
    from promostack_cli.runtime import TenantRuntime

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        settings = load(session, tenant.id)
        payload = {}
        if kind == Kind.win:
            signal_id = signal or latest_win(session, tenant.id, settings.win_stage)
            if signal_id is None:
                raise ValidationError(f"No VIP signal has reached {settings.win_level} yet; pass --signal ID.")
            payload = {"signal_id": signal_id, "level": settings.win_stage}
    job = CrossPromoJob(tenant_id=tenant.id, kind=kind.value, unique_key="preview", payload=payload,
                        scheduled_at=at, run_at=at, local_date=at.astimezone(settings.zone).date().isoformat())
    runtime = TenantRuntime(tenant.id, db=db, settings=ctx.settings())
    try:
        post = service.build(job, settings, runtime, _market_for(candles), at)
    except service.Skip as exc:
        raise ValidationError(str(exc)) from None
    finally:
        runtime.close()
    if settings.cta_url:
        from promostack_cli.crosspromo import posts

        post.button = posts.button(settings, None, None)
    return post, tenant, settings


@app.command("preview")
def preview(
    kind: Kind = typer.Option(..., "--kind", help="Which post"),
    signal: Optional[int] = typer.Option(None, "--signal", help="For --kind win: the signal (default: the latest win)"),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
    candles: Optional[Path] = typer.Option(None, "--candles", help=CANDLES_HELP),
) -> None:
    """Render a post without queueing it. Example: promostack -t entrylab crosspromo preview --kind teaser"""
    post, _, _ = _one_post(kind, signal, _now(now), candles)
    for warning in post.warnings:
        ctx.warn(warning)
    ctx.out.print(post.text, markup=False, highlight=False)
    if post.button:
        ctx.out.print(f"[{post.button['text']}] → {post.button['url']}", markup=False, highlight=False)


@app.command("test")
def test(
    kind: Kind = typer.Option(..., "--kind", help="Which post"),
    signal: Optional[int] = typer.Option(None, "--signal", help="For --kind win: the signal (default: the latest win)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print it; queue nothing"),
    candles: Optional[Path] = typer.Option(None, "--candles", help=CANDLES_HELP),
) -> None:
    """Queue one post for the FREE channel now (outside the schedule), to check how it looks there.

    Example: promostack -t entrylab crosspromo test --kind morning_news
    """
    from promostack_cli.core.clock import utcnow
    from promostack_cli.crosspromo.preview import queue_test_post

    at = utcnow()
    post, tenant, settings = _one_post(kind, signal, at, candles)
    if dry_run:
        ctx.out.print(post.text, markup=False, highlight=False)
        ctx.info("Dry run: nothing queued.")
        return
    db = ctx.open_db()
    with db.transaction() as session:
        message_id, channel = queue_test_post(session, tenant.id, settings, post, at)
    ctx.success(f"Queued message {message_id} for signal_bot → {channel}. Deliver with: promostack scheduler tick")


@app.command("jobs")
def jobs(
    status: Optional[List[JobStatus]] = typer.Option(None, "--status", "-s", help="Only these statuses (repeatable)"),
    limit: int = typer.Option(50, "--limit", min=1, max=5000, help="Newest N jobs"),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """The job queue, newest first. Example: promostack -t entrylab crosspromo jobs --status failed"""
    from promostack_cli.crosspromo.queue import describe, list_jobs

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        rows = [describe(j) for j in list_jobs(session, tenant.id, statuses=[s.value for s in status or []], limit=limit)]
    if ctx.want_json(json_):
        ctx.emit_json(rows)
        return
    ctx.emit_table(f"Cross-promo jobs: {tenant.slug}", ["id", "kind", "local date", "due (UTC)", "status", "tries", "message", "error"],
                   [[r["id"], r["kind"], r["local_date"], r["scheduled_at"][:16].replace("T", " "), r["status"],
                     r["attempts"], r["outbox_id"] or "", r["last_error"] or ""] for r in rows],
                   empty="No jobs yet.")


@app.command("retry")
def retry(job_id: int = typer.Argument(..., help="A failed or cancelled job")) -> None:
    """Run a failed or cancelled job again now (its failed message is retried). Example: promostack -t entrylab crosspromo retry 12"""
    from promostack_cli.core.clock import utcnow
    from promostack_cli.crosspromo.queue import retry as retry_job

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.transaction() as session:
        job = retry_job(session, tenant.id, job_id, utcnow())
        status = job.status
    ctx.success(f"Job {job_id} is {status} again; the next crosspromo run / scheduler tick picks it up.")


@app.command("cancel")
def cancel(job_id: int = typer.Argument(..., help="A pending, queued or failed job")) -> None:
    """Cancel a job (and its message, if not sent yet). Example: promostack -t entrylab crosspromo cancel 12"""
    from promostack_cli.core.clock import utcnow
    from promostack_cli.crosspromo.queue import cancel as cancel_job

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.transaction() as session:
        cancel_job(session, tenant.id, job_id, utcnow())
    ctx.success(f"Job {job_id} cancelled.")


@app.command("stats")
def stats(
    days: int = typer.Option(30, "--days", min=1, max=3650, help="Posts of the last N days"),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Per post kind and per post: posts sent, /starts through their link, paid conversions.

    Example: promostack -t entrylab crosspromo stats --days 30
    """
    from promostack_cli.attribution import conversions
    from promostack_cli.crosspromo.stats import by_kind, post_figures

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)

    with db.session() as session:
        figures = post_figures(session, tenant.id, _now(now), days, conversions=conversions)
    kinds = by_kind(figures)
    if ctx.want_json(json_):
        ctx.emit_json({"by_kind": kinds, "posts": [f.as_dict() for f in figures]})
        return
    dash = lambda v: "—" if v is None else v  # noqa: E731
    ctx.emit_table(f"Cross promo, last {days} days: {tenant.slug}", ["kind", "posts", "sent", "/starts", "paid"],
                   [[k["kind"], k["posts"], k["sent"], k["starts"], dash(k["conversions"])] for k in kinds],
                   empty="No cross-promo posts in that period.")
    if figures:
        ctx.emit_table("Per post", ["post", "kind", "code", "queued (UTC)", "status", "/starts", "paid"],
                       [[f.post_id, f.kind, f.ref, f"{f.created_at:%Y-%m-%d %H:%M}", f.status, f.starts,
                         dash(f.conversions)] for f in figures])
