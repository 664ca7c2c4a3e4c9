"""``billing sync``: repair local state from Stripe, then report channel drift. Safe hourly from cron.

1. Stripe (HTTP, outside any transaction): the events it failed to deliver in the last 30 days
   (List Events, ``delivery_success=false``) and every subscription of the account.
2. One transaction: each undelivered event we do not have is ingested like a webhook (oldest
   first); then each subscription is observed *as of now* — newer than every event before, so it
   wins, and an old event retried later cannot undo it; access is reconciled for every linked user.
   ``--dry-run`` rolls the transaction back: the report says what would change.
3. Telegram (read only, source-neutral: :mod:`promostack_cli.billing.drift`): ``getChatMember`` for
   every known subscriber, to list who is paid (by any payment source) but not in the channel, and
   who is in the channel without paying.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import select

from promostack_cli.billing.access import reconcile
from promostack_cli.billing.config import BillingConfig
from promostack_cli.billing.models import TelegramSubscription
from promostack_cli.billing.stripe import service, state
from promostack_cli.billing.stripe.events import BadEvent, parse_event, subscription, subscription_of
from promostack_cli.core import claims

LOOKBACK = 30 * 86400


@dataclass
class SyncReport:
    dry_run: bool = False
    events_replayed: list[dict] = field(default_factory=list)
    changed: list[dict] = field(default_factory=list)
    access: list[dict] = field(default_factory=list)
    drift: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    subscriptions_seen: int = 0

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("dry_run", "subscriptions_seen", "events_replayed", "changed", "access",
                                              "drift", "notes")}


def _fields(row) -> tuple:
    return (row.status, row.cancel_at_period_end, row.current_period_end, row.telegram_user_id)


def apply(session, cfg: BillingConfig, events: list[dict], subscriptions: list[dict], now: datetime,
          report: SyncReport) -> None:
    """Step 2, in the caller's transaction."""
    known = service.known_event_ids(session, cfg.tenant_id, [e.get("id") for e in events if isinstance(e, dict)])
    for payload in sorted((e for e in events if isinstance(e, dict)), key=lambda e: (e.get("created") or 0)):
        if payload.get("id") in known:
            continue
        done = service.ingest(session, cfg, payload, now, source="sync")
        if done.stored:
            report.events_replayed.append({"event": payload.get("id"), "type": payload.get("type"),
                                           "status": done.status, "result": done.result})
        if done.access:
            uid = session.exec(select(TelegramSubscription.telegram_user_id).where(
                TelegramSubscription.tenant_id == cfg.tenant_id,
                TelegramSubscription.stripe_subscription_id == subscription_of(parse_event(payload)))).first()
            report.access.append({"telegram_user_id": uid, "access": done.access})
    at = int(now.timestamp())
    users: set[int] = set()
    for obj in subscriptions:
        try:
            snap = subscription(obj)
        except BadEvent as exc:
            report.notes.append(f"{str(obj.get('id'))[:60]}: {exc}")
            continue
        claims.serialise(session, "billing", cfg.tenant_id, snap.id)
        row = state.get_or_create(session, cfg.tenant_id, snap.id, now)
        before = _fields(row)
        row, _ = state.observe_snapshot(session, cfg, obj, at, f"sync:{at}", now)
        report.subscriptions_seen += 1
        after = _fields(row)
        if before != after:
            report.changed.append({"subscription": row.stripe_subscription_id, "email": row.email,
                                   "telegram_user_id": row.telegram_user_id,
                                   "from": before[0] if before[0] != after[0] else None, "status": row.status,
                                   "cancel_at_period_end": row.cancel_at_period_end,
                                   "period_end": row.current_period_end.isoformat() if row.current_period_end else None})
        if row.telegram_user_id:
            users.add(row.telegram_user_id)
    for uid in sorted(users):
        changed = reconcile(session, cfg, uid, now, "billing sync")
        if changed:
            report.access.append({"telegram_user_id": uid, "access": changed})


def run(db, cfg: BillingConfig, api, tg, now: datetime, *, dry_run: bool = False) -> SyncReport:
    report = SyncReport(dry_run=dry_run)
    events = list(api.undelivered_events(int(now.timestamp()) - LOOKBACK))
    subscriptions = list(api.subscriptions())
    session = db.session()
    try:
        session.begin()
        apply(session, cfg, events, subscriptions, now, report)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    if tg is None:
        report.notes.append("signal bot not connected: channel membership not checked")
        return report
    from promostack_cli.billing.drift import drift

    with db.session() as session:
        drift(session, cfg, tg, now, report)
    return report
