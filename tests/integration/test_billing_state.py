"""The subscription state machine and access rules, on SQLite and PostgreSQL.

Acceptance: real-shaped events (both API shapes) in 100 shuffled orders with repeats end in the same
state as in order; a cancellation at period end keeps access until the period ends, then the sweep
removes it with no webhook at all.
"""

from __future__ import annotations

import random

import pytest

from promostack_cli.billing import tokens
from promostack_cli.billing.stripe import service
from promostack_cli.billing.access import aware
from promostack_cli.billing.sweep import sweep
from promostack_cli.tenants.service import add_tenant
from tests import billing_fixtures as bf
from tests.fakes import stripe as fs


def _final(db, tenant_id):
    rows = bf.subscription_rows(db, tenant_id)
    assert len(rows) == 1, "one subscription, however the events arrive"
    r = rows[0]
    return (r.stripe_subscription_id, r.status, r.cancel_at_period_end, r.current_period_end, r.paid_until,
            r.telegram_user_id, r.stripe_customer_id, r.email, r.plan, r.amount)


def _ingest_all(db, cfg, events, now):
    results = []
    for payload in events:
        with db.transaction() as s:
            results.append(service.ingest(s, cfg, payload, now))
    return results


@pytest.mark.parametrize("cancelled", [False, True], ids=["ends-active", "ends-cancelled"])
def test_shuffled_orders_with_repeats_end_in_the_same_state(db, box, cancelled):
    now = bf.at(bf.T0 + 50)
    rng = random.Random(12)
    with db.transaction() as s:
        ref_tenant = add_tenant(s, "ordered").id
    ref_cfg = bf.setup_billing(db, box, ref_tenant)
    history = bf.scenario(ref_cfg, cancelled=cancelled)
    _ingest_all(db, ref_cfg, history, now)
    expected = _final(db, ref_tenant)
    assert expected[1] == ("canceled" if cancelled else "active")
    assert expected[5] == bf.USER  # linked by the signed client_reference_id
    assert bf.access_actions(db, ref_tenant) == (["linked", "granted", "removed"] if cancelled
                                                 else ["linked", "granted"])
    for i in range(100):
        with db.transaction() as s:
            tid = add_tenant(s, f"shuffle-{i}").id
        cfg = bf.setup_billing(db, box, tid)
        # the same events (the link secret differs per tenant: sign the token again)
        events = bf.scenario(cfg, cancelled=cancelled)
        for e, ref in zip(events, history):
            e["id"] = ref["id"]
        deliveries = events + [rng.choice(events) for _ in range(rng.randint(1, 6))]
        rng.shuffle(deliveries)
        results = _ingest_all(db, cfg, deliveries, now)
        assert sum(r.stored for r in results) == len(events), "each event stored once"
        assert _final(db, tid) == expected, f"order {i}: {[e['type'] for e in deliveries]}"
        actions = [a for a in bf.access_actions(db, tid) if a in ("granted", "removed")]
        if cancelled:  # granted and removed once each, or never granted (the deletion came first)
            assert actions in (["granted", "removed"], [])
        else:
            assert actions == ["granted"]
        bans = [m for m in bf.outbox(db, tid) if m[2] == "banChatMember"]
        assert len(bans) == actions.count("removed")


def test_unknown_types_are_stored_and_ignored_and_repeats_do_nothing(db, box, tenant_id):
    cfg = bf.setup_billing(db, box, tenant_id)
    evt = fs.event("charge.refund.updated", {"id": "re_1", "object": "refund"}, created=bf.T0)
    first, again = _ingest_all(db, cfg, [evt, evt], bf.at(bf.T0))
    assert (first.stored, first.status) == (True, "ignored")
    assert (again.stored, again.status) == (False, "duplicate")


