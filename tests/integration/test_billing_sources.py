"""The payment-source seam (billing/sources.py), on SQLite and PostgreSQL: a second rail registered beside
Stripe (tests/billing_fixtures.py's FakePay) offers its button in /subscribe next to Stripe's plans, and
its subscriptions grant, keep and remove VIP access through the same access, channel, sweep and report
code as Stripe's: one entitlement across rails.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from promostack_cli.billing import config, linking, notify, reports, sources, tokens
from promostack_cli.billing.access import has_access
from promostack_cli.billing.due import sweep_due
from promostack_cli.billing.stripe import service
from promostack_cli.billing.sweep import sweep
from promostack_cli.core.clock import utcnow
from tests import billing_fixtures as bf
from tests.conftest import wait_for
from tests.fakes import stripe as fs
from tests.integration.test_billing_webhook import PUBLIC, _calls, _join_request, _message
from tests.integration.test_billing_webhook import billing  # noqa: F401 (the receiver fixture)

BUYER, BOTH, MISSED = 5550501, 5550502, 5550503
GRACE = 3 * 86400


@pytest.fixture
def fakepay():
    rail = sources.register(bf.FakePay())
    yield rail
    sources.unregister(rail)


def _buttons(message):
    return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def test_subscribe_offers_both_rails_and_the_second_rail_lets_its_payer_in(billing, db, box, fake_tg,  # noqa: F811
                                                                           fakepay):
    billing.telegram("message_bot", _message(40, "/subscribe", BUYER))
    assert wait_for(lambda: fake_tg.sent(chat_id=BUYER))
    offer = fake_tg.sent(chat_id=BUYER)[-1]
    assert offer["text"].startswith("Choose your VIP plan (VIP monthly)") and "Or pay with FakePay" in offer["text"]
    stripe_button, fakepay_button = _buttons(offer)
    assert stripe_button["text"] == "VIP monthly"
    assert stripe_button["url"].startswith(f"{PUBLIC}/api/stripe/checkout/entrylab?t=tg_")
    assert "price=price_vip_monthly" in stripe_button["url"]
    assert fakepay_button == {"text": "Pay with FakePay", "url": f"{bf.PAY_URL}{BUYER}"}
    # the user pays through the second rail: access through the same code as Stripe's
    with db.transaction() as s:
        cfg = config.load(s, billing.tenant_id, box)
        fakepay.pay(s, cfg, BUYER, "fp_1", utcnow() + timedelta(days=30), utcnow())
    granted = [m[3]["text"] for m in bf.outbox(db, billing.tenant_id) if m[1] == str(BUYER)][-1]
    assert "VIP access is active" in granted and "VIP (FakePay)" in granted and "t.me/+vipJoinRequestLink" in granted
    fake_tg.add_join_request(int(bf.VIP), BUYER)
    billing.telegram("signal_bot", _join_request(41, BUYER))
    assert wait_for(lambda: _calls(fake_tg, "approveChatJoinRequest") == [("approveChatJoinRequest", BUYER)])
    # with access, by whichever rail, /subscribe offers nothing
    billing.telegram("message_bot", _message(42, "/subscribe", BUYER))
    assert wait_for(lambda: any(m["text"] == "You already have VIP access. 🎉" for m in fake_tg.sent(chat_id=BUYER)))
    assert bf.access_actions(db, billing.tenant_id, BUYER) == ["linked", "granted", "approved"]


def test_a_rail_not_set_up_for_the_tenant_offers_nothing(db, box, tenant_id):
    cfg = bf.setup_billing(db, box, tenant_id)
    rail = sources.register(bf.FakePay(configured=False))
    try:
        with db.session() as s:
            assert linking.subscribe_offer(s, cfg, BUYER, utcnow()) == (
                "Subscriptions are not open yet. Please ask the channel's admin.", None)  # no API key, no public URL
    finally:
        sources.unregister(rail)


def _stripe_until(cfg, uid, end):
    """A Stripe subscription for ``uid``, cancelled at period end (no grace): access until ``end``."""
    token = tokens.checkout_token(cfg.link_secret, uid, bf.T0)
    meta = {"promostack_token": token}
    return [fs.event("checkout.session.completed", fs.checkout_session("sub_both", client_reference_id=token),
                     created=bf.T0),
            fs.event("customer.subscription.updated", fs.subscription("sub_both", start=bf.T0, end=end, metadata=meta,
                                                                      cancel_at_period_end=True), created=bf.T0 + 1)]


def test_one_entitlement_across_rails_through_the_same_sweep(db, box, tenant_id, fakepay):
    cfg = bf.setup_billing(db, box, tenant_id, grace_seconds=GRACE)
    stripe_end, fakepay_end = bf.T0 + bf.PERIOD, bf.T0 + 2 * bf.PERIOD
    for payload in _stripe_until(cfg, BOTH, stripe_end):
        with db.transaction() as s:
            service.ingest(s, cfg, payload, bf.at(bf.T0 + 1))
    with db.transaction() as s:  # the same user also pays on the second rail, for longer
        fakepay.pay(s, cfg, BOTH, "fp_both", bf.at(fakepay_end), bf.at(bf.T0 + 60))
    assert bf.access_actions(db, tenant_id, BOTH) == ["linked", "granted", "linked"], "granted once"
    # Stripe's period ends: the second rail still covers the user
    assert sweep(db, box, bf.at(stripe_end + 1))["removed"] == 0
    with db.session() as s:
        assert has_access(s, cfg, BOTH, bf.at(stripe_end + 1))
    # the second rail's period ends: its grace applies as it would to Stripe's, then the sweep removes
    assert sweep(db, box, bf.at(fakepay_end + GRACE - 60))["removed"] == 0
    with db.engine.connect() as conn:
        assert sweep_due(conn, bf.at(fakepay_end + GRACE + 1), bf.at(fakepay_end + GRACE + 1))
    assert sweep(db, box, bf.at(fakepay_end + GRACE + 1))["removed"] == 1
    assert bf.access_actions(db, tenant_id, BOTH)[-1] == "removed"
    bans = [m for m in bf.outbox(db, tenant_id) if m[2] in ("banChatMember", "unbanChatMember")]
    assert [(m[2], m[3]["user_id"]) for m in bans] == [("banChatMember", BOTH), ("unbanChatMember", BOTH)]


def test_a_second_rail_payment_a_missed_step_left_out_is_granted_by_the_sweep(db, box, tenant_id, fakepay):
    cfg = bf.setup_billing(db, box, tenant_id)
    now = utcnow()
    with db.transaction() as s:
        fakepay.pay(s, cfg, MISSED, "fp_missed", now + timedelta(days=30), now, reconcile=False)
    with db.engine.connect() as conn:
        assert sweep_due(conn, now, now)
    assert sweep(db, box, now)["granted"] == 1
    assert bf.access_actions(db, tenant_id, MISSED) == ["linked", "granted"]


def test_reports_links_and_notices_ask_the_rail(db, box, tenant_id, fakepay):
    cfg = bf.setup_billing(db, box, tenant_id)
    now = utcnow()
    with db.transaction() as s:
        row = fakepay.pay(s, cfg, BUYER, "fp_shown", now + timedelta(days=30), now)
    with db.transaction() as s:
        assert linking.find_subscription(s, tenant_id, "fp_shown").id == row.id
        shown = reports.show(s, cfg, "fp_shown", now)
        assert [(x["source"], x["subscription"], x["access"]) for x in shown["subscriptions"]] == [
            ("fakepay", "fp_shown", True)]
        assert [p["invoice"] for p in shown["payments"]] == ["fp_shown"]
        with pytest.raises(Exception, match=r"FakePay charge \(fp_…\) or e-mail address"):
            linking.find_subscription(s, tenant_id, "nonsense")
        assert reports.stats(s, cfg, now)["mrr"] == {"xfp": 5.0}
        notify.payment_failed(s, cfg, s.get(type(row), row.id), "fakepay:failed:1", now)
    told = [m[3]["text"] for m in bf.outbox(db, tenant_id) if m[1] == str(BUYER)]
    assert f'href="{bf.MANAGE_URL}"' in told[-1], "the rail's own manage link"
    with db.transaction() as s:
        revoked = reports.revoke(s, cfg, BUYER, now)
    assert revoked["still_billed_by_fakepay"] == ["fp_shown"] and revoked["still_billed_by_stripe"] == []
    assert revoked["access"] == "removed"


def test_stripe_is_a_registered_source_whose_rows_keep_their_behaviour(db, box, tenant_id):
    names = [s.name for s in sources.all_sources()]
    assert names[0] == "stripe" and names[-1] == "manual"
    cfg = bf.setup_billing(db, box, tenant_id)
    now = int(time.time())
    for payload in _stripe_until(cfg, BOTH, now + 86400):
        with db.transaction() as s:
            service.ingest(s, cfg, payload, utcnow())
    with db.session() as s:
        (row,) = bf.subscription_rows(db, tenant_id)
        assert row.source == "stripe" and sources.get(row.source).references(row) == ("sub_both", "cus_test1")
        assert sources.get("stripe").manage_link(cfg, row, utcnow()) is None  # no PROMOSTACK_PUBLIC_URL here
