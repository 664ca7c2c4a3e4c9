"""Demo helper: write real-shaped Stripe events and sign them as Stripe does (used by demo.sh).

    python stripe_event.py checkout CHECKOUT.json ACTIVE.json DELETED.json
    python stripe_event.py sign FILE.json whsec_...      # prints a Stripe-Signature header
"""

import hashlib
import hmac
import json
import sys
import time


def sign(path: str, secret: str) -> str:
    body = open(path, encoding="utf-8").read()
    t = int(time.time())
    return f"t={t},v1={hmac.new(secret.encode(), f'{t}.{body}'.encode(), hashlib.sha256).hexdigest()}"


def subscription(status: str, now: int) -> dict:
    price = {"id": "price_demo_monthly", "object": "price", "currency": "usd", "unit_amount": 4900,
             "recurring": {"interval": "month", "interval_count": 1}}
    return {"id": "sub_demo1", "object": "subscription", "customer": "cus_demo1", "status": status,
            "cancel_at_period_end": False, "created": now - 60, "metadata": {},
            "items": {"object": "list", "data": [{"id": "si_demo1", "object": "subscription_item", "price": price,
                                                  "quantity": 1, "current_period_start": now - 60,
                                                  "current_period_end": now + 30 * 86400}]}}


def event(n: int, etype: str, obj: dict, created: int) -> dict:
    return {"id": f"evt_demo{n}", "object": "event", "type": etype, "created": created, "livemode": False,
            "api_version": "2025-09-30.clover", "data": {"object": obj}}


def main() -> None:
    if sys.argv[1] == "sign":
        print(sign(sys.argv[2], sys.argv[3]))
        return
    now = int(time.time())
    checkout = {"id": "cs_test_demo1", "object": "checkout.session", "mode": "subscription", "payment_status": "paid",
                "customer": "cus_demo1", "subscription": "sub_demo1", "client_reference_id": None,
                "customer_details": {"email": "dana@example.com"}, "metadata": {}}
    files = zip(sys.argv[2:5], [event(1, "checkout.session.completed", checkout, now - 50),
                                event(2, "customer.subscription.updated", subscription("active", now), now - 49),
                                event(3, "customer.subscription.deleted", subscription("canceled", now), now - 10)])
    for path, evt in files:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(evt, fh)


if __name__ == "__main__":
    main()
