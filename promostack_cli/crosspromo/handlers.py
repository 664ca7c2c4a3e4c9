"""Cross promo's part of the update router: count a ``/start`` that came through a post's link.

The call to action of a post is the message bot's deep link with the post's code appended
(``?start=vip__cp1a``); the update parser splits it off (``Update.ref``), journeys start the journey
of ``vip`` as usual, and this hook records who came through which post (once per user and post), in
the transaction that marks the update processed.
"""

from __future__ import annotations

from promostack_cli.telegram.routing import Router, UpdateContext


def record_start(c: UpdateContext) -> None:
    record_starts([c])


def record_starts(cs: list[UpdateContext]) -> None:
    """:func:`record_start` for a batch (one transaction, one bot): one statement, none without a code."""
    from promostack_cli.core.upsert import upsert
    from promostack_cli.crosspromo.models import CrossPromoStart

    rows = [{"tenant_id": c.tenant_id, "ref": c.update.ref, "chat_id": c.update.chat_id, "started_at": c.now}
            for c in cs if c.update.ref]
    if rows:
        upsert(cs[0].session, CrossPromoStart, rows, ["tenant_id", "ref", "chat_id"])


def register(router: Router) -> None:
    router.before("message", record_start, roles=("message_bot",), private=True, text=True, many=record_starts)
