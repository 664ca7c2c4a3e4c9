"""Shared set-up for the billing tests: a tenant with billing configured, and event scenarios."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from promostack_cli.billing import config, tokens
from promostack_cli.billing.models import BillingAccessChange, TelegramSubscription
from promostack_cli.billing.sources import Offer, PaymentSource
from promostack_cli.outbox.models import OutboxMessage
from tests.fakes import stripe as fs

WHSEC = "whsec_testsecret0123456789abcdef"
OTHER_WHSEC = "whsec_othertenant0123456789abcd"
API_KEY = "sk_test_standin0123456789"
VIP = "-1001000000777"
T0 = 1_760_000_000           # period start of the scenarios
PERIOD = 30 * 86400
USER = 5550101


def setup_billing(db, box, tenant_id, *, now=None, **extra):
    with db.transaction() as s:
        config.setup(s, tenant_id, box, now or datetime.now(UTC), webhook_secret=WHSEC, api_key=API_KEY,
                     prices=[("price_vip_monthly", "VIP monthly")], vip_chat_id=VIP,
                     vip_link="https://t.me/+vipJoinRequestLink", **extra)
        return config.load(s, tenant_id, box)


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def scenario(cfg, *, cancelled: bool, sub_id: str = "sub_scenario1", uid: int = USER) -> list[dict]:
    """A real-shaped event history, in order; both API shapes mixed. Ends active, or cancelled."""
    token = tokens.checkout_token(cfg.link_secret, uid, T0)
    meta = {"telegram_user_id": str(uid), "promostack_token": token}
    incomplete = fs.subscription(sub_id, status="incomplete", start=T0, metadata=meta, shape="legacy")
    active = fs.subscription(sub_id, status="active", start=T0, metadata=meta)
    history = [
        fs.event("customer.subscription.created", incomplete, created=T0, shape="legacy"),
        fs.event("checkout.session.completed", fs.checkout_session(sub_id, client_reference_id=token, metadata=meta),
                 created=T0),
        fs.event("invoice.paid", fs.invoice(sub_id, start=T0, billing_reason="subscription_create", shape="legacy"),
                 created=T0 + 1, shape="legacy"),
        fs.event("customer.subscription.updated", active, created=T0 + 1, previous={"status": "incomplete"}),
        fs.event("customer.created", {"id": "cus_test1", "object": "customer"}, created=T0),  # not used: ignored
    ]
    if cancelled:
        ending = fs.subscription(sub_id, status="active", start=T0, metadata=meta, cancel_at_period_end=True)
        deleted = fs.subscription(sub_id, status="canceled", start=T0, metadata=meta, shape="legacy")
        history += [
            fs.event("customer.subscription.updated", ending, created=T0 + 100,
                     previous={"cancel_at_period_end": False}),
            fs.event("customer.subscription.deleted", deleted, created=T0 + PERIOD, shape="legacy"),
        ]
    return history


def subscription_rows(db, tenant_id):
    with db.session() as s:
        return list(s.exec(select(TelegramSubscription).where(TelegramSubscription.tenant_id == tenant_id)))


def access_actions(db, tenant_id, uid=USER):
    with db.session() as s:
        return [c.action for c in s.exec(select(BillingAccessChange).where(
            BillingAccessChange.tenant_id == tenant_id, BillingAccessChange.telegram_user_id == uid)
            .order_by(BillingAccessChange.id))]


def outbox(db, tenant_id):
    with db.session() as s:
        return [(m.bot_role, m.chat_id, m.method, m.payload) for m in s.exec(
            select(OutboxMessage).where(OutboxMessage.tenant_id == tenant_id).order_by(OutboxMessage.id))]


# A second payment source: what a rail such as Telegram Stars plugs into billing/sources.py. It does what
# the seam asks of a rail and nothing more: rows in the shared access vocabulary, linked with
# linking.link, access reconciled; a /subscribe offer, a manage link, its references and history.
PAY_URL = "https://pay.example/checkout/"
MANAGE_URL = "https://pay.example/manage"


class FakePay(PaymentSource):
    name, label, statuses = "fakepay", "FakePay", ("active", "past_due", "expired")
    ref_hint = "FakePay charge (fp_…)"

    def __init__(self, configured: bool = True):
        self.is_configured = configured

    def configured(self, session, cfg) -> bool:
        return self.is_configured

    def offer(self, session, cfg, telegram_user_id: int, now: datetime) -> Offer | None:
        return Offer("Or pay with FakePay: 500 a month.",
                     [[{"text": "Pay with FakePay", "url": f"{PAY_URL}{telegram_user_id}"}]])

    def manage_link(self, cfg, sub, now: datetime) -> str | None:
        return MANAGE_URL

    def references(self, sub):
        return sub.client_reference_id, None   # where this fake keeps its charge id

    def find(self, ref: str):
        from promostack_cli.billing.models import TelegramSubscription

        return TelegramSubscription.client_reference_id == ref if ref.startswith("fp_") else None

    def history(self, session, tenant_id: int, subs: list):
        return [], [{"at": None, "invoice": s.client_reference_id, "status": "paid", "amount": s.amount,
                     "currency": s.currency, "period_end": None} for s in subs]

    def still_billing(self, sub) -> bool:
        return sub.status == "active"

    def pay(self, session, cfg, uid: int, charge: str, until: datetime, now: datetime, *, reconcile: bool = True):
        """What the rail does when a payment arrives: its row, linked to the user, then access reconciled."""
        from promostack_cli.billing import access, linking
        from promostack_cli.billing.models import TelegramSubscription

        row = TelegramSubscription(tenant_id=cfg.tenant_id, source=self.name, client_reference_id=charge,
                                   status="active", current_period_start=now, current_period_end=until,
                                   paid_until=until, plan="VIP (FakePay)", amount=500, currency="xfp",
                                   interval="month", created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        linking.link(session, row, uid, "fakepay", now)
        if reconcile:
            access.reconcile(session, cfg, uid, now, f"FakePay {charge}")
        return row
