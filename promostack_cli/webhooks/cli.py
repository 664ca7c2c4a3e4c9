from typing import List, Optional

import typer

from promostack_cli import context as ctx
from promostack_cli.webhooks.domain import DOMAIN

app = typer.Typer(help=DOMAIN.commands[0].help, no_args_is_help=True)


def check_port(host: str, port: int) -> None:
    """Bind ``host:port`` once (and let go) so a port in use is one line, exit 1, before anything says
    it listens. SO_REUSEADDR as uvicorn sets it: only a live listener makes this fail."""
    import errno
    import socket

    from promostack_cli.core.errors import OperationalError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OperationalError(f"Cannot listen on {host}:{port}: {exc.strerror}; check --host.") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise OperationalError(f"Port {port} on {host} is in use (another webhook serve?); stop that process "
                                       "or choose another port with --port.") from None
            raise OperationalError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}; "
                                   "choose another --host or --port.") from None


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (put a TLS proxy in front)"),
    port: int = typer.Option(8080, "--port", min=1, max=65535),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes"),
) -> None:
    """Receive Telegram updates at POST /api/bot-webhook/<secret>; GET /healthz checks the database.

    Example: promostack webhook serve --host 0.0.0.0 --port 8080 --workers 2
    """
    import uvicorn

    check_port(host, port)  # fail fast, before anything says we listen
    ctx.open_db()        # fail fast: migrated database
    ctx.secret_box()     # fail fast: secrets readable
    ctx.info(f"Listening on http://{host}:{port} ({workers} worker(s)); Telegram posts to "
             f"{ctx.settings().public_url or '<PROMOSTACK_PUBLIC_URL>'}/api/bot-webhook/<secret>")
    uvicorn.run("promostack_cli.webhooks.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=ctx.settings().log_level.lower(), access_log=False, proxy_headers=True)


@app.command("failures")
def failures(limit: int = typer.Option(100, "--limit", min=1, max=10000),
             dismiss: Optional[List[int]] = typer.Option(None, "--dismiss", metavar="ID",
                                                         help="Dismiss this failed update (repeatable)"),
             dismiss_all: bool = typer.Option(False, "--dismiss-all", help="Dismiss every failed update (asks; --yes)"),
             show_dismissed: bool = typer.Option(False, "--dismissed", help="List the dismissed ones too"),
             yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask (required without a terminal)"),
             json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Updates that could not be processed (stored, answered 200, waiting for you).

    --dismiss ID / --dismiss-all mark them dismissed: they stop counting as failures (not listed,
    not retried by webhook retry) but stay stored, shown with --dismissed; webhook retry ID still
    processes one again. Example: promostack -t entrylab webhook failures --dismiss 12
    """
    from promostack_cli.core.clock import utcnow
    from promostack_cli.core.errors import ValidationError
    from promostack_cli.webhooks.service import dismiss as dismiss_updates
    from promostack_cli.webhooks.service import failures as list_failures

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    if dismiss and dismiss_all:
        raise ValidationError("Use --dismiss ID or --dismiss-all, not both.")
    if dismiss or dismiss_all:
        if dismiss_all:
            with db.session() as session:
                count = len(list_failures(session, tenant.id, None))
            if not count:
                ctx.info("No failed updates to dismiss.")
                return
            ctx.confirm(f"Dismiss all {count} failed update(s) of '{tenant.slug}'", yes)
        with db.transaction() as session:
            done = dismiss_updates(session, tenant.id, None if dismiss_all else list(dismiss), utcnow())
        if ctx.want_json(json_):
            ctx.emit_json({"dismissed": done})
        ctx.success(f"{len(done)} failed update(s) dismissed ({', '.join(map(str, done))}); "
                    "listed with: promostack webhook failures --dismissed")
        return
    with db.session() as session:
        rows = [{"id": u.id, "status": u.status, "bot": u.bot_role, "update_id": u.update_id, "kind": u.kind,
                 "error": u.error, "received_at": u.received_at.isoformat()}
                for u in list_failures(session, tenant.id, limit, include_dismissed=show_dismissed)]
    if ctx.want_json(json_):
        ctx.emit_json(rows)
        return
    ctx.emit_table(f"Failed updates of {tenant.slug}", ["id", "status", "bot", "update", "kind", "error", "received"],
                   [(r["id"], r["status"], r["bot"], r["update_id"], r["kind"], r["error"], r["received_at"][:19])
                    for r in rows],
                   empty="No failed updates." if not show_dismissed else "No failed or dismissed updates.")


@app.command("retry")
def retry(ids: Optional[List[int]] = typer.Argument(None, help="Failed update ids (default: all)")) -> None:
    """Process failed updates again (after a fix); each ends processed, ignored or failed again.

    Example: promostack -t entrylab webhook retry 12
    """
    from promostack_cli.core.clock import utcnow
    from promostack_cli.webhooks.service import retry as retry_updates

    from promostack_cli.webhooks.handlers import Dispatcher

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    dispatcher = Dispatcher(ctx.settings(), ctx.secret_box())
    with db.transaction() as session:
        outcomes = retry_updates(dispatcher, session, tenant.id, ids or None, utcnow())
    ok = sum(1 for o in outcomes if o.status != "failed")
    ctx.success(f"{ok} of {len(outcomes)} update(s) processed; the rest failed again (see webhook failures).")
    if ok < len(outcomes):
        raise ctx.fail(f"{len(outcomes) - ok} update(s) still failing.")


def check_update(body: bytes, role: str) -> None:
    """Refuse, before anything is stored, input that is not a Telegram update (the receiver stores
    such bodies as failed for Telegram's sake; a person typing the wrong file wants to be told)."""
    from promostack_cli.core.errors import ValidationError
    from promostack_cli.telegram.updates import KINDS, BotRef, MalformedUpdate, envelope, parse

    if not body.strip():
        raise ValidationError("No update given: the input is empty. Pipe the update JSON in, or pass --file FILE; "
                              "nothing was stored.")
    try:
        env = envelope(body)
        if env.kind == "unknown":
            raise MalformedUpdate(f"no update field Telegram sends ({', '.join(KINDS[:5])}, ...)")
        parse(env.update, BotRef(0, 0, role))
    except MalformedUpdate as exc:
        raise ValidationError(f"The input is not a Telegram update ({str(exc)[:200]}); nothing was stored.") from None


@app.command("inject")
def inject(role: str = typer.Argument("message_bot", help="Which bot the update is for"),
           file: Optional[str] = typer.Option(None, "--file", "-f", help="Update JSON (default: stdin)"),
           json_: bool = typer.Option(False, "--json", help="JSON result")) -> None:
    """Process one Telegram update (JSON) exactly as the receiver would, without HTTP.

    For replaying a captured update, or trying journeys without Telegram. Stored and deduplicated
    like a delivered update; messages it queues go out with the next scheduler tick.
    Example: echo '{"update_id": 1, "message": {...}}' | promostack -t entrylab webhook inject
    """
    import sys

    from promostack_cli.connections.lookup import find_bot
    from promostack_cli.core.clock import utcnow
    from promostack_cli.core.errors import BotNotConfiguredError, ValidationError
    from promostack_cli.webhooks.handlers import Dispatcher
    from promostack_cli.webhooks.service import ingest

    if role not in ("message_bot", "signal_bot"):
        raise ValidationError(f"Unknown bot role '{role}': use message_bot or signal_bot.")
    try:
        body = (open(file, "rb").read() if file else sys.stdin.buffer.read())
    except OSError as exc:
        raise ValidationError(f"--file {file}: {exc.strerror or exc}; nothing was stored.") from None
    check_update(body, role)
    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.transaction() as session:
        bot = find_bot(session, None, tenant_id=tenant.id, role=role)
        if bot is None:
            raise BotNotConfiguredError(tenant.slug, role)
        outcome = ingest(Dispatcher(ctx.settings(), ctx.secret_box()), session, bot.ref, body, utcnow())
    result = {"status": outcome.status, "result": outcome.result}
    if ctx.want_json(json_):
        ctx.emit_json(result)
    ctx.info(f"update {outcome.status}" + (f": {outcome.result}" if outcome.result else ""))
    if outcome.status == "failed":
        raise ctx.fail("the update failed; see promostack webhook failures")
