"""The payment-source registry (billing/sources.py): Stripe and manual grants are sources, a rail registered
at run time takes its place between them, its statuses and handlers join billing's, and a row of an
unknown source gets harmless defaults (pure: no database)."""

import pytest

from promostack_cli.billing import handlers, sources
from promostack_cli.telegram.routing import Router
from promostack_cli.telegram.updates import BotRef, parse
from tests import billing_fixtures as bf


class StarsLike(bf.FakePay):
    name = "starslike"

    def register(self, router):
        router.command("subscribe", self.on_subscribe, roles=("message_bot",), private=True)

    def on_subscribe(self, c):
        return None


def test_a_registered_rail_sits_between_stripe_and_manual_grants_until_taken_out():
    before = [s.name for s in sources.all_sources()]
    assert before[0] == "stripe" and before[-1] == "manual"
    rail = sources.register(bf.FakePay())
    try:
        assert [s.name for s in sources.all_sources()] == [*before[:-1], "fakepay", "manual"]
        assert sources.get("fakepay") is rail
        # its own statuses join the list `billing subscriptions --status` accepts, after Stripe's
        assert sources.statuses()[:8] == sources.get("stripe").statuses and sources.statuses()[-1] == "expired"
        with pytest.raises(ValueError):
            sources.register(bf.FakePay())  # one rail per name
    finally:
        sources.unregister(rail)
    assert [s.name for s in sources.all_sources()] == before
    with pytest.raises(ValueError):
        sources.register(type("Long", (bf.FakePay,), {"name": "elevenchars"})())  # the column holds 10


def test_a_row_of_an_unknown_source_offers_nothing_and_links_nothing():
    unknown = sources.get("gone")
    assert (unknown.configured(None, None), unknown.offer(None, None, 1, None), unknown.manage_link(None, None, None),
            unknown.references(None), unknown.find("sub_1"), unknown.still_billing(None)) == (
        False, None, None, (None, None), None, False)


def test_a_rails_update_handlers_come_before_billings():
    rail = sources.register(StarsLike())
    try:
        router = Router()
        handlers.register(router)
    finally:
        sources.unregister(rail)
    update = parse({"update_id": 1, "message": {"message_id": 1, "date": 1, "text": "/subscribe",
                                                "from": {"id": 5, "is_bot": False, "first_name": "Sam"},
                                                "chat": {"id": 5, "type": "private"}}},
                   BotRef(tenant_id=1, bot_id=42, role="message_bot"))
    assert router.handlers_for(update)[:2] == [rail.on_subscribe, handlers.on_subscribe]
