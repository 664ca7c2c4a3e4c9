"""``promostack billing``: paid subscriptions (Stripe, manual grants) that grant and revoke VIP channel access.

The source-neutral commands are here; Stripe's own (``sync``, ``events``, ``replay``, ``inject``,
``checkout-link``) are in :mod:`promostack_cli.billing.stripe.cli` and registered here in order.
``setup`` still stores Stripe's settings beside the neutral ones (one settings row).
"""

from __future__ import annotations

from typing import List, Optional

import typer

from promostack_cli import context as ctx
from promostack_cli.billing.domain import DOMAIN
from promostack_cli.billing.stripe import cli as stripe_cli

app = typer.Typer(help=DOMAIN.commands[0].help, no_args_is_help=True)
settings_app = typer.Typer(help="The tenant's billing settings.", no_args_is_help=True)
app.add_typer(settings_app, name="settings")


def _now():
    from promostack_cli.core.clock import utcnow

    return utcnow()


def _config(session, tenant):
    from promostack_cli.billing.config import require

    return require(session, tenant.id, ctx.secret_box(), tenant.slug, ctx.settings().public_url)


def _duration(text: str | None, option: str) -> float | None:
    from promostack_cli.core.clock import parse_duration
    from promostack_cli.core.errors import ValidationError

    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ValidationError(f"{option}: {exc}") from None


@app.command("setup")
def setup(
    webhook_secret: Optional[str] = typer.Option(None, "--webhook-secret", envvar="PROMOSTACK_STRIPE_WEBHOOK_SECRET",
                                                 show_envvar=False, help="The endpoint's signing secret, whsec_… (stored encrypted)"),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="PROMOSTACK_STRIPE_API_KEY", show_envvar=False,
                                          help="Stripe secret or restricted key, sk_… (stored encrypted; needed for checkout links, portal links and sync)"),
    price: List[str] = typer.Option([], "--price", help="A plan's Stripe price id, price_… (repeat for several plans)"),
    name: List[str] = typer.Option([], "--name", help="The plan's name shown to users, one per --price, in order"),
    grace: Optional[str] = typer.Option(None, "--grace", help="Access kept after a failed renewal (default 3d)"),
    vip_chat: Optional[str] = typer.Option(None, "--vip-chat", help="The VIP channel's numeric id, -100… (default: the signal bot's VIP channel)"),
    vip_link: Optional[str] = typer.Option(None, "--vip-link", help="The VIP channel's join-request invite link, sent to paying users"),
    success_url: Optional[str] = typer.Option(None, "--success-url", help="Where Checkout sends the user after paying (default: the message bot)"),
    cancel_url: Optional[str] = typer.Option(None, "--cancel-url", help="Where Checkout sends the user who gives up"),
    access_mode: Optional[str] = typer.Option(None, "--access-mode", help="join_request (default: the bot approves join requests through --vip-link) or invite_link (a single-use link made for each paying user)"),
    invite_ttl: Optional[str] = typer.Option(None, "--invite-ttl", help="invite_link mode: how long a personal link stays valid (default 24h; 5m to 7d)"),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Store the tenant's Stripe settings (secrets encrypted); run again to change or add plans.

    Example: promostack -t entrylab billing setup --webhook-secret whsec_… --api-key sk_live_… --price price_123 --name "VIP monthly" --grace 3d
    """
    from promostack_cli.billing.config import describe, setup as do_setup
    from promostack_cli.core.errors import ValidationError

    if len(name) > len(price):
        raise ValidationError("Each --name belongs to a --price: give the --price first.")
    prices = [(p, name[i] if i < len(name) else None) for i, p in enumerate(price)]
    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.transaction() as session:
        do_setup(session, tenant.id, ctx.secret_box(), _now(), webhook_secret=webhook_secret, api_key=api_key,
                 prices=prices, grace_seconds=_duration(grace, "--grace"), access_mode=access_mode,
                 vip_chat_id=vip_chat, vip_link=vip_link, success_url=success_url, cancel_url=cancel_url,
                 invite_ttl_seconds=_duration(invite_ttl, "--invite-ttl"))
        shown = describe(session, tenant.id)
    if ctx.want_json(json_):
        ctx.emit_json(shown)
    public = ctx.settings().public_url
    ctx.success(f"Billing set up for tenant '{tenant.slug}'.")
    ctx.info(f"Stripe webhook endpoint: {public or '<PROMOSTACK_PUBLIC_URL>'}/api/stripe/webhook/{tenant.slug}")


@settings_app.command("show")
def settings_show(json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Show the billing settings; secrets are masked."""
    from promostack_cli.billing.config import describe

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        shown = describe(session, tenant.id)
    if shown is None:
        raise ctx.fail(f"Billing is not set up for tenant '{tenant.slug}'. Run: promostack billing setup --webhook-secret whsec_...", 2)
    if ctx.want_json(json_):
        ctx.emit_json(shown)
        return
    rows = [(k, v) for k, v in shown.items() if k != "plans"]
    rows += [("plan", f"{p['price']}  {p['name']}") for p in shown["plans"]]
    ctx.emit_table("Billing settings", ["setting", "value"], rows)


