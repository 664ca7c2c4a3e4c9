"""``outbox send``: an operator's post, checked when it is queued rather than failed later at the tick.

Refused at once (:class:`ValidationError`, nothing queued): a bot role the tenant has not connected,
HTML that Telegram's parse mode would refuse (:func:`promostack_cli.telegram.html.check_html`), a
``--at`` time that is not ISO 8601 or is in the past. A dedupe key already used returns the message
queued under it (``created`` False) and queues nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Integer, String, column, select, table
from sqlmodel import Session

from promostack_cli.core.clock import parse_utc
from promostack_cli.core.errors import BotNotConfiguredError, ValidationError
from promostack_cli.outbox.models import OutboxMessage
from promostack_cli.outbox.service import ROLES, enqueue, find
from promostack_cli.telegram import html

# the connections domain's table, read in Core so the outbox does not import that domain
_bot_connections = table("bot_connections", column("tenant_id", Integer), column("role", String))


@dataclass
class Posted:
    message: OutboxMessage
    created: bool  # False: the dedupe key was used before; ``message`` is that earlier message


def parse_at(value: str, now: datetime) -> datetime:
    """``--at``: ISO 8601 with an offset or ``Z``; a time without one is UTC (as ``--now`` elsewhere).

    Returned in UTC; a time before ``now`` is refused (it would go out at once, which is not what a
    scheduled post means)."""
    try:
        at = parse_utc(value)
    except ValueError:
        raise ValidationError(f"--at '{value}' is not an ISO 8601 time like 2026-12-02T08:00+00:00 or "
                              "2026-12-02T08:00Z (without an offset it is UTC).") from None
    if at < now:
        raise ValidationError(f"--at {format_utc(at)} is in the past (it is {format_utc(now)} now); "
                              "give a later time, or leave out --at to send at the next tick.")
    return at


def format_utc(at: datetime) -> str:
    """``2026-12-02 08:00 UTC`` (seconds shown only when there are some)."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC" if at.second else "%Y-%m-%d %H:%M UTC")


def check_role(session: Session, tenant_id: int, tenant_slug: str, role: str) -> None:
    if role not in ROLES:
        raise ValidationError(f"Unknown bot role '{role}': use signal_bot or message_bot.")
    c = _bot_connections.c
    found = session.execute(select(c.role).where(c.tenant_id == tenant_id, c.role == role)).first()
    if found is None:
        not_configured = BotNotConfiguredError(tenant_slug, role)
        raise ValidationError(f"{not_configured.message}; nothing queued.")


def check_text(text: str, parse_mode: str | None) -> None:
    if parse_mode and parse_mode.upper() == "HTML":
        try:
            html.check_html(text)
        except html.HTMLError as exc:
            raise ValidationError(f"Telegram would refuse this HTML: {exc}") from None


def post(session: Session, tenant_id: int, tenant_slug: str, role: str, chat: str, text: str, *, now: datetime,
         parse_mode: str | None = "HTML", dedupe_key: str | None = None, at: datetime | None = None) -> Posted:
    """Queue an operator's message (``at``: not before then), in the caller's transaction."""
    check_role(session, tenant_id, tenant_slug, role)
    if dedupe_key:
        earlier = find(session, tenant_id, dedupe_key)
        if earlier is not None:
            return Posted(earlier, False)
    check_text(text, parse_mode)
    msg = enqueue(session, tenant_id, role, chat, text, now=now, parse_mode=parse_mode, dedupe_key=dedupe_key,
                  not_before=at, source="cli")
    # another process may have queued the same key between the look-up and the insert
    return Posted(msg, msg.created_at == now)
