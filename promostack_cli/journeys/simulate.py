"""``journeys simulate``: the real state machine on a virtual clock.

The conversation is driven through two callbacks the CLI passes: ``read_line()`` (the user's next
line, "" at the end of input) and ``say(text, style)`` (a line of the conversation; ``style`` is a
rich style name or None). Nothing here prints or reads the terminal itself.
"""

from __future__ import annotations

from typing import Callable

from promostack_cli.journeys.engine import CHOICE_PREFIX, FINAL, WAITING_DELAY, JourneyRunner, Transition
from promostack_cli.journeys.spec.model import JourneySpec
from promostack_cli.journeys.spec.rules import EVENTS


Say = Callable[[str, "str | None"], None]


def _show(transition: Transition, _say: Say) -> None:
    for msg in transition.messages:
        if msg.error:
            _say(f"bot ✗ {msg.error} (a live session records it as a failed message)", "red")
            continue
        _say(f"bot › {msg.text}", None)
        if msg.reply_markup:
            buttons = [b["text"] for row in msg.reply_markup["inline_keyboard"] for b in row]
            _say("      " + "  ".join(f"[#{i + 1} {b}]" for i, b in enumerate(buttons)), "cyan")


def _later(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def run_simulation(spec: JourneySpec, variables: dict[str, str], *, read_line: Callable[[], str], say: Say,
                   echo_input: bool) -> str:
    """Play ``spec`` to its end or the end of input; returns the session's final status
    ("waiting" when input ended while a question waits). ``echo_input``: repeat each line read
    (input that is not typed at a terminal)."""

    def _say(text: str, style: str | None = None) -> None:
        say(text, style)

    runner = JourneyRunner(spec)
    for event in spec.events():
        for name in sorted(EVENTS.get(event, ())):
            variables.setdefault(name, f"[{name}]")
    now = 0.0
    _say(f"── simulating '{spec.slug}' ({spec.name}); a reply, #N for a button, empty line = no reply, /stop", style="dim")
    transition = runner.start(variables, now)
    while True:
        _show(transition, say)
        state = transition.state
        if state.status in FINAL:
            _say(f"── session {state.status}" + (f": {state.end_reason}" if state.end_reason else ""), style="dim")
            return state.status
        if state.status == WAITING_DELAY:
            _say(f"   … {_later(state.wake_at - now)} later", style="dim")
            now = state.wake_at
            transition = runner.on_timer(state, now)
            continue
        line = read_line()
        if echo_input:
            _say(f"you › {line.rstrip()}" if line.strip() else "you › (no reply)")
        if line == "" and state.wake_at is None:  # end of input while a question waits forever
            _say("── no more input: a real session would keep waiting for the answer", style="dim")
            return "waiting"
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
