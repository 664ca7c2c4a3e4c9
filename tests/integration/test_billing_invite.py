"""Access mode ``invite_link`` through the real receiver, the Bot API stand-in and signed Stripe events, on
SQLite and PostgreSQL: a paying user gets a single-use link of their own (``member_limit`` 1,
``expire_date``) through the message bot; it is revoked when they join, replaced when a stranger uses it
(who is removed), revoked by the sweep when it expires unused. A create call that fails and then works
still delivers the link; one that fails for good fails the user's message with a clear error. The link
is never logged.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta

import pytest
from sqlmodel import select

from promostack_cli.billing import config as billing_config
from promostack_cli.billing import tokens
from promostack_cli.billing.models import BillingInvite
from promostack_cli.core.clock import epoch, from_epoch, utcnow
from promostack_cli.outbox.models import OutboxMessage
from tests import billing_fixtures as bf
from tests.conftest import wait_for
from tests.fakes import stripe as fs
from tests.fakes.telegram import ApiError
from tests.integration.test_billing_webhook import billing  # noqa: F401 (the receiver fixture)

PAYER, STRANGER = 5550401, 5550402
LINK_RE = re.compile(r"https://t\.me/\+[A-Za-z0-9_-]+")
VIP = int(bf.VIP)


@pytest.fixture
def invite(billing, db, box, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    with db.transaction() as s:
        billing_config.setup(s, billing.tenant_id, box, utcnow(), access_mode="invite_link", invite_ttl_seconds=86400)
    return billing


def _paid(billing, db, box, uid, sub_id="sub_invite1"):
    now = int(time.time())
    with db.session() as s:
        cfg = billing_config.load(s, billing.tenant_id, box)
    meta = {"telegram_user_id": str(uid), "promostack_token": tokens.checkout_token(cfg.link_secret, uid, now)}
    evt = fs.event("customer.subscription.updated",
                   fs.subscription(sub_id, start=now - 60, end=now + 30 * 86400, metadata=meta), created=now)
    assert billing.stripe(evt).json()["status"] == "processed"


def _link_sent(fake_tg, uid, *, after=0) -> str:
    def found():
        texts = [m["text"] for m in fake_tg.sent(chat_id=uid) if "personal link" in m["text"]][after:]
        return LINK_RE.search(texts[0]).group(0) if texts else None
    assert wait_for(found), [m["text"] for m in fake_tg.sent(chat_id=uid)]
    return found()


def _joined(update_id, uid, link: dict):
    user = {"id": uid, "is_bot": False, "first_name": "Sam"}
    return {"update_id": update_id, "chat_member": {
        "chat": {"id": VIP, "type": "channel", "title": "VIP"}, "from": user, "date": int(time.time()),
        "old_chat_member": {"status": "left", "user": user}, "new_chat_member": {"status": "member", "user": user},
        "invite_link": link}}


def _ok(fake_tg, method):
    return [c.params for c in fake_tg.calls if c.method == method and c.status == 200]


def _invites(db):
    with db.session() as s:
        return list(s.exec(select(BillingInvite).order_by(BillingInvite.id)))


def _logged(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


def test_paid_user_gets_a_single_use_link_joins_and_it_is_revoked(invite, db, box, fake_tg, caplog):
    before = int(time.time())
    _paid(invite, db, box, PAYER)
    link = _link_sent(fake_tg, PAYER)
    made = fake_tg.invite_links[link]
    assert made["member_limit"] == 1 and made["name"].startswith(f"vip-{PAYER}-")
    assert before + 86400 - 5 <= made["expire_date"] <= int(time.time()) + 86400
    text = next(m["text"] for m in fake_tg.sent(chat_id=PAYER) if link in m["text"])
    assert "VIP access is active" in text and "{{" not in text and "expires in 24 h" in text
    # the user joins through it: the link is revoked at once (a member_limit 1 link works again when they leave)
    invite.telegram("signal_bot", _joined(30, PAYER, fake_tg.join_by_link(link, PAYER)))
    assert wait_for(lambda: [p.get("invite_link") for p in _ok(fake_tg, "revokeChatInviteLink")] == [link])
    assert fake_tg.invite_links[link]["is_revoked"]
    assert (VIP, PAYER) in fake_tg.members and not _ok(fake_tg, "banChatMember")
    assert [(i.status, i.telegram_user_id) for i in _invites(db)] == [("used", PAYER)]
    # a stranger given the link later cannot use it
    with pytest.raises(ApiError):
        fake_tg.join_by_link(link, STRANGER)
    # the link is a secret: only in the create call's recorded result, never in a payload or a log line
    def rows():
        with db.session() as s:
            return list(s.exec(select(OutboxMessage).where(OutboxMessage.tenant_id == invite.tenant_id)))
    assert wait_for(lambda: all(r.status == "sent" for r in rows()))  # results are recorded just after the calls
    assert [r.result["invite_link"] for r in rows() if r.result and "invite_link" in r.result] == [link, link]
    assert not [r.id for r in rows() if link in str(r.payload)]
    assert link not in _logged(caplog) and link.rsplit("+", 1)[1] not in _logged(caplog)
    assert bf.access_actions(db, invite.tenant_id, PAYER) == ["linked", "granted", "joined"]


def test_a_stranger_joining_with_the_link_is_removed_and_its_owner_gets_a_new_one(invite, db, box, fake_tg, caplog):
    _paid(invite, db, box, PAYER)
    leaked = _link_sent(fake_tg, PAYER)
    invite.telegram("signal_bot", _joined(40, STRANGER, fake_tg.join_by_link(leaked, STRANGER)))
    assert wait_for(lambda: [p.get("user_id") for p in _ok(fake_tg, "banChatMember")] == [STRANGER])
    assert wait_for(lambda: [(p.get("user_id"), p.get("only_if_banned")) for p in _ok(fake_tg, "unbanChatMember")]
                    in ([(STRANGER, True)], [(STRANGER, "true")]))
    assert (VIP, STRANGER) not in fake_tg.members and (VIP, STRANGER) not in fake_tg.banned
    assert wait_for(lambda: fake_tg.invite_links[leaked]["is_revoked"])
    assert bf.access_actions(db, invite.tenant_id, STRANGER) == ["joined", "removed"]
    # the owner is told and gets a fresh link, which works for them
    fresh = _link_sent(fake_tg, PAYER, after=1)
    assert fresh != leaked and any("used by someone else" in m["text"] for m in fake_tg.sent(chat_id=PAYER))
    invite.telegram("signal_bot", _joined(41, PAYER, fake_tg.join_by_link(fresh, PAYER)))
    assert wait_for(lambda: fake_tg.invite_links[fresh]["is_revoked"])
    assert (VIP, PAYER) in fake_tg.members
    assert [i.status for i in _invites(db)] == ["revoked", "used"]
    assert leaked not in _logged(caplog) and fresh not in _logged(caplog)


def _deliver(db, box, fake_tg, *, ahead=0.0, seconds=5.0):
    """One tick's delivery step, ``ahead`` seconds in the future."""
    from promostack_cli.outbox.sender import Sender, SenderConfig

    sender = Sender(db, box, SenderConfig(api_url=fake_tg.base_url, interval_group=0.05, interval_private=0.05,
                                          timeout=2.0), clock=lambda: epoch() + ahead)
    try:
        return sender.run(epoch() + ahead + seconds)
    finally:
        sender.close()


