"""``journeys simulate``: the real state machine on a virtual clock, in the terminal."""

from __future__ import annotations

import sys
from pathlib import Path

from promostack_cli import context as ctx
from promostack_cli.journeys.engine import CHOICE_PREFIX, FINAL, WAITING_DELAY, JourneyRunner, Transition
from promostack_cli.journeys.spec.model import JourneySpec
from promostack_cli.journeys.spec.rules import EVENTS


def load_for_simulation(target: str) -> JourneySpec:
    """A YAML file (validated like `journeys validate`) or a journey of the current tenant."""
    from promostack_cli.journeys.service import SpecValidationError, load_specs

    if target.endswith((".yaml", ".yml")) or Path(target).is_file():
        try:
            return load_specs([target])[0]
        except SpecValidationError as exc:
            for line in exc.errors:
                ctx.err.print(line, markup=False, highlight=False)
            raise
    from promostack_cli.journeys.service import get_journey

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    with db.session() as session:
        return JourneySpec.from_dict(get_journey(session, tenant.id, target).definition)


def _say(text: str, style: str | None = None) -> None:
    ctx.out.print(text, markup=False, highlight=False, style=style, soft_wrap=True)


def _show(transition: Transition) -> None:
    for msg in transition.messages:
        if msg.error:
            _say(f"bot ✗ {msg.error} (a live session records it as a failed message)", style="red")
            continue
        _say(f"bot › {msg.text}")
        if msg.reply_markup:
            buttons = [b["text"] for row in msg.reply_markup["inline_keyboard"] for b in row]
            _say("      " + "  ".join(f"[#{i + 1} {b}]" for i, b in enumerate(buttons)), style="cyan")


def _later(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def run_simulation(spec: JourneySpec, variables: dict[str, str]) -> None:
    runner = JourneyRunner(spec)
    for event in spec.events():
        for name in sorted(EVENTS.get(event, ())):
            variables.setdefault(name, f"[{name}]")
    now = 0.0
    _say(f"── simulating '{spec.slug}' ({spec.name}); a reply, #N for a button, empty line = no reply, /stop", style="dim")
    transition = runner.start(variables, now)
    while True:
        _show(transition)
        state = transition.state
        if state.status in FINAL:
            _say(f"── session {state.status}" + (f": {state.end_reason}" if state.end_reason else ""), style="dim")
            return
        if state.status == WAITING_DELAY:
            _say(f"   … {_later(state.wake_at - now)} later", style="dim")
            now = state.wake_at
            transition = runner.on_timer(state, now)
            continue
        line = sys.stdin.readline()
        if not sys.stdin.isatty():
            _say(f"you › {line.rstrip()}" if line.strip() else "you › (no reply)")
        if line == "" and state.wake_at is None:  # end of input while a question waits forever
            _say("── no more input: a real session would keep waiting for the answer", style="dim")
            return
        reply = line.strip()
        if reply == "/stop":
            transition = runner.stop(state)
        elif not reply and state.wake_at is not None:
            _say(f"   … {_later(state.wake_at - now)} later (no reply)", style="dim")
            now = state.wake_at
            transition = runner.on_timer(state, now)
        elif reply.startswith("#") and reply[1:].isdigit():
            transition = runner.on_callback(state, f"{CHOICE_PREFIX}{int(reply[1:]) - 1}", now)
        else:
            transition = runner.on_reply(state, reply, now)
