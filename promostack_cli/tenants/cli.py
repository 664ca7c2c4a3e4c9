from typing import Optional

import typer

from promostack_cli import context as ctx

app = typer.Typer(help="Tenants: one operator business each (channels, bots, data).", no_args_is_help=True)


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
    from promostack_cli.tenants.service import list_tenants

    db = ctx.open_db()
    with db.session() as session:
        rows = [{"slug": t.slug, "name": t.name, "created_at": t.created_at.isoformat()} for t in list_tenants(session)]
    if ctx.want_json(json_):
        ctx.emit_json(rows)
        return
    ctx.emit_table(None, ["slug", "name", "created"], [(r["slug"], r["name"], r["created_at"][:19]) for r in rows],
                   empty="No tenants yet. Add one: promostack tenants add SLUG")
