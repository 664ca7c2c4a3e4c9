"""Cross promo's part of the update router: count a ``/start`` that came through a post's link.

The call to action of a post is the message bot's deep link with the post's code appended
(``?start=vip__cp1a``); the update parser splits it off (``Event.start_ref``), journeys start the
journey of ``vip`` as usual, and this hook records who came through which post (once per user and
post), in the transaction that marks the update processed.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from promostack_cli.telegram.routing import Router
from promostack_cli.telegram.updates import Event

ROLES = ("message_bot",)


def record_start(session: Session, event: Event, now: datetime) -> None:
    from promostack_cli.core.upsert import upsert
    from promostack_cli.crosspromo.models import CrossPromoStart

    ref = event.start_ref
    if not (ref and event.private and event.chat_id):
        return
    upsert(session, CrossPromoStart, {"tenant_id": event.bot.tenant_id, "ref": ref, "chat_id": event.chat_id,
                                      "started_at": now}, ["tenant_id", "ref", "chat_id"])


def register(router: Router) -> None:
    router.before("message", record_start, roles=ROLES)
