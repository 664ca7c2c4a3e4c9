"""Factories for the rows tests need, built through the product's own services (the same code the CLI
calls): tenants through ``tenants.service``, bot connections through ``ConnectionsService`` (tokens
and webhook secrets encrypted by the ``SecretBox`` passed in, never hand-made blobs), journeys
through the import plan, outbox messages through ``outbox.service.enqueue``. Plus the Telegram update
bodies the receiver gets.

Each takes a ``Database`` (``tests/conftest.py``'s ``db`` fixture, or one opened on a URL) and
commits its own transaction.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import MESSAGE_TOKEN, SIGNAL_TOKEN

VIP_CHANNEL = "-1001000000001"
FREE_CHANNEL = "@entrylab_free"
USERNAMES = {"message_bot": "entrylab_helper_bot", "signal_bot": "entrylab_signals_bot"}  # as fake_tg knows them


def tenant(db, slug: str = "entrylab", name: str | None = "EntryLab") -> int:
    """A tenant (``tenants add``); returns its id."""
    from promostack_cli.tenants.service import add_tenant

    with db.transaction() as s:
        return add_tenant(s, slug, name).id


def _offline_client(token: str):
    raise AssertionError("an offline connection must not call Telegram")


def connect_bot(db, box, tenant_id: int, role: str, token: str | None = None, *, username: str | None = None,
                vip_channel: str | None = None, free_channel: str | None = None, channel: str | None = None,
                telegram=None, public_url: str | None = None, now=None) -> dict:
    """``connections set <role>``: the token (and webhook secrets) stored encrypted with ``box``.

    Without ``telegram`` it is the offline set-up (``--no-validate --no-webhook``, username given);
    with a fake Bot API (``telegram=fake_tg``) the token is checked with getMe and, given
    ``public_url``, the webhook is registered there. A signal bot gets the default VIP and free
    channels unless told otherwise. Setting a role again replaces its token, as the command does.
    Returns the connection as ``connections show`` describes it.
    """
    from promostack_cli.connections.service import ConnectionRequest, ConnectionsService
    from promostack_cli.core.clock import utcnow

    token = token or (SIGNAL_TOKEN if role == "signal_bot" else MESSAGE_TOKEN)
    if role == "signal_bot":
        vip_channel = vip_channel or VIP_CHANNEL
        free_channel = free_channel or FREE_CHANNEL
    online = telegram is not None
    if online:
        from promostack_cli.telegram.client import TelegramClient

        service = ConnectionsService(db, box, lambda t: TelegramClient(t, base_url=telegram.base_url),
                                     public_url=public_url, api_url=telegram.base_url)
    else:
        service = ConnectionsService(db, box, _offline_client, public_url=None, api_url="http://127.0.0.1:9")
    request = ConnectionRequest(role=role, token=token, vip_channel=vip_channel, free_channel=free_channel,
                                channel=channel, validate=online, register_webhook=online,
                                username=None if online else (username or USERNAMES.get(role, role)))
    return service.set(tenant_id, request, now or utcnow()).connection


def import_journeys(db, tenant_id: int, *paths, now=None) -> None:
    """``journeys import PATH...``: files or directories of journey YAML."""
    from promostack_cli.core.clock import utcnow
    from promostack_cli.journeys.service import apply_import, load_specs, plan_import

    with db.transaction() as s:
        apply_import(s, tenant_id, plan_import(s, tenant_id, load_specs([str(p) for p in paths])), now or utcnow())


def import_journey_text(db, tenant_id: int, directory: Path, text: str, name: str) -> Path:
    """Write one journey file ``<name>.yaml`` into ``directory`` and import it."""
    path = Path(directory) / f"{name}.yaml"
    path.write_text(text)
    import_journeys(db, tenant_id, path)
    return path


def enqueue(db, tenant_id: int, chat, text: str, role: str = "message_bot", **kw) -> int:
    """One outbox message in its own transaction (``outbox.service.enqueue``); returns its id."""
    from promostack_cli.core.clock import utcnow
    from promostack_cli.outbox import service

    with db.transaction() as s:
        return service.enqueue(s, tenant_id, role, chat, text, now=utcnow(), **kw).id


def backlog(db, tenant_id: int, n: int, chats: int, *, first_chat: int, role: str = "message_bot") -> None:
    """``n`` due messages ``m0 .. m{n-1}`` spread round-robin over ``chats`` private chats from
    ``first_chat`` on, in one transaction (batched inserts)."""
    from promostack_cli.core.clock import utcnow
    from promostack_cli.outbox import service

    now = utcnow()
    with db.transaction() as s:
        for i in range(n):
            service.enqueue(s, tenant_id, role, first_chat + i % chats, f"m{i}", now=now, flush=False)


def telegram_message(update_id: int, text: str, user_id: int = 5550001, first_name: str = "Sam") -> dict:
    """A Telegram ``message`` update from a user in their private chat with the bot."""
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "text": text,
        "chat": {"id": user_id, "type": "private", "first_name": first_name},
        "from": {"id": user_id, "is_bot": False, "first_name": first_name, "username": "sam"}}}
