"""Billing through the real receiver over HTTP (uvicorn), the Bot API stand-in and signed Stripe events,
on SQLite and PostgreSQL.

Acceptance: a bad signature, a stale timestamp, another tenant's secret, a body altered by one byte:
400, nothing stored. The full path: checkout event → /start v_<token> → join request approved →
membership → customer.subscription.deleted → ban + unban recorded, user told; a stranger's join
request is declined.
"""

from __future__ import annotations

import json
import time

import pytest
from sqlmodel import select

from promostack_cli.billing import config as billing_config
from promostack_cli.billing import linking
from promostack_cli.billing.models import BillingEvent, BillingMember, TelegramSubscription
from promostack_cli.core.clock import utcnow
from promostack_cli.settings import Settings, reset_settings_cache
from promostack_cli.webhooks.app import create_app
from tests import billing_fixtures as bf
from tests.conftest import MESSAGE_TOKEN, SIGNAL_TOKEN, TEST_KEY
from tests.fakes import stripe as fs
from tests.conftest import wait_for
from tests.factories import connect_bot
from tests.integration.conftest import serving

PUBLIC = "https://promo.example.com"
PAYER, STRANGER = 5550301, 5550302


class Billing:
    def __init__(self, client, db, tenant_id, hooks):
        self.client, self.db, self.tenant_id, self.hooks = client, db, tenant_id, hooks

    def stripe(self, evt, *, secret=bf.WHSEC, timestamp=None, tenant="entrylab", body: bytes | None = None):
        raw = body if body is not None else json.dumps(evt).encode()
        header = fs.sign(json.dumps(evt) if body is None else body, secret, timestamp)
        return self.client.post(f"/api/stripe/webhook/{tenant}", content=raw,
                                headers={"Stripe-Signature": header, "Content-Type": "application/json"})

    def telegram(self, role, update):
        hook = self.hooks[role]
        r = self.client.post("/api/bot-webhook/" + hook["url"].rsplit("/", 1)[1], content=json.dumps(update),
                             headers={"X-Telegram-Bot-Api-Secret-Token": hook["secret_token"]})
        assert r.status_code == 200, r.text
        from promostack_cli.webhooks.models import TelegramUpdate

        def settled():
            with self.db.session() as s:
                return all(u.status != "received" for u in s.exec(select(TelegramUpdate)))
        assert wait_for(settled)

    def events(self):
        with self.db.session() as s:
            return list(s.exec(select(BillingEvent).where(BillingEvent.tenant_id == self.tenant_id)))

    def subscriptions(self):
        return bf.subscription_rows(self.db, self.tenant_id)


@pytest.fixture
def billing(db, box, tenant_id, fake_tg, tmp_path, monkeypatch):
    # the update handlers read the key and the public URL from the environment, as the receiver does
    monkeypatch.setenv("PROMOSTACK_SECRET_KEY", TEST_KEY)
    monkeypatch.setenv("PROMOSTACK_PUBLIC_URL", PUBLIC)
    monkeypatch.setenv("PROMOSTACK_DATA_DIR", str(tmp_path))
    reset_settings_cache()
    settings = Settings(telegram_api_url=fake_tg.base_url, public_url=PUBLIC, data_dir=tmp_path,
                        send_interval_group=0.05, send_interval_private=0.05)
    fake_tg.add_chat(int(bf.VIP), type="channel", title="VIP")
    fake_tg.track_members(int(bf.VIP))
    connect_bot(db, box, tenant_id, "signal_bot", SIGNAL_TOKEN, vip_channel=bf.VIP, free_channel=bf.VIP,
                telegram=fake_tg, public_url=PUBLIC)
    connect_bot(db, box, tenant_id, "message_bot", MESSAGE_TOKEN, telegram=fake_tg, public_url=PUBLIC)
    bf.setup_billing(db, box, tenant_id)
    hooks = {"signal_bot": fake_tg.webhooks[SIGNAL_TOKEN], "message_bot": fake_tg.webhooks[MESSAGE_TOKEN]}
    with serving(create_app(db, box, settings)) as client:
        yield Billing(client, db, tenant_id, hooks)
    reset_settings_cache()


def _active(sub_id="sub_flow1", created=None):
    now = int(time.time())
    return fs.event("customer.subscription.updated", fs.subscription(sub_id, start=now - 60, end=now + 30 * 86400),
                    created=created or now)


def test_bad_signatures_are_400_and_nothing_is_stored(billing, db, box):
    from promostack_cli.tenants.service import add_tenant

    with db.transaction() as s:
        other = add_tenant(s, "other").id
    from promostack_cli.billing import config

    with db.transaction() as s:
        config.setup(s, other, box, utcnow(), webhook_secret=bf.OTHER_WHSEC, vip_chat_id=bf.VIP)
    evt = _active()
    raw = json.dumps(evt).encode()
    header = fs.sign(raw, bf.WHSEC)
    altered = raw.replace(b'"active"', b'"activf"', 1)
    assert len(altered) == len(raw) and altered != raw
    attempts = {
        "bad signature": billing.client.post("/api/stripe/webhook/entrylab", content=raw, headers={
            "Stripe-Signature": header[:-4] + "0000"}),
        "stale timestamp": billing.stripe(evt, timestamp=int(time.time()) - 301),
        "other tenant's secret": billing.stripe(evt, secret=bf.OTHER_WHSEC),
        "one byte altered": billing.client.post("/api/stripe/webhook/entrylab", content=altered,
                                                headers={"Stripe-Signature": header}),
        "no signature": billing.client.post("/api/stripe/webhook/entrylab", content=raw),
        "unknown tenant": billing.stripe(evt, tenant="nobody"),
    }
    assert {k: r.status_code for k, r in attempts.items()} == {k: 400 for k in attempts}
    assert billing.events() == [] and billing.subscriptions() == []
    # the other tenant's own secret works for the other tenant only
    assert billing.stripe(evt, secret=bf.OTHER_WHSEC, tenant="other").status_code == 200
    assert billing.events() == [] and len(bf.subscription_rows(db, other)) == 1


