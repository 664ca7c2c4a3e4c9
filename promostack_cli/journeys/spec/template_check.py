"""A journey's texts checked as they will run: the sandbox's rules and limits, the variables the
journey provides, and a render with every variable set to ``"x"`` that must fit one Telegram message."""

from __future__ import annotations

from promostack_cli.text import sandbox
from promostack_cli.journeys.spec import read
from promostack_cli.journeys.spec.read import Ctx
from promostack_cli.journeys.spec.rules import BASE_VARIABLES, EVENTS, MAX_TEXT_CHARS
from promostack_cli.journeys.spec.steps import Template
from promostack_cli.telegram import html


def check_templates(ctx: Ctx, texts: list[Template], triggers: list[dict], steps: list[dict]) -> None:
    """Check every text; the variables depend on the whole journey (every save_as, the event triggers)."""
    events = {t["event"] for t in triggers if "event" in t}
    allowed = set(BASE_VARIABLES) | {s["save_as"] for s in steps if "save_as" in s}
    for event in events:
        allowed |= EVENTS[event]
    event_only: dict[str, list[str]] = {}
    for event, variables in sorted(EVENTS.items()):
        for var in variables - allowed:
            event_only.setdefault(var, []).append(event)
    for tpl in texts:
        _check_template(ctx, tpl, allowed, event_only)


def _check_template(ctx: Ctx, tpl: Template, allowed: set[str], event_only: dict[str, list[str]]) -> None:
    """The sandbox's rules and limits (as at run time), the variables, a render with "x" for each."""
    node, what = tpl.node, tpl.field
    try:
        ast = sandbox.parse(tpl.text)
    except sandbox.TemplateProblem as exc:
        message = exc.message
        if "\n" in tpl.text.strip() and exc.lineno:  # "... (template line 2): detail" or "... (template line 2); ..."
            cut = message.find(": " if message.startswith("template syntax error") else "; ")
            cut = cut if cut >= 0 else len(message)
            message = f"{message[:cut]} (template line {exc.lineno}){message[cut:]}"
        ctx.error(node, f"{what}: {message}")
        return
    undefined = sorted(sandbox.variables(ast) - allowed)
    for var in undefined:
        if var in event_only:
            events = " or ".join(f"'{e}'" for e in event_only[var])
            ctx.error(node, f"{what}: variable '{var}' is only available in journeys with an {events} event trigger")
        else:
            hint = read.suggest(var, allowed)
            ctx.error(node, f"{what}: undefined variable '{var}'{hint}; available: {', '.join(sorted(allowed))}")
    if undefined:
        return
    try:
        sandbox.constant_limits(ast)
        out = sandbox.render(sandbox.compile_template(ast), dict.fromkeys(allowed, "x"))
    except sandbox.TemplateProblem as exc:
        ctx.error(node, f"{what}: {exc.message}")
        return
    except Exception as exc:  # noqa: BLE001 - reported as a validation error
        ctx.error(node, f"{what}: template fails to render with sample values: {str(exc) or type(exc).__name__}")
        return
    try:
        html.check_html(out)
    except html.HTMLError as exc:  # a literal '<' or '&' in the text: every send of it would fail
        ctx.error(node, f"{what}: Telegram would refuse this HTML: {_near(str(exc), out, exc.position)}")
        return
    if html.visible_length(out) > MAX_TEXT_CHARS:
        ctx.error(node, f"{what}: longer than {MAX_TEXT_CHARS} characters when rendered with sample values "
                  "(Telegram's limit for one message)")


def _near(message: str, rendered: str, position: int) -> str:
    """``message`` with "at position N" of the sample render shown as the words around it."""
    message = message.replace(" (or send with --parse-mode none)", "")
    start = max(0, position - 16)
    snippet = " ".join(rendered[start:position + 15].split())
    return message.replace(f"at position {position}", f"near '{snippet}'", 1)
