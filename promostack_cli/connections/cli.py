from typing import Optional

import typer

from promostack_cli import context as ctx
from promostack_cli.core.roles import BotRole
from promostack_cli.connections.domain import DOMAIN

app = typer.Typer(help=DOMAIN.commands[0].help,
                  no_args_is_help=True)


def _service(db):
    from promostack_cli.connections.service import ConnectionsService
    from promostack_cli.telegram.client import BotApi

    s = ctx.settings()
    return ConnectionsService(
        db, ctx.secret_box(), BotApi.from_settings(s),
        public_url=s.public_url, api_url=s.telegram_api_url,
    )


@app.command("set")
def set_(
    role: BotRole = typer.Argument(..., help="signal_bot or message_bot"),
    token: Optional[str] = typer.Option(None, "--token", envvar="PROMOSTACK_BOT_TOKEN", show_envvar=False,
                                        help="Bot token from @BotFather (kept encrypted; optional when updating)"),
    vip_channel: Optional[str] = typer.Option(None, "--vip-channel", help="signal_bot: VIP channel (-100… or @name)"),
    free_channel: Optional[str] = typer.Option(None, "--free-channel", help="signal_bot: FREE channel (-100… or @name)"),
    channel: Optional[str] = typer.Option(None, "--channel", help="message_bot: optional channel (-100… or @name)"),
    validate: bool = typer.Option(True, "--validate/--no-validate", help="Check the token with getMe (off: store offline)"),
    username: Optional[str] = typer.Option(None, "--username", help="With --no-validate: the bot's @username (for deep links)"),
    webhook: bool = typer.Option(True, "--webhook/--no-webhook", help="Register the webhook when PROMOSTACK_PUBLIC_URL is set"),
    rotate_secret: bool = typer.Option(False, "--rotate-secret", help="Make a new webhook secret"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and show the result; store nothing, register nothing"),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Connect (or update) a bot for the tenant.

    Example: promostack -t entrylab connections set signal_bot --token 123:ABC… --vip-channel -1001234567890 --free-channel @entrylab_free
    """
    from promostack_cli.connections.service import ConnectionRequest
    from promostack_cli.core.clock import utcnow

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    req = ConnectionRequest(role=role.value, token=token, vip_channel=vip_channel, free_channel=free_channel,
                            channel=channel, validate=validate, register_webhook=webhook, username=username,
                            rotate_secret=rotate_secret, dry_run=dry_run)
    outcome = _service(db).set(tenant.id, req, utcnow())
    if ctx.want_json(json_):
        ctx.emit_json({**outcome.connection, "created": outcome.created, "validated": outcome.validated,
                       "webhook": outcome.webhook, "notes": outcome.notes})
    who = f"@{outcome.connection['username']}" if outcome.connection.get("username") else f"bot {outcome.connection['bot_id']}"
    verb = "would be " + ("connected" if outcome.created else "updated") if dry_run else ("connected" if outcome.created else "updated")
    ctx.success(f"{role.value} {verb} for tenant '{tenant.slug}': {who}, token {outcome.connection['token']}.")
    ctx.info(f"Webhook: {outcome.webhook}.")
    for note in outcome.notes:
        ctx.info(f"Note: {note}.")


@app.command("list")
def list_(json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """List the tenant's bot connections (tokens masked).

    The secrets column says whether the current PROMOSTACK_SECRET_KEY decrypts the stored token and
    webhook secrets ("cannot decrypt ...": run connections set ROLE --token T to replace them).
    Example: promostack -t entrylab connections list --json
    """
    from promostack_cli.connections.service import describe, list_connections

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    box = ctx.secret_box()
    with db.session() as session:
        rows = [describe(c, box) for c in list_connections(session, tenant.id)]
    if ctx.want_json(json_):
        ctx.emit_json(rows)
        return
    ctx.emit_table(
        f"Connections of {tenant.slug}",
        ["role", "bot", "token", "secrets", "channels", "webhook", "validated"],
        [(r["role"], f"@{r['username']}" if r["username"] else r["bot_id"], r["token"], r["secrets"],
          ", ".join(f"{k.replace('_channel', '') or 'channel'}={v}" for k, v in
                    (("vip_channel", r["vip_channel"]), ("free_channel", r["free_channel"]), ("channel", r["channel"])) if v),
          "registered" if r["webhook_registered_at"] else "not registered",
          (r["validated_at"] or "no")[:19]) for r in rows],
        empty=f"No bots connected for '{tenant.slug}'. Run: promostack connections set signal_bot --token ...",
    )


@app.command("test")
def test(role: BotRole = typer.Argument(..., help="signal_bot or message_bot"),
         json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Check a connection with Telegram: token, each channel and the bot's rights there, the webhook.

    Exits 1 when any check fails. Example: promostack -t entrylab connections test signal_bot
    """
    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    checks = _service(db).test(tenant.id, role.value)
    if ctx.want_json(json_):
        ctx.emit_json(checks)
    else:
        ctx.emit_table(f"{role.value} of {tenant.slug}", ["check", "result", "detail"],
                       [(c["check"], "ok" if c["ok"] else "PROBLEM", c["detail"]) for c in checks])
    problems = [c for c in checks if not c["ok"]]
    if problems:
        raise ctx.fail(f"{len(problems)} problem(s) with {role.value}: " + "; ".join(f"{c['check']}: {c['detail']}" for c in problems))


@app.command("remove")
def remove(role: BotRole = typer.Argument(..., help="signal_bot or message_bot"),
           keep_webhook: bool = typer.Option(False, "--keep-webhook", help="Do not call deleteWebhook"),
           yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask (required without a terminal)"),
           json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Delete the webhook at Telegram, cancel the bot's pending messages, and remove the connection.

    Asks first on a terminal; scripts pass --yes. To replace a token (or secrets the current key
    cannot decrypt) keep the connection and its queue: promostack connections set ROLE --token T.
    Example: promostack -t entrylab connections remove message_bot --yes
    """
    from promostack_cli.connections.service import get_connection
    from promostack_cli.core.clock import utcnow
    from promostack_cli.core.errors import NotFoundError

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        if get_connection(session, tenant.id, role.value) is None:
            raise NotFoundError(f"No {role.value} connection to remove.")
    ctx.confirm(f"Remove {role.value} from '{tenant.slug}' and cancel its pending messages", yes)
    result = _service(db).remove(tenant.id, role.value, utcnow(), delete_webhook=not keep_webhook)
    if ctx.want_json(json_):
        ctx.emit_json(result)
    ctx.success(f"{role.value} removed from '{tenant.slug}'; webhook {result['webhook']}; "
                f"{result['cancelled_messages']} pending message(s) cancelled.")
