"""``journeys show`` for people: one row per step with its text (shortened), what it waits for, its
buttons and where each answer goes. Pure formatting of a journey's canonical definition."""

from __future__ import annotations

from promostack_cli.journeys.spec.rules import END_TARGET

TEXT_WIDTH = 60  # characters of a text shown in the table (--json has all of it)
STEP_COLUMNS = ["#", "step", "type", "text", "waits", "then"]


def shorten(text: str | None, width: int = TEXT_WIDTH) -> str:
    """One line of at most ``width`` characters (an ellipsis where it was cut)."""
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def _where(goto: str | None, next_id: str | None, ids: set[str]) -> str:
    """Where a jump (None: going on) lands, by step id; "end" past the last step."""
    if goto is not None and (goto in ids or goto != END_TARGET):
        return goto
    if goto is None and next_id is not None:
        return next_id
    return "end"


def step_rows(steps: list[dict]) -> list[tuple]:
    rows = []
    ids = {s["id"] for s in steps}
    for i, step in enumerate(steps):
        next_id = steps[i + 1]["id"] if i + 1 < len(steps) else None
        kind = step["type"]
        waits, then = "", []
        if kind == "message":
            then.append("→ " + _where(step.get("goto"), next_id, ids))
        elif kind == "delay":
            waits = step["duration"]
            then.append("→ " + _where(None, next_id, ids))
        elif kind == "question":
            validate = step.get("validate", "text")
            waits = "an answer" + (f" ({validate})" if validate != "text" else "")
            if step.get("choices"):
                then.append("buttons: " + " | ".join(step["choices"]))
            if step.get("save_as"):
                then.append(f"saved as {step['save_as']}")
            then.append("→ " + _where(None, next_id, ids))
        else:  # wait_for_reply
            waits = f"a reply, up to {step['timeout']}"
            for branch in step.get("branches") or []:
                then.append(f"'{branch['match']}' → {_where(branch['goto'], next_id, ids)}")
            then.append(("other reply" if step.get("branches") else "reply") + " → " + _where(None, next_id, ids))
            action = step.get("on_timeout", "end")
            landing = {"end": "end", "continue": _where(None, next_id, ids)}.get(action) if isinstance(action, str) \
                else _where(action["goto"], next_id, ids)
            timeout = f"timeout → {landing}"
            if step.get("timeout_text"):
                timeout += f" (says: {shorten(step['timeout_text'], 30)})"
            then.append(timeout)
        rows.append((i + 1, step["id"], kind, shorten(step.get("text")), waits, "; ".join(then)))
    return rows
