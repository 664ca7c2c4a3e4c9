from typing import Optional

import typer

from promostack_cli import context as ctx
from promostack_cli.tenants.domain import DOMAIN

app = typer.Typer(help=DOMAIN.commands[0].help, no_args_is_help=True)


@app.command("add")
def add(slug: str = typer.Argument(..., help="Short id, e.g. entrylab"),
        name: Optional[str] = typer.Option(None, "--name", help="Display name")) -> None:
    """Create a tenant.

    Example: promostack tenants add entrylab --name "EntryLab"
    """
    from promostack_cli.tenants.service import add_tenant

    db = ctx.open_db()
    with db.transaction() as session:
        tenant = add_tenant(session, slug, name)
        shown = {"slug": tenant.slug, "name": tenant.name, "id": tenant.id}
    if ctx.want_json():
        ctx.emit_json(shown)
    ctx.success(f"Tenant '{slug}' added. Next: promostack --tenant {slug} connections set signal_bot --token ...")


@app.command("list")
def list_(json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """List tenants.

    Example: promostack tenants list --json
    """
    from promostack_cli.tenants.lookup import listing

    db = ctx.open_db()
    with db.engine.connect() as conn:
        rows = listing(conn)
    if ctx.want_json(json_):
        ctx.emit_json(rows)
        return
    ctx.emit_table(None, ["slug", "name", "created"], [(r["slug"], r["name"], r["created_at"][:19]) for r in rows],
                   empty="No tenants yet. Add one: promostack tenants add SLUG")


@app.command("remove")
def remove(slug: str = typer.Argument(..., help="The tenant to remove"),
           yes: bool = typer.Option(False, "--yes", "-y", help="Confirm without asking (scripts)"),
           json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Remove a tenant and everything it owns (connections, journeys and sessions, outbox, signals,
    cross promo, billing...) in one transaction. Asks on a terminal; needs --yes otherwise.

    Nothing is sent to Telegram: the bots' webhooks stay registered. Remove them first with
    `promostack --tenant SLUG connections remove ROLE` (it calls deleteWebhook).

    Example: promostack tenants remove old-brand --yes
    """
    from promostack_cli.connections.lookup import connected_bots
    from promostack_cli.tenants.service import get_tenant, remove_tenant

    db = ctx.open_db()
    with db.session() as session:
        bots = connected_bots(session, get_tenant(session, slug).id)
    hooked = [b for b in bots if b["webhook_registered"]]
    action = f"Remove tenant '{slug}' and all its data"
    if hooked:
        action += f" (its bots' webhooks stay registered at Telegram: {_bot_names(hooked)})"
    ctx.confirm(action, yes)
    with db.transaction() as session:
        removed = remove_tenant(session, slug)
    if ctx.want_json(json_):
        ctx.emit_json({"tenant": slug, "removed": removed, "webhooks_left_registered": [b["role"] for b in hooked]})
    counts = ", ".join(f"{n} {table}" for table, n in sorted(removed.items())) or "no other rows"
    ctx.success(f"Tenant '{slug}' removed: {counts}.")
    if hooked:
        ctx.warn(f"the webhooks of {_bot_names(hooked)} are still registered at Telegram, which keeps calling them "
                 "and is refused now. Remove one with the Bot API: "
                 "curl -s https://api.telegram.org/bot<TOKEN>/deleteWebhook, or connect the bot to a tenant again.")


def _bot_names(bots: list[dict]) -> str:
    return ", ".join(f"{b['role']} @{b['username']}" if b["username"] else b["role"] for b in bots)
