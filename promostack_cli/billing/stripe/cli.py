"""Stripe's own ``promostack billing`` commands, registered by :mod:`promostack_cli.billing.cli` (in ``--help``'s
order): ``sync``, ``events``, ``replay``, ``inject``, ``checkout-link``. Import-light: each imports what it
uses when it runs.
"""

from __future__ import annotations

from typing import Optional

import typer

from promostack_cli import context as ctx


def _now():
    from promostack_cli.core.clock import utcnow

    return utcnow()


def _config(session, tenant):
    from promostack_cli.billing.config import require

    return require(session, tenant.id, ctx.secret_box(), tenant.slug, ctx.settings().public_url)


def sync(dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; change nothing"),
         json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Repair local state from Stripe (subscriptions, undelivered events of the last 30 days) and report
    channel drift (paid but not in the channel, in the channel but not paid). Safe hourly from cron.
    """
    from promostack_cli.billing.stripe import sync as do_sync
    from promostack_cli.billing.stripe.api import StripeApi
    from promostack_cli.core.errors import PromoStackError
    from promostack_cli.runtime import TenantRuntime

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        cfg = _config(session, tenant)
    runtime = TenantRuntime(tenant.id, settings=ctx.settings(), db=db, box=ctx.secret_box())
    try:
        try:
            tg = runtime.telegram("signal_bot")
        except PromoStackError:
            tg = None
        report = do_sync.run(db, cfg, StripeApi(cfg.api_key, ctx.settings().stripe_api_url), tg, _now(),
                             dry_run=dry_run)
    finally:
        runtime.close()
    if ctx.want_json(json_):
        ctx.emit_json(report.as_dict())
        return
    verb = "would change" if dry_run else "changed"
    ctx.emit_table(f"Subscriptions {verb}", ["subscription", "telegram", "from", "status", "period end"],
                   [(c["subscription"], c["telegram_user_id"], c["from"], c["status"], c["period_end"])
                    for c in report.changed], empty=f"No subscription {verb} ({report.subscriptions_seen} checked).")
    if report.events_replayed:
        ctx.emit_table("Undelivered events applied", ["event", "type", "status"],
                       [(e["event"], e["type"], e["status"]) for e in report.events_replayed])
    for a in report.access:
        ctx.info(f"access {a['access']}: {a['telegram_user_id']}" + (" (dry run)" if dry_run else ""))
    ctx.emit_table("Drift", ["telegram", "drift", "channel status"],
                   [(d["telegram_user_id"], d["drift"], d["channel_status"]) for d in report.drift],
                   empty="No drift between payments and channel membership.")
    for note in report.notes:
        ctx.warn(note)


def events(failed: bool = typer.Option(False, "--failed", help="Only events whose handling failed"),
           limit: int = typer.Option(50, "--limit", min=1, max=1000, help="At most this many, newest first"),
           json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """The Stripe events received, newest first."""
    from promostack_cli.billing.stripe.service import list_events
    from promostack_cli.core.clock import from_epoch

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        rows = [{"event": e.event_id, "type": e.type, "created": from_epoch(e.created).isoformat(), "source": e.source,
                 "status": e.status, "result": e.result, "error": e.error}
                for e in list_events(session, tenant.id, failed=failed, limit=limit)]
    if ctx.want_json(json_):
        ctx.emit_json(rows)
        return
    ctx.emit_table(None, ["event", "type", "created", "source", "status", "result"],
                   [(r["event"], r["type"], r["created"], r["source"], r["status"], r["error"] or r["result"])
                    for r in rows], empty="No failed events." if failed else "No events yet.")


def replay(event_id: str = typer.Argument(..., help="evt_… (billing events lists them)"),
           json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Apply a stored event again, e.g. after fixing what made it fail. Safe: it cannot move state backwards."""
    from promostack_cli.billing.stripe.service import replay as do_replay

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.transaction() as session:
        done = do_replay(session, _config(session, tenant), event_id, _now())
    if ctx.want_json(json_):
        ctx.emit_json({"event": event_id, "status": done.status, "result": done.result, "access": done.access})
    if done.status == "failed":
        raise ctx.fail(f"Event {event_id} failed again: {done.result}")
    ctx.success(f"Event {event_id}: {done.status} ({done.result}).")


def inject(signature: str = typer.Option(..., "--signature", help="The Stripe-Signature header (t=…,v1=…)"),
           file: Optional[str] = typer.Option(None, "--file", "-f", help="Event JSON (default: stdin)"),
           json_: bool = typer.Option(False, "--json", help="JSON result")) -> None:
    """Process one signed Stripe event exactly as the receiver would (signature checked with the
    tenant's secret, 300 s tolerance), without HTTP: for replaying a captured delivery, or demos."""
    import sys

    from promostack_cli.billing.stripe.service import verified
    from promostack_cli.billing.stripe.service import ingest as do_ingest

    body = open(file, "rb").read() if file else sys.stdin.buffer.read()
    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.transaction() as session:
        cfg = _config(session, tenant)
        done = do_ingest(session, cfg, verified(cfg, body, signature), _now())
    if ctx.want_json(json_):
        ctx.emit_json({"status": done.status if done.stored else "duplicate", "result": done.result,
                       "access": done.access})
    ctx.info(f"event {done.status if done.stored else 'duplicate'}" + (f": {done.result}" if done.result else "")
             + (f"; access {done.access}" if done.access else ""))


def checkout_link(telegram_user: int = typer.Option(..., "--telegram-user", help="The Telegram id the payment links to"),
                  price: Optional[str] = typer.Option(None, "--price", help="price_… (default: the first plan)"),
                  json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Create a Stripe Checkout link whose payment links itself to that Telegram user."""
    from promostack_cli.billing.access import message_bot_username
    from promostack_cli.billing.stripe.checkout import checkout_url
    from promostack_cli.billing.stripe.api import StripeApi

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        cfg = _config(session, tenant)
        username = message_bot_username(session, tenant.id)
    made = checkout_url(StripeApi(cfg.api_key, ctx.settings().stripe_api_url), cfg, telegram_user, price, _now(), username)
    if ctx.want_json(json_):
        ctx.emit_json(made)
        return
    ctx.out.print(made["url"], markup=False, highlight=False, soft_wrap=True)
