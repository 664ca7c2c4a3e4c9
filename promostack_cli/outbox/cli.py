import sys
from enum import StrEnum
from typing import List, Optional

import typer

from promostack_cli import context as ctx

app = typer.Typer(help="Outbox: every outgoing Telegram message, its status and its error.", no_args_is_help=True)


class Status(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    cancelled = "cancelled"
    dry_run = "dry_run"


class Role(StrEnum):
    signal_bot = "signal_bot"
    message_bot = "message_bot"


def _preview(text: str, width: int = 60) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= width else one_line[: width - 1] + "…"


@app.command("send")
def send(
    role: Role = typer.Argument(..., help="Which bot sends it"),
    chat: str = typer.Option(..., "--chat", help="Chat id (user id, -100… channel id or @channel)"),
    text: str = typer.Option(..., "--text", help="Message text (HTML); '-' reads it from stdin"),
    parse_mode: str = typer.Option("HTML", "--parse-mode", help="HTML, MarkdownV2 or none"),
    dedupe_key: Optional[str] = typer.Option(None, "--dedupe-key", help="Enqueue at most once per key"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and show the message; enqueue nothing"),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Queue a message; the next scheduler tick delivers it.

    Example: promostack -t entrylab outbox send signal_bot --chat @entrylab_free --text "<b>Gold</b> outlook at 08:00"
    """
    from promostack_cli.core.clock import utcnow
    from promostack_cli.outbox.service import describe, enqueue

    if text == "-":
        text = sys.stdin.read()
    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    mode = None if parse_mode.lower() == "none" else parse_mode
    session = db.session()
    try:
        with session.begin():
            msg = enqueue(session, tenant.id, role.value, chat, text, now=utcnow(), parse_mode=mode,
                          dedupe_key=dedupe_key, source="cli")
            shown = describe(msg)
            if dry_run:
                session.rollback()
    finally:
        session.close()
    if ctx.want_json(json_):
        ctx.emit_json(shown)
    if dry_run:
        ctx.info(f"Dry run: would queue for {role.value} → {chat}:\n{text}")
    else:
        ctx.success(f"Queued message {shown['id']} for {role.value} → {chat}. Deliver with: promostack scheduler tick")


@app.command("list")
def list_(
    status: Optional[List[Status]] = typer.Option(None, "--status", "-s", help="Only these statuses (repeatable)"),
    chat: Optional[str] = typer.Option(None, "--chat", help="Only this chat id"),
    limit: int = typer.Option(50, "--limit", min=1, max=10000, help="Newest N messages"),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """List outbox messages, newest first.

    Example: promostack -t entrylab outbox list --status failed
    """
    from promostack_cli.outbox.service import describe, list_messages

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        rows = [describe(m) for m in list_messages(session, tenant.id, statuses=[s.value for s in status or []],
                                                    chat_id=chat, limit=limit)]
    if ctx.want_json(json_):
        ctx.emit_json(rows)
        return
    ctx.emit_table(
        f"Outbox of {tenant.slug}", ["id", "status", "bot", "chat", "text", "tries", "error"],
        [(r["id"], r["status"], r["bot"], r["chat_id"], _preview(r["text"]), r["attempts"], r["error"] or "") for r in rows],
        empty="No messages.",
    )


@app.command("show")
def show(message_id: int = typer.Argument(...), json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Show one message in full.

    Example: promostack -t entrylab outbox show 42
    """
    from promostack_cli.outbox.service import describe, get_message

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        shown = describe(get_message(session, tenant.id, message_id, tenant.slug))
    if ctx.want_json(json_):
        ctx.emit_json(shown)
        return
    ctx.emit_table(f"Message {message_id}", ["field", "value"], [(k, v) for k, v in shown.items()])


@app.command("retry")
def retry(ids: Optional[List[int]] = typer.Argument(None, help="Message ids"),
          failed: bool = typer.Option(False, "--failed", help="Retry every failed message of the tenant")) -> None:
    """Queue failed, cancelled or dry-run messages again.

    A retried message keeps its place in its chat's queue: it waits while a later message to the
    same chat is being sent (never two in flight for one chat), then goes before any later
    message still pending there. A chat recorded as blocked is unmarked (you asked to try again).

    Example: promostack -t entrylab outbox retry --failed
    """
    from promostack_cli.core.clock import utcnow
    from promostack_cli.outbox.service import retry as retry_messages

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.transaction() as session:
        n = retry_messages(session, tenant.id, utcnow(), ids=ids or None, all_failed=failed)
    ctx.success(f"{n} message(s) queued again. Deliver with: promostack scheduler tick")


@app.command("cancel")
def cancel(ids: List[int] = typer.Argument(..., help="Message ids")) -> None:
    """Cancel pending messages.

    Example: promostack -t entrylab outbox cancel 42 43
    """
    from promostack_cli.core.clock import utcnow
    from promostack_cli.outbox.service import cancel as cancel_messages

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.transaction() as session:
        n = cancel_messages(session, tenant.id, ids, utcnow())
    ctx.success(f"{n} message(s) cancelled.")


@app.command("stats")
def stats(json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Count the tenant's messages by status.

    Example: promostack -t entrylab outbox stats
    """
    from promostack_cli.outbox.service import counts

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        c = counts(session, tenant.id)
    full = {s.value: c.get(s.value, 0) for s in Status}
    if ctx.want_json(json_):
        ctx.emit_json(full)
        return
    ctx.emit_table(f"Outbox of {tenant.slug}", ["status", "messages"], full.items())
