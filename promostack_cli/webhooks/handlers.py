"""The receiver's router: each domain registers its handlers here, at the edge.

Today: the outbox's chat blocks (a user blocking or unblocking the bot, or writing again), cross
promo's attribution of /start links (``crosspromo/handlers.py``), billing (``billing/handlers.py``:
``chat_member``, ``chat_join_request``, ``/verify``, ``/subscribe``) and journeys
(``journeys/handlers.py``): one ``register(router)`` call each in :func:`build_router`.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from promostack_cli.telegram.routing import Handled, Router
from promostack_cli.telegram.updates import Event

ROLES = ("message_bot",)

_router: Router | None = None


def _unblock_on_message(session: Session, event: Event, now: datetime) -> None:
    from promostack_cli.outbox.service import clear_chat_block

    if event.private and event.text is not None and event.chat_id:
        clear_chat_block(session, event.bot.tenant_id, event.bot.role, event.chat_id)


def _chat_block(session: Session, event: Event, now: datetime) -> None:
    from promostack_cli.outbox.service import clear_chat_block, mark_chat_blocked

    if not (event.private and event.chat_id and event.member):
        return
    if event.member.new_status == "kicked":
        mark_chat_blocked(session, event.bot.tenant_id, event.bot.role, event.chat_id, "my_chat_member: kicked", now)
    elif event.member.new_status == "member":
        clear_chat_block(session, event.bot.tenant_id, event.bot.role, event.chat_id)


def _unblocked(session: Session, event: Event, now: datetime) -> Handled | None:
    if event.private and event.member and event.member.new_status == "member":
        return Handled("user unblocked the bot")
    return None


def build_router() -> Router:
    from promostack_cli.billing import handlers as billing
    from promostack_cli.crosspromo import handlers as crosspromo
    from promostack_cli.journeys import handlers as journeys

    router = Router()
    router.before("message", _unblock_on_message, roles=ROLES)
    crosspromo.register(router)
    router.before("my_chat_member", _chat_block, roles=ROLES)
    billing.register(router)  # before journeys: /start v_… and /start subscribe are billing's
    journeys.register(router)
    router.on("my_chat_member", _unblocked, roles=ROLES)
    return router


def default_router() -> Router:
    global _router
    if _router is None:
        _router = build_router()
    return _router