@app.command("subscriptions")
def subscriptions(status: Optional[str] = typer.Option(None, "--status", help="Only this Stripe status (active, past_due, canceled…)"),
                  json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """List the tenant's subscriptions and manual grants, with their access."""
    from promostack_cli.billing import sources
    from promostack_cli.billing.reports import subscriptions as listing

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        rows = listing(session, _config(session, tenant), _now(), status)
    if ctx.want_json(json_):
        ctx.emit_json(rows)
        return
    ctx.emit_table(None, ["id", "subscription", "email", "telegram", "plan", "status", "period end", "access until"],
                   [(r["id"], r["subscription"] or "manual", r["email"], r["telegram_user_id"], r["plan"],
                     r["status"] + (" (cancels)" if r["cancel_at_period_end"] and sources.get(r["source"]).paid else ""),
                     r["period_end"], r["access_until"] if r["access"] else "no access") for r in rows],
                   empty="No subscriptions yet.")


@app.command("show")
def show(ref: str = typer.Argument(..., help="TELEGRAM_ID, e-mail, sub_… or cus_…"),
         json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """A user's subscriptions with their history: events, payments, access changes."""
    from promostack_cli.billing.reports import show as do_show

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        shown = do_show(session, _config(session, tenant), ref, _now())
    if ctx.want_json(json_):
        ctx.emit_json(shown)
        return
    ctx.info(f"Telegram user {shown['telegram_user_id'] or '(not linked)'}: access {shown['access']}, "
             f"in channel: {'unknown' if shown['in_channel'] is None else shown['in_channel']}")
    ctx.emit_table("Subscriptions", ["subscription", "email", "plan", "status", "period end", "access until"],
                   [(s["subscription"] or "manual", s["email"], s["plan"], s["status"], s["period_end"],
                     s["access_until"] if s["access"] else "no access") for s in shown["subscriptions"]])
    ctx.emit_table("Events", ["at", "event", "type", "status", "result"],
                   [(e["at"], e["event"], e["type"], e["status"], e["result"]) for e in shown["events"]], empty="No events.")
    ctx.emit_table("Payments", ["at", "invoice", "status", "amount", "currency", "period end"],
                   [(p["at"], p["invoice"], p["status"], p["amount"], p["currency"], p["period_end"])
                    for p in shown["payments"]], empty="No payments.")
    ctx.emit_table("Access", ["at", "action", "reason"],
                   [(c["at"], c["action"], c["reason"]) for c in shown["access_changes"]], empty="No access changes.")


@app.command("grant")
def grant(telegram_id: int = typer.Argument(..., help="The user's Telegram id"),
          days: int = typer.Option(..., "--days", help="How long the access lasts"),
          note: Optional[str] = typer.Option(None, "--note", help="Why (kept with the grant)"),
          json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Give manual or complimentary access that expires; recorded like a subscription."""
    from promostack_cli.billing.reports import grant as do_grant

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.transaction() as session:
        shown = do_grant(session, _config(session, tenant), telegram_id, days, note, _now())
    if ctx.want_json(json_):
        ctx.emit_json(shown)
    ctx.success(f"Granted VIP access to {telegram_id} until {shown['access_until']}.")


@app.command("revoke")
def revoke(telegram_id: int = typer.Argument(..., help="The user's Telegram id"),
           json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Take a user's access away now (ban + unban in the VIP channel, a message to the user)."""
    from promostack_cli.billing import sources
    from promostack_cli.billing.reports import revoke as do_revoke

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.transaction() as session:
        shown = do_revoke(session, _config(session, tenant), telegram_id, _now())
    if ctx.want_json(json_):
        ctx.emit_json(shown)
    ctx.success(f"Revoked access of {telegram_id} ({shown['access']}).")
    for source in sources.all_sources():
        if shown.get(f"still_billed_by_{source.name}"):
            ctx.warn(source.cancel_hint(shown[f"still_billed_by_{source.name}"]))


# Stripe's own commands live with the rail (billing/stripe/cli.py); registered here, in --help's order
app.command("sync")(stripe_cli.sync)
app.command("events")(stripe_cli.events)
app.command("replay")(stripe_cli.replay)
app.command("inject")(stripe_cli.inject)


@app.command("stats")
def stats(json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Active members, MRR by currency, new and churned (30 days), payments failed and recovered."""
    from promostack_cli.billing.reports import stats as do_stats

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    from promostack_cli.attribution import conversions
    from promostack_cli.crosspromo.stats import recent_refs

    now = _now()
    with db.session() as session:
        shown = do_stats(session, _config(session, tenant), now,
                         conversions=lambda: conversions(session, tenant.id, recent_refs(session, tenant.id, now, 30)))
    if ctx.want_json(json_):
        ctx.emit_json(shown)
        return
    mrr = ", ".join(f"{v:.2f} {k.upper()}" for k, v in shown["mrr"].items()) or "0"
    ctx.emit_table("Billing", ["figure", "value"], [
        ("active members", shown["active_members"]), ("MRR", mrr), ("new (30 days)", shown["new_30d"]),
        ("churned (30 days)", shown["churned_30d"]), ("payments failed (30 days)", shown["payments_failed_30d"]),
        ("payments recovered (30 days)", shown["payments_recovered_30d"]),
        ("paid through cross-promo posts (30 days)", sum((shown["conversions_by_code"] or {}).values()))])
    for note in shown["notes"]:
        ctx.info(note)


app.command("checkout-link")(stripe_cli.checkout_link)


@app.command("link")
def link(ref: str = typer.Argument(..., help="e-mail, sub_… or cus_… of a payment made elsewhere"),
         json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """A deep link (t.me/<bot>?start=v_…) and a single-use /verify code that link one subscription to
    whoever uses them first: show them on the success page or e-mail them."""
    from promostack_cli.billing.linking import issue

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.transaction() as session:
        made = issue(session, _config(session, tenant), ref, _now())
    if ctx.want_json(json_):
        ctx.emit_json(made)
        return
    ctx.out.print(f"deep link: {made['deep_link'] or '(connect the message bot) /start ' + made['start_payload']}",
                  markup=False, highlight=False, soft_wrap=True)
    ctx.out.print(f"code:      /verify {made['code']}  (single use, until {made['code_expires_at']})", markup=False,
                  highlight=False)