def test_events_are_stored_once_and_unknown_types_ignored(billing):
    evt = _active()
    assert billing.stripe(evt).json() == {"received": True, "status": "processed"}
    assert billing.stripe(evt).json() == {"received": True, "status": "duplicate"}
    odd = fs.event("payment_intent.created", {"id": "pi_1", "object": "payment_intent"}, created=int(time.time()))
    assert billing.stripe(odd).json() == {"received": True, "status": "ignored"}
    assert sorted(e.type for e in billing.events()) == ["customer.subscription.updated", "payment_intent.created"]
    assert [s.status for s in billing.subscriptions()] == ["active"]


def _message(update_id, text, user_id):
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "text": text,
        "chat": {"id": user_id, "type": "private", "first_name": "Sam"},
        "from": {"id": user_id, "is_bot": False, "first_name": "Sam"}}}


def _join_request(update_id, user_id):
    user = {"id": user_id, "is_bot": False, "first_name": "Sam"}
    return {"update_id": update_id, "chat_join_request": {
        "chat": {"id": int(bf.VIP), "type": "channel", "title": "VIP"}, "from": user, "user_chat_id": user_id,
        "date": int(time.time())}}


def _member(update_id, user_id, old, new):
    user = {"id": user_id, "is_bot": False, "first_name": "Sam"}
    return {"update_id": update_id, "chat_member": {
        "chat": {"id": int(bf.VIP), "type": "channel", "title": "VIP"}, "from": user, "date": int(time.time()),
        "old_chat_member": {"status": old, "user": user}, "new_chat_member": {"status": new, "user": user}}}


def _calls(fake_tg, *methods):
    return [(c.method, c.params.get("user_id")) for c in fake_tg.calls if c.method in methods and c.status == 200]


def test_full_path_checkout_link_join_cancel_and_a_stranger(billing, db, box, fake_tg):
    now = int(time.time())
    vip = int(bf.VIP)
    # a payment made on a website: no Telegram id in it
    checkout = fs.event("checkout.session.completed", fs.checkout_session("sub_flow1", email="payer@example.com"),
                        created=now - 5)
    assert billing.stripe(checkout).json()["status"] == "processed"
    assert billing.stripe(_active(created=now - 4)).json()["status"] == "processed"
    assert billing.subscriptions()[0].telegram_user_id is None  # never linked by guess
    with db.transaction() as s:
        cfg = billing_config.load(s, billing.tenant_id, box)
        made = linking.issue(s, cfg, "payer@example.com", utcnow())
    assert made["deep_link"].startswith("https://t.me/entrylab_helper_bot?start=v_")
    # the success page sends the user to the bot
    billing.telegram("message_bot", _message(10, f"/start {made['start_payload']}", PAYER))
    assert billing.subscriptions()[0].telegram_user_id == PAYER
    assert wait_for(lambda: any("linked" in m["text"] for m in fake_tg.sent(chat_id=PAYER)))
    assert wait_for(lambda: any("VIP access is active" in m["text"] and "t.me/+vipJoinRequestLink" in m["text"]
                                for m in fake_tg.sent(chat_id=PAYER)))
    # the user asks to join: approved
    fake_tg.add_join_request(vip, PAYER)
    billing.telegram("signal_bot", _join_request(20, PAYER))
    assert wait_for(lambda: _calls(fake_tg, "approveChatJoinRequest") == [("approveChatJoinRequest", PAYER)])
    assert (vip, PAYER) in fake_tg.members
    billing.telegram("signal_bot", _member(21, PAYER, "left", "member"))
    with db.session() as s:
        assert s.exec(select(BillingMember.in_channel).where(BillingMember.telegram_user_id == PAYER)).one() is True
    # a stranger with the same (leaked) link: declined, and told how to subscribe
    fake_tg.add_join_request(vip, STRANGER)
    billing.telegram("signal_bot", _join_request(22, STRANGER))
    assert wait_for(lambda: _calls(fake_tg, "declineChatJoinRequest") == [("declineChatJoinRequest", STRANGER)])
    assert wait_for(lambda: any("/subscribe" in m["text"] for m in fake_tg.sent(chat_id=STRANGER)))
    assert (vip, STRANGER) not in fake_tg.members
    # the subscription ends: banned then unbanned (may come back later), told
    deleted = fs.event("customer.subscription.deleted", fs.subscription("sub_flow1", status="canceled",
                                                                        start=now - 60, end=now), created=now)
    assert billing.stripe(deleted).json()["status"] == "processed"
    assert wait_for(lambda: _calls(fake_tg, "banChatMember", "unbanChatMember") ==
                    [("banChatMember", PAYER), ("unbanChatMember", PAYER)])
    unban = [c for c in fake_tg.calls if c.method == "unbanChatMember"][0]
    assert unban.params.get("only_if_banned") in (True, "true")
    assert (vip, PAYER) not in fake_tg.members and (vip, PAYER) not in fake_tg.banned
    assert wait_for(lambda: any("access has ended" in m["text"] for m in fake_tg.sent(chat_id=PAYER)))
    with db.session() as s:
        sub = s.exec(select(TelegramSubscription)).one()
        assert sub.status == "canceled"
    assert [a for a in bf.access_actions(db, billing.tenant_id, PAYER)] == [
        "linked", "granted", "approved", "joined", "removed"]
