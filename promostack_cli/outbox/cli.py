import sys
from enum import StrEnum
from typing import List, Optional

import typer

from promostack_cli import context as ctx
from promostack_cli.outbox.domain import DOMAIN

app = typer.Typer(help=DOMAIN.commands[0].help, no_args_is_help=True)


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


@app.command("send")
def send(
    role: Role = typer.Argument(..., help="Which bot sends it"),
    chat: str = typer.Option(..., "--chat", help="Chat id (user id, -100… channel id or @channel)"),
    text: str = typer.Option(..., "--text", help="Message text (HTML); '-' reads it from stdin"),
    parse_mode: str = typer.Option("HTML", "--parse-mode", help="HTML, MarkdownV2 or none"),
    dedupe_key: Optional[str] = typer.Option(None, "--dedupe-key",
                                             help="Enqueue at most once per key (again: says which message has it)"),
    at: Optional[str] = typer.Option(None, "--at", help="Send at this time, not before (ISO 8601, e.g. "
                                     "2026-12-02T08:00+00:00 or 2026-12-02T08:00Z; without an offset it is UTC)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and show the message; enqueue nothing"),
    json_: bool = typer.Option(False, "--json", help="JSON output: the message, with created false when the "
                               "dedupe key was already used"),
) -> None:
    """Queue a message; the next scheduler tick delivers it (with --at: the first tick from that time).

    Checked now, not at the tick: the bot role must be connected and HTML must be what Telegram's
    parse mode accepts (its tags only; a literal '<' written &lt;, '&' written &amp;). A scheduled
    message does not hold back later messages to the same chat that are due before it.

    Example: promostack -t entrylab outbox send signal_bot --chat @entrylab_free --text "<b>Gold</b> outlook" --at 2026-12-02T08:00Z
    """
    from promostack_cli.core.clock import utcnow
    from promostack_cli.outbox.posting import format_utc, parse_at, post
    from promostack_cli.outbox.listing import describe

    if text == "-":
        text = sys.stdin.read()
    now = utcnow()
    when = parse_at(at, now) if at else None
    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    mode = None if parse_mode.lower() == "none" else parse_mode
    session = db.session()
    try:
        with session.begin():
            posted = post(session, tenant.id, tenant.slug, role.value, chat, text, now=now, parse_mode=mode,
                          dedupe_key=dedupe_key, at=when)
            shown = {**describe(posted.message), "created": posted.created}
            if dry_run:
                session.rollback()
    finally:
        session.close()
    if ctx.want_json(json_):
        ctx.emit_json(shown)
    if not posted.created:
        ctx.info(f"Already queued as message {shown['id']} (dedupe key '{dedupe_key}', {shown['status']}); "
                 "nothing new queued.")
        return
    schedule = f" at {format_utc(when)}" if when else ""
    if dry_run:
        ctx.info(f"Dry run: would queue for {role.value} → {chat}{schedule}:\n{text}")
    elif when:
        ctx.success(f"Scheduled message {shown['id']} for {role.value} → {chat} at {format_utc(when)}; "
                    "the first scheduler tick from then delivers it.")
    else:
        ctx.success(f"Queued message {shown['id']} for {role.value} → {chat}. Deliver with: promostack scheduler tick")


CSV_COLUMNS = ("id", "status", "bot", "chat_id", "method", "text", "attempts", "not_before", "created_at",
               "updated_at", "sent_at", "telegram_message_id", "error", "source")


@app.command("list")
def list_(
    status: Optional[List[Status]] = typer.Option(None, "--status", "-s", help="Only these statuses (repeatable)"),
    chat: Optional[str] = typer.Option(None, "--chat", help="Only this chat id"),
    limit: int = typer.Option(50, "--limit", min=1, max=10000, help="Newest N messages"),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
    csv_: bool = typer.Option(False, "--csv", help="CSV (RFC 4180) with every field and the full text"),
) -> None:
    """List outbox messages, newest first.

    "at (UTC)" is when a pending message is due (a scheduled one: its --at), else when it was sent
    or ended.

    Example: promostack -t entrylab outbox list --status failed
    """
    from promostack_cli.outbox.listing import listing

    json_ = ctx.want_json_or_csv(json_, csv_)
    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.engine.connect() as conn:
        rows = listing(conn, tenant.id, statuses=[s.value for s in status or []], chat_id=chat, limit=limit)
    if json_:
        ctx.emit_json(rows)
        return
    if csv_:
        ctx.emit_csv(CSV_COLUMNS, ([r[c] for c in CSV_COLUMNS] for r in rows))
        return
    from promostack_cli.outbox import table

    table.emit(f"Outbox of {tenant.slug}", rows)


@app.command("blocked")
def blocked(json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """List the chats whose user blocked a bot of the tenant (Telegram answered 403).

    While a chat is blocked its messages through that bot fail without being sent (their ids are
    shown) and its journey sessions end. Clear one with: promostack outbox unblock CHAT

    Example: promostack -t entrylab outbox blocked
    """
    from promostack_cli.outbox.blocks import list_blocked
    from promostack_cli.outbox.table import minute

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        rows = list_blocked(session, tenant.id)
    if ctx.want_json(json_):
        ctx.emit_json([{"tenant": tenant.slug, **r} for r in rows])
        return
    ctx.emit_table(
        f"Blocked chats of {tenant.slug}", ["chat", "bot", "since (UTC)", "reason", "failed messages"],
        [(r["chat_id"], r["bot"], minute(r["blocked_at"]), r["reason"] or "", " ".join(map(str, r["failed_messages"])))
         for r in rows],
        empty=f"No blocked chats in tenant '{tenant.slug}'.",
    )


@app.command("unblock")
def unblock(
    chat: str = typer.Argument(..., help="Chat id, as outbox blocked shows it"),
    bot: Optional[Role] = typer.Option(None, "--bot", help="Only for this bot (default: every bot it is blocked for)"),
) -> None:
    """Clear a chat's block so messages to it are sent again.

    Messages queued from now on are delivered. Messages that failed while it was blocked stay failed
    (the command names them; promostack outbox retry ID sends them); journey sessions the block
    ended stay ended (the user starts again with /start). If the user still blocks the bot, the next
    message gets Telegram's 403 and the chat is marked blocked again.

    Example: promostack -t entrylab outbox unblock 5550001
    """
    from promostack_cli.outbox.blocks import unblock as unblock_chat

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.transaction() as session:
        cleared = unblock_chat(session, tenant.id, tenant.slug, chat, bot.value if bot else None)
    if ctx.want_json():
        ctx.emit_json(cleared)
        return
    for lane in cleared:
        failed = lane["failed_messages"]
        note = (f" {len(failed)} message(s) that failed while it was blocked stay failed; send them with: "
                f"promostack --tenant {tenant.slug} outbox retry {' '.join(map(str, failed))}") if failed else ""
        ctx.success(f"Chat {lane['chat_id']} unblocked for {lane['bot']}: new messages to it are sent.{note}")


@app.command("show")
def show(message_id: int = typer.Argument(...), json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Show one message in full.

    Example: promostack -t entrylab outbox show 42
    """
    from promostack_cli.outbox.listing import describe
    from promostack_cli.outbox.service import get_message

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
