"""A loopback stand-in for the few Stripe API endpoints billing uses, and real-shaped Stripe objects.

Served (as ``stripe.StripeClient(..., base_addresses={"api": fake.base_url})`` calls them):
``GET /v1/subscriptions`` (list, ``status=all``, ``starting_after``), ``GET /v1/subscriptions/{id}``,
``GET /v1/events`` (``delivery_success``, ``created[gte]``, ``types[]``), ``POST /v1/checkout/sessions``
and ``POST /v1/billing_portal/sessions`` (form-encoded, nested ``a[b][0][c]`` keys). Answers use
Stripe's list objects and error envelopes: ``{"error": {"type": "invalid_request_error", "code":
"resource_missing", "message": "No such subscription: 'sub_x'", "param": "id"}}`` (404), 401 for an
unknown key.

Builders (:func:`subscription`, :func:`invoice`, :func:`checkout_session`, :func:`event`) make
objects shaped like Stripe's, in the API shape before 2025-03-31 (``legacy``: the period on the
subscription, ``invoice.subscription``) or since (``current``: the period on the items,
``invoice.parent.subscription_details``); :func:`sign` signs a payload as Stripe does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_VERSION_CURRENT, API_VERSION_LEGACY = "2025-09-30.clover", "2024-06-20"


def _rid(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def sign(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send for ``payload``."""
    body = payload.decode() if isinstance(payload, bytes) else payload
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def price(price_id: str = "price_vip_monthly", amount: int = 4900, currency: str = "usd", interval: str = "month") -> dict:
    return {"id": price_id, "object": "price", "active": True, "currency": currency, "unit_amount": amount,
            "unit_amount_decimal": str(amount), "type": "recurring", "nickname": None, "livemode": False,
            "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"},
            "product": "prod_vip"}


def subscription(sub_id: str, *, customer: str = "cus_test1", status: str = "active", start: int = 1_760_000_000,
                 end: int | None = None, cancel_at_period_end: bool = False, metadata: dict | None = None,
                 shape: str = "current", price_obj: dict | None = None, created: int | None = None) -> dict:
    end = end if end is not None else start + 30 * 86400
    p = price_obj or price()
    item = {"id": "si_" + sub_id[4:], "object": "subscription_item", "price": p, "quantity": 1,
            "subscription": sub_id, "created": created or start}
    sub = {"id": sub_id, "object": "subscription", "customer": customer, "status": status, "livemode": False,
           "cancel_at_period_end": cancel_at_period_end, "cancel_at": end if cancel_at_period_end else None,
           "canceled_at": None, "ended_at": None, "created": created or start, "start_date": created or start,
           "collection_method": "charge_automatically", "metadata": metadata or {},
           "items": {"object": "list", "data": [item], "has_more": False, "url": f"/v1/subscription_items?subscription={sub_id}"},
           "latest_invoice": None, "trial_end": None, "trial_start": None}
    if shape == "legacy":
        sub.update(current_period_start=start, current_period_end=end, plan={**p, "object": "plan", "amount": p["unit_amount"],
                                                                              "interval": p["recurring"]["interval"]})
    else:
        item.update(current_period_start=start, current_period_end=end)
    if status == "canceled":
        sub["canceled_at"] = sub["ended_at"] = end
    return sub


