"""``promostack billing`` through the installed entry point, against the Stripe and Bot API stand-ins,
on SQLite and PostgreSQL.

Acceptance: ``billing sync`` against the Stripe stand-in repairs a subscription whose events were
never delivered. Bad input: one line, exit 2, nothing written; secrets never printed.
"""

from __future__ import annotations

import time

import pytest

from promostack_cli.billing import tokens
from tests import billing_fixtures as bf
from tests.conftest import MESSAGE_TOKEN, SIGNAL_TOKEN
from tests.fakes import stripe as fs
from tests.fakes.stripe import FakeStripe


@pytest.fixture
def stripe_fake():
    fake = FakeStripe(api_key=bf.API_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture
def bcli(cli, stripe_fake, fake_tg):
    fake_tg.add_chat(int(bf.VIP), type="channel", title="VIP")
    fake_tg.track_members(int(bf.VIP))
    cli.env["PROMOSTACK_STRIPE_API_URL"] = stripe_fake.base_url
    cli.env["PROMOSTACK_TENANT"] = "entrylab"
    assert cli("tenants", "add", "entrylab").code == 0
    assert cli("connections", "set", "signal_bot", "--token", SIGNAL_TOKEN, "--vip-channel", bf.VIP,
               "--free-channel", "@entrylab_free", "--no-webhook").code == 0
    assert cli("connections", "set", "message_bot", "--token", MESSAGE_TOKEN, "--no-webhook").code == 0
    return cli


def _setup(cli, *extra):
    return cli("billing", "setup", "--webhook-secret", bf.WHSEC, "--api-key", bf.API_KEY, "--price",
               "price_vip_monthly", "--name", "VIP monthly", "--grace", "3d", *extra)


def test_setup_validates_everything_first_and_show_masks_secrets(bcli):
    for args, word in ((["--webhook-secret", "nope"], "whsec_"), (["--webhook-secret", bf.WHSEC, "--grace", "99d"], "--grace"),
                       (["--webhook-secret", bf.WHSEC, "--price", "prod_x"], "price"),
                       (["--webhook-secret", bf.WHSEC, "--api-key", "pk_test_abc"], "--api-key"),
                       (["--webhook-secret", bf.WHSEC, "--vip-chat", "@vip"], "--vip-chat")):
        r = bcli("billing", "setup", *args)
        assert r.code == 2 and word in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    assert bcli("billing", "settings", "show").code == 2  # nothing was written
    r = _setup(bcli)
    assert r.code == 0, r.stderr
    assert "/api/stripe/webhook/entrylab" in r.stderr
    shown = bcli("billing", "settings", "show", "--json").json()
    assert shown["vip_chat"] == bf.VIP  # taken from the signal bot's VIP channel
    assert shown["plans"] == [{"price": "price_vip_monthly", "name": "VIP monthly"}] and shown["grace"] == "3d"
    table = bcli("billing", "settings", "show")
    for out in (r.stdout + r.stderr, table.stdout, str(shown)):
        assert bf.WHSEC not in out and bf.API_KEY not in out
    assert "…" in shown["webhook_secret"] and "…" in shown["api_key"]


def test_access_mode_invite_link_and_its_link_lifetime(bcli):
    assert _setup(bcli).code == 0
    shown = bcli("billing", "settings", "show", "--json").json()
    assert (shown["access_mode"], shown["invite_ttl"]) == ("join_request", "24h")
    for ttl in ("1m", "8d", "soon"):
        r = bcli("billing", "setup", "--access-mode", "invite_link", "--invite-ttl", ttl)
        assert r.code == 2 and "--invite-ttl" in r.stderr and len(r.stderr.strip().splitlines()) == 1, (ttl, r.stderr)
    assert bcli("billing", "settings", "show", "--json").json()["access_mode"] == "join_request"  # nothing written
    r = bcli("billing", "setup", "--access-mode", "invite_link", "--invite-ttl", "12h")
    assert r.code == 0, r.stderr
    shown = bcli("billing", "settings", "show", "--json").json()
    assert (shown["access_mode"], shown["invite_ttl"]) == ("invite_link", "12h")


def test_sync_repairs_a_subscription_whose_events_were_never_delivered(bcli, stripe_fake, fake_tg, db_url):
    assert _setup(bcli).code == 0
    # the checkout went through on Stripe; no webhook ever reached us
    from promostack_cli.billing import config
    from promostack_cli.core.secrets import SecretBox
    from promostack_cli.db import Database
    from tests.conftest import TEST_KEY

    database = Database(db_url)
    with database.session() as s:
        cfg = config.load(s, 1, SecretBox(TEST_KEY))
    now = int(time.time())
    token = tokens.checkout_token(cfg.link_secret, bf.USER, now - 3600)
    meta = {"telegram_user_id": str(bf.USER), "promostack_token": token}
    sub = fs.subscription("sub_missed1", start=now - 3600, end=now + 29 * 86400, metadata=meta, created=now - 3600)
    stripe_fake.put_subscription(sub)
    stripe_fake.add_event(fs.event("checkout.session.completed",
                                   fs.checkout_session("sub_missed1", client_reference_id=token), created=now - 3600),
                          delivered=False)
    stripe_fake.add_event(fs.event("invoice.paid", fs.invoice("sub_missed1", start=now - 3600, end=now + 29 * 86400),
                                   created=now - 3599), delivered=False)
    stripe_fake.add_event(fs.event("customer.created", {"id": "cus_test1", "object": "customer"}, created=now - 3600),
                          delivered=True)
    assert bcli("billing", "subscriptions", "--json").json() == []
    dry = bcli("billing", "sync", "--dry-run", "--json")
    assert dry.code == 0, dry.stderr
    assert dry.json()["dry_run"] is True and [c["subscription"] for c in dry.json()["changed"]] == ["sub_missed1"]
    assert bcli("billing", "subscriptions", "--json").json() == []  # the dry run changed nothing
    r = bcli("billing", "sync", "--json")
    assert r.code == 0, r.stderr
    report = r.json()
    assert sorted(e["type"] for e in report["events_replayed"]) == ["checkout.session.completed", "invoice.paid"]
    assert report["access"] == [{"telegram_user_id": bf.USER, "access": "granted"}]
    # paid, but not in the channel yet: drift, reported
    assert report["drift"] == [{"telegram_user_id": bf.USER, "drift": "paid, not in the channel",
                                "channel_status": "left"}]
    subs = bcli("billing", "subscriptions", "--json").json()
    assert [(s["subscription"], s["status"], s["telegram_user_id"], s["access"]) for s in subs] == [
        ("sub_missed1", "active", bf.USER, True)]
    # running it again (hourly from cron) changes nothing
    again = bcli("billing", "sync", "--json").json()
    assert again["changed"] == [] and again["events_replayed"] == [] and again["access"] == []
    events = bcli("billing", "events", "--json").json()
    assert {e["source"] for e in events} == {"sync"}
    shown = bcli("billing", "show", str(bf.USER), "--json").json()
    assert shown["access"] == "granted" and [p["status"] for p in shown["payments"]] == ["paid"]
    stats = bcli("billing", "stats", "--json").json()
    assert stats["active_members"] == 1 and stats["mrr"] == {"usd": 49.0}


def test_checkout_link_carries_a_signed_token_for_the_user(bcli, stripe_fake):
    assert _setup(bcli).code == 0
    r = bcli("billing", "checkout-link", "--telegram-user", str(bf.USER), "--json")
    assert r.code == 0, r.stderr
    assert r.json()["url"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    params = stripe_fake.checkouts[-1]["params"]
    ref = params["client_reference_id"]
    assert len(ref) <= 200 and tokens.TOKEN_RE.match(ref)
    assert params["subscription_data"]["metadata"] == {"telegram_user_id": str(bf.USER), "promostack_token": ref}
    assert params["line_items"] == [{"price": "price_vip_monthly", "quantity": "1"}]
    bad = bcli("billing", "checkout-link", "--telegram-user", str(bf.USER), "--price", "price_other")
    assert bad.code == 2 and "not one of this tenant's plans" in bad.stderr
    assert bcli("billing", "checkout-link", "--telegram-user", "abc").code == 2


def test_stripe_refusing_the_key_is_one_line_exit_1(bcli, stripe_fake):
    assert _setup(bcli).code == 0
    stripe_fake.api_keys.clear()
    r = bcli("billing", "sync")
    assert r.code == 1 and "API key" in r.stderr and "Traceback" not in r.stderr
    assert bf.API_KEY not in r.stderr


def test_grant_and_revoke(bcli):
    assert _setup(bcli).code == 0
    r = bcli("billing", "grant", "5550999", "--days", "7", "--note", "giveaway winner")
    assert r.code == 0, r.stderr
    assert bcli("billing", "show", "5550999", "--json").json()["access"] == "granted"
    assert bcli("billing", "grant", "5550999", "--days", "0").code == 2
    r = bcli("billing", "revoke", "5550999", "--json")
    assert r.code == 0 and r.json()["access"] == "removed"
    calls = [m for m in bcli("outbox", "list", "--json").json() if m["method"] != "sendMessage"]
    assert [m["method"] for m in reversed(calls)] == ["banChatMember", "unbanChatMember"]
    assert bcli("billing", "revoke", "5550999").code == 2  # nothing left to revoke
    shown = bcli("billing", "show", "5550999", "--json").json()
    assert [c["action"] for c in shown["access_changes"]] == ["granted", "removed"]


def test_verify_codes_are_single_use_expiring_and_rate_limited(db, box, tenant_id):
    from promostack_cli.billing import linking
    from promostack_cli.billing.stripe.state import get_or_create
    from promostack_cli.core.clock import utcnow

    cfg = bf.setup_billing(db, box, tenant_id)
    now = utcnow()
    with db.transaction() as s:
        row = get_or_create(s, tenant_id, "sub_code1", now)
        row.email, row.status = "ann@example.com", "active"
    with db.transaction() as s:
        code = linking.issue(s, cfg, "ann@example.com", now)["code"]
    with db.transaction() as s:
        assert "not valid" in linking.by_code(s, cfg, 777, "ZZZZ-ZZZZ", now)
    with db.transaction() as s:
        assert "linked" in linking.by_code(s, cfg, 777, code.lower(), now)
    with db.transaction() as s:  # single use: someone else cannot take it over
        assert "not valid" in linking.by_code(s, cfg, 888, code, now)
    assert bf.subscription_rows(db, tenant_id)[0].telegram_user_id == 777
    for _ in range(4):  # 5 attempts an hour
        with db.transaction() as s:
            linking.by_code(s, cfg, 888, "ABCD-EFGH", now)
    with db.transaction() as s:
        assert "Too many attempts" in linking.by_code(s, cfg, 888, code, now)
    with db.transaction() as s:  # an expired code links nothing
        other = get_or_create(s, tenant_id, "sub_code2", now)
        other.email = "bo@example.com"
    with db.transaction() as s:
        late = linking.issue(s, cfg, "bo@example.com", now)["code"]
    from datetime import timedelta

    with db.transaction() as s:
        assert "not valid" in linking.by_code(s, cfg, 999, late, now + timedelta(days=8))
