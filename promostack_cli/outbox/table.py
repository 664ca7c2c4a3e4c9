"""``outbox list`` as a table for people: every column when there is room (or when piped), a
stacked layout on a narrow terminal so ids, chats and times are never cut or broken mid-word."""

from __future__ import annotations

from datetime import datetime

from promostack_cli import context as ctx

COLUMNS = ("id", "status", "bot", "chat", "at (UTC)", "text", "tries", "error")
NARROW = 100  # below this many terminal columns, the stacked layout


def minute(iso: str) -> str:
    """``2026-12-02 08:00``: a table's UTC time (one space: a narrow table wraps it only there)."""
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")


def when(r: dict) -> str:
    """The table's time: when a pending message is due (its --at), else when it was sent or ended."""
    return minute(r["not_before"] if r["status"] in ("pending", "sending") else (r["sent_at"] or r["updated_at"]))


def preview(text: str, width: int = 60) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= width else one_line[: width - 1] + "…"


def emit(title: str, rows: list[dict]) -> None:
    if not rows:
        ctx.info("No messages.")
        return
    width = ctx.out.width
    if width >= NARROW:
        ctx.emit_table(title, COLUMNS, [(r["id"], r["status"], r["bot"], r["chat_id"], when(r), preview(r["text"]),
                                         r["attempts"], r["error"] or "") for r in rows])
        return
    _stacked(title, rows, width)


def _stacked(title: str, rows: list[dict], width: int) -> None:
    """id, status (and tries), bot over chat, date over time, then the text with its error below it."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("id", "status", "to", "at (UTC)"):
        table.add_column(name, no_wrap=True)
    table.add_column("text / error", overflow="ellipsis")
    for r in rows:
        status = r["status"] + (f"\n{r['attempts']} tries" if r["attempts"] > 1 else "")
        text = preview(r["text"], 80) + (f"\nerror: {r['error']}" if r["error"] else "")
        table.add_row(str(r["id"]), status, f"{r['bot']}\n{r['chat_id']}", when(r).replace(" ", "\n"), text)
    ctx.out.print(table, width=width)