def invoice(sub_id: str, *, inv_id: str | None = None, customer: str = "cus_test1", paid: bool = True,
            amount: int = 4900, currency: str = "usd", start: int = 1_760_000_000, end: int | None = None,
            shape: str = "current", billing_reason: str = "subscription_cycle", metadata: dict | None = None,
            email: str = "sam@example.com") -> dict:
    end = end if end is not None else start + 30 * 86400
    inv = {"id": inv_id or _rid("in"), "object": "invoice", "customer": customer, "customer_email": email,
           "status": "paid" if paid else "open", "paid": paid, "amount_due": amount,
           "amount_paid": amount if paid else 0, "amount_remaining": 0 if paid else amount, "currency": currency,
           "billing_reason": billing_reason, "livemode": False, "period_start": start, "period_end": start,
           "hosted_invoice_url": "https://invoice.stripe.com/i/acct_test/test_" + secrets.token_hex(6),
           "lines": {"object": "list", "has_more": False, "data": [
               {"id": _rid("il"), "object": "line_item", "amount": amount, "currency": currency,
                "period": {"start": start, "end": end}}]}}
    if shape == "legacy":
        inv["subscription"] = sub_id
        inv["subscription_details"] = {"metadata": metadata or {}}
    else:
        inv["parent"] = {"type": "subscription_details", "quote_details": None,
                         "subscription_details": {"subscription": sub_id, "metadata": metadata or {}}}
    return inv


def checkout_session(sub_id: str, *, customer: str = "cus_test1", client_reference_id: str | None = None,
                     email: str = "sam@example.com", metadata: dict | None = None, cs_id: str | None = None) -> dict:
    return {"id": cs_id or _rid("cs_test"), "object": "checkout.session", "mode": "subscription", "status": "complete",
            "payment_status": "paid", "customer": customer, "subscription": sub_id,
            "client_reference_id": client_reference_id, "customer_details": {"email": email, "name": "Sam"},
            "customer_email": None, "metadata": metadata or {}, "livemode": False, "amount_total": 4900,
            "currency": "usd", "url": None}


def event(etype: str, obj: dict, *, created: int, event_id: str | None = None, shape: str = "current",
          previous: dict | None = None) -> dict:
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {"id": event_id or _rid("evt"), "object": "event", "type": etype, "created": created, "livemode": False,
            "api_version": API_VERSION_CURRENT if shape == "current" else API_VERSION_LEGACY, "data": data,
            "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None}}


def _decode_form(body: str) -> dict:
    """``a[b][0][c]=1`` → ``{"a": {"b": [{"c": "1"}]}}`` (Stripe's form encoding)."""
    out: dict = {}
    for key, value in urllib.parse.parse_qsl(body, keep_blank_values=True):
        parts = [key.split("[", 1)[0]] + re.findall(r"\[([^\]]*)\]", key)
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt_is_index = not last and parts[i + 1].isdigit()
            if isinstance(node, list):
                idx = int(part)
                while len(node) <= idx:
                    node.append({} if not nxt_is_index else [])
                if last:
                    node[idx] = value
                else:
                    node = node[idx]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, [] if nxt_is_index else {})
    return out