def test_an_expired_unused_link_is_revoked_by_the_sweep(invite, db, box, fake_tg):
    from promostack_cli.billing.due import sweep_due
    from promostack_cli.billing.sweep import sweep

    _paid(invite, db, box, PAYER)
    link = _link_sent(fake_tg, PAYER)
    expiry = fake_tg.invite_links[link]["expire_date"]
    with pytest.raises(ApiError):  # Telegram itself refuses it after expire_date
        fake_tg.join_by_link(link, PAYER, at=expiry + 1)
    later = from_epoch(expiry + 1)
    with db.engine.connect() as conn:
        assert not sweep_due(conn, from_epoch(expiry - 60), later) and sweep_due(conn, later, later)
    assert sweep(db, box, later)["links_revoked"] == 1
    assert sweep(db, box, later)["links_revoked"] == 0  # once
    with db.engine.connect() as conn:
        assert not sweep_due(conn, later, later)
    _deliver(db, box, fake_tg, ahead=expiry + 1 - time.time())  # the tick that ran the sweep delivers
    assert fake_tg.invite_links[link]["is_revoked"]
    assert [p.get("invite_link") for p in _ok(fake_tg, "revokeChatInviteLink")] == [link]
    assert [i.status for i in _invites(db)] == ["expired"]


def test_a_create_call_that_fails_then_works_still_delivers_the_link(invite, db, box, fake_tg):
    fake_tg.fail_next("createChatInviteLink", 502)
    _paid(invite, db, box, PAYER)
    link = _link_sent(fake_tg, PAYER)
    assert [c.status for c in fake_tg.calls if c.method == "createChatInviteLink"] == [502, 200]
    assert link in fake_tg.invite_links and not fake_tg.invite_links[link]["is_revoked"]
    with db.session() as s:
        create = s.exec(select(OutboxMessage).where(OutboxMessage.method == "createChatInviteLink")).one()
    assert create.status == "sent" and create.attempts == 2


def test_a_create_call_that_fails_for_good_fails_the_users_message_clearly(invite, db, box, fake_tg):
    from promostack_cli.billing.access import aware
    from promostack_cli.billing.sweep import sweep

    fake_tg.fail_next("createChatInviteLink", 400, "Bad Request: not enough rights to manage chat invite links")
    _paid(invite, db, box, PAYER)

    def user_message():
        with db.session() as s:
            return s.exec(select(OutboxMessage).where(OutboxMessage.chat_id == str(PAYER),
                                                      OutboxMessage.source == "billing")).first()
    assert wait_for(lambda: user_message() is not None and user_message().status == "failed")
    error = user_message().last_error
    assert "createChatInviteLink" in error and "ended failed" in error and "not enough rights" in error
    assert "outbox retry" in error
    assert not [m for m in fake_tg.sent(chat_id=PAYER) if "personal link" in m["text"]]
    # at its expiry the sweep closes it without a revoke call: the link never existed
    sweep(db, box, aware(_invites(db)[0].expires_at) + timedelta(seconds=1))
    assert [i.status for i in _invites(db)] == ["failed"]
    with db.session() as s:
        assert not s.exec(select(OutboxMessage).where(OutboxMessage.method == "revokeChatInviteLink")).all()