def test_an_older_event_never_moves_state_backwards(db, box, tenant_id):
    cfg = bf.setup_billing(db, box, tenant_id)
    past_due = fs.subscription("sub_old1", status="past_due", start=bf.T0 + bf.PERIOD)
    active = fs.subscription("sub_old1", status="active", start=bf.T0)
    _ingest_all(db, cfg, [fs.event("customer.subscription.updated", past_due, created=bf.T0 + bf.PERIOD + 5),
                          fs.event("customer.subscription.updated", active, created=bf.T0 + 10)], bf.at(bf.T0 + 20))
    row = bf.subscription_rows(db, tenant_id)[0]
    assert row.status == "past_due" and aware(row.current_period_start) == bf.at(bf.T0 + bf.PERIOD)


def test_cancel_at_period_end_keeps_access_until_the_end_then_the_sweep_removes_it(db, box, tenant_id):
    cfg = bf.setup_billing(db, box, tenant_id)
    token = tokens.checkout_token(cfg.link_secret, bf.USER, bf.T0)
    meta = {"promostack_token": token}
    end = bf.T0 + bf.PERIOD
    events = [fs.event("checkout.session.completed", fs.checkout_session("sub_cape", client_reference_id=token),
                       created=bf.T0),
              fs.event("customer.subscription.updated",
                       fs.subscription("sub_cape", start=bf.T0, end=end, metadata=meta), created=bf.T0 + 1),
              fs.event("customer.subscription.updated",
                       fs.subscription("sub_cape", start=bf.T0, end=end, metadata=meta, cancel_at_period_end=True),
                       created=bf.T0 + 3600)]
    _ingest_all(db, cfg, events, bf.at(bf.T0 + 3600))
    assert bf.access_actions(db, tenant_id) == ["linked", "granted"]
    # the portal cancellation did not remove anyone: the period is paid
    assert sweep(db, box, bf.at(end - 60))["removed"] == 0
    assert bf.access_actions(db, tenant_id)[-1] == "granted"
    # no webhook at all after the period: the sweep removes access (no grace after a cancellation)
    assert sweep(db, box, bf.at(end + 1)) == {"checked": 1, "granted": 0, "removed": 1, "links_revoked": 0}
    assert bf.access_actions(db, tenant_id)[-1] == "removed"
    calls = [(m[2], m[1], m[3].get("user_id"), m[3].get("only_if_banned")) for m in bf.outbox(db, tenant_id)
             if m[2] != "sendMessage"]
    assert calls == [("banChatMember", bf.VIP, bf.USER, None), ("unbanChatMember", bf.VIP, bf.USER, True)]
    told = [m[3]["text"] for m in bf.outbox(db, tenant_id) if m[2] == "sendMessage" and m[1] == str(bf.USER)]
    assert "access has ended" in told[-1] and "/subscribe" in told[-1]
    assert sweep(db, box, bf.at(end + 120))["removed"] == 0, "removed once"


def test_past_due_keeps_access_for_the_grace_period(db, box, tenant_id):
    cfg = bf.setup_billing(db, box, tenant_id, grace_seconds=3 * 86400)
    token = tokens.checkout_token(cfg.link_secret, bf.USER, bf.T0)
    renewal = bf.T0 + bf.PERIOD
    events = [fs.event("checkout.session.completed", fs.checkout_session("sub_pd", client_reference_id=token),
                       created=bf.T0),
              fs.event("customer.subscription.updated", fs.subscription("sub_pd", start=bf.T0), created=bf.T0 + 1),
              fs.event("invoice.payment_failed", fs.invoice("sub_pd", paid=False, start=renewal), created=renewal + 60),
              fs.event("customer.subscription.updated",
                       fs.subscription("sub_pd", status="past_due", start=renewal), created=renewal + 61)]
    _ingest_all(db, cfg, events, bf.at(renewal + 61))
    told = [m[3]["text"] for m in bf.outbox(db, tenant_id) if m[2] == "sendMessage"]
    assert any("did not go through" in t and "Update your card" in t for t in told)
    assert sweep(db, box, bf.at(renewal + 2 * 86400))["removed"] == 0
    assert sweep(db, box, bf.at(renewal + 3 * 86400 + 1))["removed"] == 1