class FakeStripe:
    def __init__(self, api_key: str = "sk_test_standin0123456789"):
        self.api_keys = {api_key}
        self.subscriptions: dict[str, dict] = {}
        self.events: list[dict] = []           # with "_delivered": bool
        self.checkouts: list[dict] = []        # sessions created (with the params sent)
        self.portals: list[dict] = []
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- setup --------------------------------------------------------------------------------
    def put_subscription(self, sub: dict) -> None:
        with self._lock:
            self.subscriptions[sub["id"]] = sub

    def add_event(self, evt: dict, *, delivered: bool) -> None:
        with self._lock:
            self.events.append({**evt, "_delivered": delivered})

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeStripe":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_" + secrets.token_hex(7))
                self.end_headers()
                self.wfile.write(data)

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                status, answer = fake.handle(method, self.path, self.headers.get("Authorization", ""), body)
                self._answer(status, answer)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- the API ------------------------------------------------------------------------------
    @staticmethod
    def _error(status: int, message: str, *, code: str | None = None, param: str | None = None,
               etype: str = "invalid_request_error") -> tuple[int, dict]:
        err = {"type": etype, "message": message}
        if code:
            err.update(code=code, doc_url=f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}")
        if param:
            err["param"] = param
        return status, {"error": err}

    @staticmethod
    def _list(url: str, items: list[dict], query: dict) -> dict:
        limit = int(query.get("limit", ["10"])[0])
        after = query.get("starting_after", [None])[0]
        if after:
            ids = [i["id"] for i in items]
            items = items[ids.index(after) + 1:] if after in ids else []
        return {"object": "list", "url": url, "has_more": len(items) > limit, "data": items[:limit]}

    def handle(self, method: str, path: str, auth: str, body: str) -> tuple[int, dict]:
        parts = urllib.parse.urlsplit(path)
        query = urllib.parse.parse_qs(parts.query)
        with self._lock:
            self.requests.append((method, parts.path))
            key = auth[7:] if auth.startswith("Bearer ") else ""
            if key not in self.api_keys:
                shown = f"{key[:8]}{'*' * 4}{key[-4:]}" if key else ""
                return self._error(401, f"Invalid API Key provided: {shown}")
            route = parts.path.rstrip("/")
            if method == "GET" and route == "/v1/subscriptions":
                subs = sorted(self.subscriptions.values(), key=lambda s: -s["created"])
                status = query.get("status", [None])[0]
                if status not in (None, "all"):
                    subs = [s for s in subs if s["status"] == status]
                elif status is None:
                    subs = [s for s in subs if s["status"] != "canceled"]
                return 200, self._list("/v1/subscriptions", subs, query)
            if method == "GET" and route.startswith("/v1/subscriptions/"):
                sub = self.subscriptions.get(route.rsplit("/", 1)[1])
                if sub is None:
                    return self._error(404, f"No such subscription: '{route.rsplit('/', 1)[1]}'",
                                       code="resource_missing", param="id")
                return 200, sub
            if method == "GET" and route == "/v1/events":
                evts = sorted(self.events, key=lambda e: -e["created"])
                if query.get("delivery_success", [None])[0] == "false":
                    evts = [e for e in evts if not e["_delivered"]]
                gte = query.get("created[gte]", [None])[0]
                if gte is not None:
                    evts = [e for e in evts if e["created"] >= int(gte)]
                types = [v for k, vs in query.items() if k.startswith("types[") for v in vs]
                if types:
                    evts = [e for e in evts if e["type"] in types]
                clean = [{k: v for k, v in e.items() if k != "_delivered"} for e in evts]
                return 200, self._list("/v1/events", clean, query)
            if method == "POST" and route == "/v1/checkout/sessions":
                params = _decode_form(body)
                if not params.get("success_url"):
                    return self._error(400, "Missing required param: success_url.", code="parameter_missing",
                                       param="success_url")
                prices = [li.get("price") for li in params.get("line_items", [])]
                if not prices or not all(p and p.startswith("price_") for p in prices):
                    return self._error(400, f"No such price: '{prices[0] if prices else ''}'", code="resource_missing",
                                       param="line_items[0][price]")
                cs_id = _rid("cs_test")
                session = {"id": cs_id, "object": "checkout.session", "mode": params.get("mode"), "status": "open",
                           "client_reference_id": params.get("client_reference_id"),
                           "metadata": params.get("metadata", {}), "success_url": params["success_url"],
                           "cancel_url": params.get("cancel_url"), "payment_status": "unpaid", "livemode": False,
                           "url": f"https://checkout.stripe.com/c/pay/{cs_id}"}
                self.checkouts.append({"session": session, "params": params})
                return 200, session
            if method == "POST" and route == "/v1/billing_portal/sessions":
                params = _decode_form(body)
                if not params.get("customer"):
                    return self._error(400, "Missing required param: customer.", code="parameter_missing",
                                       param="customer")
                portal = {"id": _rid("bps"), "object": "billing_portal.session", "customer": params["customer"],
                          "return_url": params.get("return_url"), "livemode": False,
                          "url": "https://billing.stripe.com/p/session/test_" + secrets.token_hex(8)}
                self.portals.append(portal)
                return 200, portal
            return self._error(404, f"Unrecognized request URL ({method}: {parts.path}).")
