"""``promostack scheduler``: the work cron starts every minute."""

from __future__ import annotations

from typing import Optional

import typer

from promostack_cli import context as ctx
from promostack_cli.scheduler.domain import DOMAIN

app = typer.Typer(help=DOMAIN.commands[0].help, no_args_is_help=True)


@app.command("tick")
def tick(
    dry_run: bool = typer.Option(False, "--dry-run", envvar="PROMOSTACK_DRY_RUN",
                                 help="Print due messages and record them as dry_run instead of sending"),
    for_: str = typer.Option("55s", "--for", help="Stop starting new work after this long (cron, every minute: 65s with --loop 30s)"),
    loop: Optional[str] = typer.Option(None, "--loop", help="Run a tick every INTERVAL (e.g. 30s) until --for ends"),
    json_: bool = typer.Option(False, "--json", help="JSON summary on stdout"),
) -> None:
    """Do all due scheduled work: process stored updates, advance journey sessions (delays, reply
    timeouts, inactivity), run cross promo and the billing sweep, then deliver the outbox within
    Telegram's limits. Prints one line per step, each with an ISO time.

    Safe to run concurrently, on several machines against PostgreSQL. Without --tenant it serves
    every tenant. Example (cron, every minute): promostack scheduler tick --loop 30s --for 65s
    """
    from jobs.runner import failure, run, summary
    from jobs.steps import TickContext
    from jobs.tick import make_steps
    from promostack_cli.core.clock import iso_now, parse_duration
    from promostack_cli.core.domain import TICK
    from promostack_cli.core.errors import ValidationError
    from promostack_cli.logsetup import stamp_lines

    stamp_lines()
    try:
        budget = parse_duration(for_)
        interval = parse_duration(loop) if loop else None
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    if interval is not None and interval <= 0:
        raise ValidationError("--loop must be more than 0s.")
    db = ctx.open_db()
    tenant = ctx.current_tenant(db, required=False)
    context = TickContext(db=db, box=None if dry_run else ctx.secret_box, settings=ctx.settings(),
                          dry_run=dry_run, tenant_id=tenant.id if tenant else None, printer=_print_dry_run)
    report = run(context, lambda: make_steps(context, TICK), budget=budget, loop=interval)
    if ctx.want_json(json_):
        ctx.emit_json(report.as_dict())
    for line in summary(report, iso_now()):  # stamped already
        ctx.line(line)
    message = failure(report)
    if message:
        raise ctx.fail(message)


def _print_dry_run(msg) -> None:
    if msg.method != "sendMessage":  # a channel access call (billing): method and parameters
        params = ", ".join(f"{k}={v}" for k, v in sorted(msg.payload.items()))
        ctx.out.print(f"── dry run · {msg.bot_role} → {msg.chat_id} · {msg.method}({params}) · message {msg.id}",
                      style="cyan", markup=False)
        return
    text = msg.payload.get("text", "")
    ctx.out.print(f"── dry run · {msg.bot_role} → {msg.chat_id} · message {msg.id}", style="cyan", markup=False)
    ctx.out.print(text, markup=False, highlight=False)
    markup = msg.payload.get("reply_markup")
    if markup:
        buttons = [b.get("text") for row in markup.get("inline_keyboard", []) + markup.get("keyboard", []) for b in row]
        ctx.out.print("   buttons: " + " | ".join(str(b) for b in buttons), markup=False)
