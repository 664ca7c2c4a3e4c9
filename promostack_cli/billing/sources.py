"""Payment sources ("rails"): the seam between billing's source-neutral code and each way of paying.

Billing has two halves. The source-neutral half decides who may be in the VIP channel and acts on
it: :mod:`.access` (the entitlement rule, grants and removals), :mod:`.channel` (join requests,
invite links, kicks), :mod:`.linking` (which Telegram user a payment belongs to; ``/subscribe``),
:mod:`.sweep`, :mod:`.notify`, :mod:`.reports` and :mod:`.handlers`. A rail (Stripe today, in
``billing/stripe/``; Telegram Stars next) turns its own payments into ``telegram_subscriptions``
rows and answers the questions of :class:`PaymentSource`. The neutral half never reads a rail's
objects; a rail never decides access.

**What a rail writes** (its half of the contract):

* one :class:`~.models.TelegramSubscription` per subscription, ``source`` = the rail's :attr:`~PaymentSource.name`;
* ``status`` in the shared access vocabulary (:data:`.models.KEEP_ACCESS`, :data:`.models.GRACE_ACCESS`):
  ``trialing``/``active`` keep access until the paid period (``current_period_end``, ``paid_until``)
  ends, plus the grace period unless ``cancel_at_period_end``; ``past_due`` keeps it for the grace
  period after the last paid period (``payment_failed_at`` when nothing was paid); any other status
  gives none. Stripe's statuses are that vocabulary; another rail maps its own states onto it as it
  stores them (a Stars subscription its user cancelled: ``active`` with ``cancel_at_period_end``
  until the paid-until time; a failed renewal: ``past_due``). Because every rail speaks it, one
  rule (:func:`.access.entitled`) and one due check (:mod:`.due`) read every rail's rows the same
  way, and a user keeps access while any row of any rail entitles them;
* the user only through :func:`.linking.link` (a subscription is never moved to another user),
  then :func:`.access.reconcile` for that user, in the same transaction as the change.

**What the neutral half asks** (every method has a harmless default, so a rail implements what it has):

=====================================  ========================================================
``name``, ``label``, ``statuses``      ``billing subscriptions --status`` (the union), messages
``paid``, ``unstarted``                :func:`.reports.stats` (revenue, new, churned: paid rails only)
``configured(session, cfg)``           :func:`offers`: is the rail set up for this tenant
``offer(session, cfg, uid, now)``      :func:`.linking.subscribe_offer`: text and buttons for ``/subscribe``
``manage_link(cfg, sub, now)``         :func:`.notify.payment_failed`: where the user fixes their payment
``references(sub)``                    :func:`.reports.describe`, :func:`.linking.issue`: the rail's ids
``find(ref)``, ``ref_hint``            :func:`.linking.find_subscription`: ``billing show/link REF``
``history(session, tenant_id, subs)``  :func:`.reports.show`: the rail's events and payments
``still_billing(sub)``, ``cancel_hint``  :func:`.reports.revoke` and its command: what the rail still charges
``register(router)``                   :func:`.handlers.register`: the rail's own update handlers
=====================================  ========================================================

**A new rail touches**: its package ``billing/<rail>/`` (``source.py`` with its :class:`PaymentSource`,
and whatever turns its payments into rows: update handlers through ``register``, a sync, routes),
one line in :data:`RAILS`, its package name in ``pyproject.toml``, and, for commands of its own,
``billing/cli.py``. Nothing in access, channel, linking, sweep or due.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The rails, in the order /subscribe offers them: "module:attribute" of a PaymentSource, loaded on first use.
RAILS = ("promostack_cli.billing.stripe.source:SOURCE",)


@dataclass(frozen=True)
class Offer:
    """What a rail adds to ``/subscribe``: a line of text and rows of inline keyboard buttons."""

    text: str
    buttons: list[list[dict]] = field(default_factory=list)


class PaymentSource:
    """A way of paying for VIP access. Subclass it; override what the rail has."""

    name: str = ""                       # TelegramSubscription.source (at most 10 characters)
    label: str = ""                      # for people: "Stripe"
    statuses: tuple[str, ...] = ()       # the statuses its rows may have (shared vocabulary, see above)
    paid: bool = True                    # money changes hands (a manual grant: no)
    unstarted: tuple[str, ...] = ()      # statuses of a subscription never paid for (not counted as new)
    ref_hint: str = ""                   # what find() recognises, for messages: "subscription (sub_…)"

    def configured(self, session, cfg) -> bool:
        """Whether the tenant has set this rail up (``cfg``: the tenant's :class:`~.config.BillingConfig`)."""
        return False

    def offer(self, session, cfg, telegram_user_id: int, now: datetime) -> Offer | None:
        """The rail's part of the answer to ``/subscribe`` for a user without access (None: nothing to offer)."""
        return None

    def manage_link(self, cfg, sub, now: datetime) -> str | None:
        """A link where the subscription's user manages it or fixes a failed payment (None: none)."""
        return None

    def references(self, sub) -> tuple[str | None, str | None]:
        """The rail's ids of a subscription and of its customer, as shown to the operator."""
        return None, None

    def find(self, ref: str) -> Any | None:
        """A condition on ``TelegramSubscription`` for a reference this rail recognises (None: not its own)."""
        return None

    def history(self, session, tenant_id: int, subs: list) -> tuple[list[dict], list[dict]]:
        """The rail's events and payments of these subscriptions, oldest first (``billing show``)."""
        return [], []

    def still_billing(self, sub) -> bool:
        """Whether the rail still charges the user for ``sub`` (a revoke does not stop it)."""
        return False

    def cancel_hint(self, refs: list[str]) -> str:
        """What the operator does to stop the rail charging for these subscriptions."""
        return f"{self.label or self.name} still bills {', '.join(refs)}: cancel it there if you mean to."

    def register(self, router) -> None:
        """The rail's own update handlers, registered before billing's (``router.before`` for the kinds
        billing handles too, such as ``chat_member``)."""


class ManualSource(PaymentSource):
    """``billing grant``: complimentary access that ends (``active``, cancelling at period end)."""

    name, label, statuses, paid = "manual", "manual grant", ("active", "canceled"), False


MANUAL = ManualSource()
_loaded: list[PaymentSource] | None = None
_extra: list[PaymentSource] = []


def all_sources() -> list[PaymentSource]:
    """Every rail, in :data:`RAILS` order, then rails registered at run time, then manual grants."""
    global _loaded
    if _loaded is None:
        from promostack_cli.core.domain import load

        _loaded = [load(ref) for ref in RAILS]
    return [*_loaded, *_extra, MANUAL]


def register(source: PaymentSource) -> PaymentSource:
    """Add a rail at run time (a plug-in, a test); :func:`unregister` takes it out again."""
    if not source.name or len(source.name) > 10 or any(s.name == source.name for s in all_sources()):
        raise ValueError(f"a payment source needs a new name of 1-10 characters (got {source.name!r})")
    _extra.append(source)
    return source


def unregister(source: PaymentSource) -> None:
    _extra.remove(source)


def get(name: str | None) -> PaymentSource:
    """The rail a subscription row came from; an unknown name gets the defaults (no offer, no links)."""
    found = next((s for s in all_sources() if s.name == name), None)
    return found if found is not None else PaymentSource()


def statuses() -> tuple[str, ...]:
    """Every status any rail stores, each once, in the rails' order."""
    return tuple(dict.fromkeys(status for s in all_sources() for status in s.statuses))


def offers(session, cfg, telegram_user_id: int, now: datetime) -> list[Offer]:
    """What every rail set up for the tenant offers this user, in the rails' order."""
    found = (s.offer(session, cfg, telegram_user_id, now) for s in all_sources() if s.configured(session, cfg))
    return [o for o in found if o is not None]
