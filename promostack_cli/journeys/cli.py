from enum import StrEnum
from pathlib import Path
from typing import List, Optional

import typer

from promostack_cli import context as ctx
from promostack_cli.journeys.domain import DOMAIN

app = typer.Typer(help=DOMAIN.commands[0].help, no_args_is_help=True)


def _report_spec_errors(exc) -> None:
    for line in exc.errors:
        ctx.err.print(line, markup=False, highlight=False)


@app.command("validate")
def validate(paths: List[Path] = typer.Argument(..., help="Files or directories (*.yaml, *.yml)")) -> None:
    """Check journey files without a database: exit 0, or one `file:line: problem` per line and exit 2.

    With the global --json: a JSON list of {file, line, column, message} on stdout ([] when valid),
    same exit codes. Use it in a git pre-commit hook or CI.

    Example: promostack journeys validate examples/journeys/
    """
    from promostack_cli.journeys.service import SpecValidationError, load_specs

    try:
        specs = load_specs([str(p) for p in paths])
    except SpecValidationError as exc:
        if ctx.want_json():
            ctx.emit_json([p.as_dict() for p in exc.problems])
        else:
            _report_spec_errors(exc)
        raise
    if ctx.want_json():
        ctx.emit_json([])
    ctx.success(f"{len(specs)} journey file(s) valid.")


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of the journey YAML format (for editors and CI).

    Example: promostack journeys schema > journey.schema.json
    """
    from promostack_cli.journeys.spec.schema import json_schema

    ctx.emit_json(json_schema())


def _plan_rows(plan) -> list[tuple]:
    rows = []
    for c in plan.changes:
        s = c.steps
        detail = ", ".join(f"{n} {k}" for k, n in (("added", len(s["added"])), ("changed", len(s["changed"])),
                                                   ("removed", len(s["removed"])), ("unchanged", len(s["unchanged"]))) if n)
        if c.settings_changed:
            detail += ("; " if detail else "") + "settings: " + ", ".join(c.settings_changed)
        rows.append((c.slug, c.action, detail or "-", c.source or ""))
    return rows


@app.command("import")
def import_(
    paths: List[Path] = typer.Argument(..., help="Files or directories (*.yaml, *.yml)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing"),
    prune: bool = typer.Option(False, "--prune", help="Remove journeys that are not in the files"),
    json_: bool = typer.Option(False, "--json", help="JSON plan on stdout"),
) -> None:
    """Validate every file, print the plan, then apply all of it in one transaction (or none of it).

    Example: promostack -t entrylab journeys import examples/journeys/ --dry-run
    """
    from promostack_cli.core.clock import utcnow
    from promostack_cli.core.errors import ValidationError
    from promostack_cli.journeys.service import SpecValidationError, apply_import, load_specs, plan_import

    try:
        specs = load_specs([str(p) for p in paths])
        db = ctx.open_db()
        tenant = ctx.current_tenant(db)
        with db.transaction() as session:
            plan = plan_import(session, tenant.id, specs, prune=prune)
            if not dry_run:
                apply_import(session, tenant.id, plan, utcnow())
    except SpecValidationError as exc:
        _report_spec_errors(exc)
        raise ValidationError(f"{exc.message} Nothing was imported.") from None
    if ctx.want_json(json_):
        ctx.emit_json(plan.as_dict())
    else:
        ctx.emit_table(f"Import plan for {tenant.slug}" + (" (dry run)" if dry_run else ""),
                       ["journey", "action", "steps", "file"], _plan_rows(plan))
    counts = {a: sum(1 for c in plan.changes if c.action == a) for a in ("add", "change", "remove", "unchanged")}
    summary = ", ".join(f"{n} {a}" for a, n in counts.items() if n)
    ctx.success(("Dry run, nothing written: " if dry_run else "Imported: ") + summary + ".")


@app.command("export")
def export(
    slugs: Optional[List[str]] = typer.Argument(None, help="Journeys to export (default: all)"),
    out: Optional[Path] = typer.Option(None, "--out", help="Directory to write <slug>.yaml files into"),
) -> None:
    """Write journeys as YAML that imports back to the same journeys (export → import → export is byte-identical).

    Example: promostack -t entrylab journeys export --out journeys/
    """
    from promostack_cli.journeys.service import export_yaml, get_journey, list_journeys, write_exports

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        journeys = [get_journey(session, tenant.id, s) for s in slugs] if slugs else list_journeys(session, tenant.id)
    if not journeys:
        ctx.info(f"No journeys for '{tenant.slug}'.")
        return
    if out is None:
        import sys

        sys.stdout.write("---\n".join(export_yaml(j) for j in journeys))
        return
    for path in write_exports(journeys, out):
        ctx.info(f"wrote {path}")


@app.command("list")
def list_(json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """List the tenant's journeys.

    Example: promostack -t entrylab journeys list
    """
    from promostack_cli.journeys.listing import listing

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.engine.connect() as conn:
        rows = listing(conn, tenant.id)
    if ctx.want_json(json_):
        ctx.emit_json(rows)
        return
    ctx.emit_table(f"Journeys of {tenant.slug}", ["journey", "name", "status", "triggers", "steps"],
                   [(r["journey"], r["name"], r["status"],
                     ", ".join(f"{k}:{v}" for t in r["triggers"] for k, v in t.items()), len(r["steps"])) for r in rows],
                   empty=f"No journeys for '{tenant.slug}'. Import some: promostack journeys import examples/journeys/")


@app.command("show")
def show(slug: str = typer.Argument(...), json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """Show a journey's settings, triggers and steps: each step's text (shortened), what it waits
    for (delay, answer, reply timeout), its buttons and where each answer goes (--json: every field).

    Example: promostack -t entrylab journeys show welcome
    """
    from promostack_cli.journeys.listing import one
    from promostack_cli.journeys.show import STEP_COLUMNS, step_rows

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.engine.connect() as conn:
        shown = one(conn, tenant.id, slug)
    if ctx.want_json(json_):
        ctx.emit_json(shown)
        return
    ctx.emit_table(f"{shown['journey']}: {shown['name']} ({shown['status']}, re-entry {shown['re_entry']})",
                   STEP_COLUMNS, step_rows(shown["steps"]))
    ctx.info("triggers: " + ", ".join(f"{k}:{v}" for t in shown["triggers"] for k, v in t.items())
             + (f"; inactivity timeout {shown['inactivity_timeout']}" if shown["inactivity_timeout"] else ""))


@app.command("delete")
def delete(slug: str = typer.Argument(...),
           yes: bool = typer.Option(False, "--yes", "-y", help="Confirm without asking (scripts, cron)")) -> None:
    """Delete a journey and its triggers; its live sessions end as cancelled. Asks on a terminal;
    needs --yes otherwise.

    Example: promostack -t entrylab journeys delete old-funnel --yes
    """
    from promostack_cli.core.clock import utcnow
    from promostack_cli.journeys.service import delete_journey, get_journey

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        get_journey(session, tenant.id, slug)  # an unknown journey is said before asking
    ctx.confirm(f"Delete journey '{slug}' of tenant '{tenant.slug}' and cancel its live sessions", yes)
    with db.transaction() as session:
        ended = delete_journey(session, tenant.id, slug, utcnow())
    ctx.success(f"Journey '{slug}' deleted; {ended} live session(s) cancelled.")


@app.command("link")
def link(slug: str = typer.Argument(...)) -> None:
    """Print the journey's deep link(s) for the tenant's message bot.

    Needs only the bot's stored @username, never its token (works whatever PROMOSTACK_SECRET_KEY is).
    Example: promostack -t entrylab journeys link welcome
    """
    from promostack_cli.connections.lookup import find_bot
    from promostack_cli.core.errors import BotNotConfiguredError, ValidationError
    from promostack_cli.journeys.service import deep_links, get_journey

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        journey = get_journey(session, tenant.id, slug)
        bot = find_bot(session, None, tenant_id=tenant.id, role="message_bot")  # no box: nothing decrypted
    if bot is None:
        raise BotNotConfiguredError(tenant.slug, "message_bot")
    if not bot.username:
        raise ValidationError("The message bot's username is unknown (it was stored with --no-validate). "
                              "Run: promostack connections set message_bot (with validation) to record it.")
    links = deep_links(journey, bot.username)
    if not links:
        raise ValidationError(f"Journey '{slug}' has no deep_link trigger.")
    for url in links:
        ctx.out.print(url, markup=False, highlight=False, soft_wrap=True)
    if journey.status != "active":
        ctx.warn(f"journey '{slug}' is {journey.status}: the link starts it only once its status is active.")


@app.command("simulate")
def simulate(
    target: str = typer.Argument(..., help="Journey slug (from the database) or a YAML file"),
    var: Optional[List[str]] = typer.Option(None, "--var", help="NAME=VALUE for template variables (repeatable)"),
) -> None:
    """Walk through a journey as a user would: messages print, replies are read from stdin, delays and
    timeouts fast-forward. Touches no real session and sends nothing.

    Type a reply, '#N' to press button N, an empty line to let a reply time out, '/stop' to leave.
    Example: promostack -t entrylab journeys simulate welcome --var first_name=Sam
    """
    import sys

    from promostack_cli.journeys.simulate import run_simulation

    spec, tenant_name = _spec_for_simulation(target)
    variables = {"first_name": "Alex", "last_name": "", "username": "alex", "tenant_name": tenant_name}
    for item in var or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            from promostack_cli.core.errors import ValidationError

            raise ValidationError(f"--var '{item}' is not NAME=VALUE.")
        variables[name.strip()] = value
    run_simulation(spec, variables, read_line=sys.stdin.readline, echo_input=not sys.stdin.isatty(),
                   say=lambda text, style: ctx.out.print(text, markup=False, highlight=False, style=style,
                                                         soft_wrap=True))


def _spec_for_simulation(target: str):
    """(spec, tenant_name): a YAML file (validated like `journeys validate`; the tenant's name is
    then a placeholder unless --var sets it) or a journey of the current tenant."""
    from pathlib import Path

    from promostack_cli.journeys.service import SpecValidationError, get_journey, load_specs
    from promostack_cli.journeys.spec.model import JourneySpec

    if target.endswith((".yaml", ".yml")) or Path(target).is_file():
        try:
            return load_specs([target])[0], "[tenant_name]"
        except SpecValidationError as exc:
            for line in exc.errors:
                ctx.err.print(line, markup=False, highlight=False)
            raise
    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        return JourneySpec.from_dict(get_journey(session, tenant.id, target).definition), tenant.name


class SessionStatus(StrEnum):
    active = "active"
    waiting_delay = "waiting_delay"
    awaiting_reply = "awaiting_reply"
    completed = "completed"
    cancelled = "cancelled"
    blocked = "blocked"


@app.command("sessions")
def sessions_(slug: str = typer.Argument(...),
              status: Optional[List[SessionStatus]] = typer.Option(None, "--status", "-s", help="Only these statuses (repeatable)"),
              limit: int = typer.Option(50, "--limit", min=1, max=10000),
              json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """List a journey's sessions, newest first, with each one's next wake-up (a delay ending or a
    reply timing out; blank when none).

    Example: promostack -t entrylab journeys sessions welcome --status awaiting_reply
    """
    from promostack_cli.journeys.service import get_journey, list_sessions

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        get_journey(session, tenant.id, slug)
        rows = list_sessions(session, tenant.id, slug, [s.value for s in status or []], limit)
    if ctx.want_json(json_):
        ctx.emit_json(rows)
        return
    ctx.emit_table(f"Sessions of {slug}", ["id", "user", "status", "step", "started", "last activity", "next wake-up (UTC)",
                                           "ended because"],
                   [(r["id"], r["chat_id"], r["status"], r["step"] or "", r["started_at"][:19],
                     r["last_activity_at"][:19], _wake_up(r), r["end_reason"] or "") for r in rows], empty="No sessions.")


def _wake_up(row: dict) -> str:
    """When the tick next moves the session: its delay ends or its reply times out; blank when none."""
    if not row["wake_at"]:
        return ""
    why = "delay ends" if row["status"] == SessionStatus.waiting_delay else "reply timeout"
    return f"{row['wake_at'][:19].replace('T', ' ')} ({why})"


@app.command("stats")
def stats(slug: str = typer.Argument(...), json_: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    """A journey's funnel: sessions started, completed, timed out, blocked; users reached at each step.

    Example: promostack -t entrylab journeys stats welcome
    """
    from promostack_cli.journeys.service import journey_stats

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        result = journey_stats(session, tenant.id, slug)
    if ctx.want_json(json_):
        ctx.emit_json(result)
        return
    started = result["started"] or 1
    ctx.emit_table(f"Funnel of {slug}", ["step", "type", "users reached", "of started", "waiting here now"],
                   [(s["step"], s["type"], s["reached"], f"{s['reached'] / started:.0%}", s["waiting_now"])
                    for s in result["steps"]])
    ctx.info(f"started {result['started']}, completed {result['completed']}, timed out {result['timed_out']}, "
             f"blocked {result['blocked']}, cancelled {result['cancelled']}, in progress {result['in_progress']}")
