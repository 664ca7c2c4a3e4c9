"""Reading stored signals for the operator: lists, one signal with its events, a period's signals."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from promostack_cli.core.errors import NotFoundError
from promostack_cli.forex.models import ForexSignal, ForexSignalEvent


def list_signals(session: Session, tenant_id: int, *, status: str | None = None, limit: int = 50) -> list[ForexSignal]:
    """Newest first; ``status`` open or closed (None: all)."""
    stmt = select(ForexSignal).where(ForexSignal.tenant_id == tenant_id)
    if status:
        stmt = stmt.where(ForexSignal.status == status)
    return list(session.exec(stmt.order_by(ForexSignal.opened_at.desc(), ForexSignal.id.desc()).limit(limit)))


def signal_with_events(session: Session, tenant_id: int, signal_id: int, tenant_label: str) -> tuple[ForexSignal, list[ForexSignalEvent]]:
    signal = session.get(ForexSignal, signal_id)
    if signal is None or signal.tenant_id != tenant_id:
        raise NotFoundError(f"No signal {signal_id} for tenant '{tenant_label}'.")
    events = session.exec(select(ForexSignalEvent).where(ForexSignalEvent.signal_id == signal.id)
                          .order_by(ForexSignalEvent.at, ForexSignalEvent.id))
    return signal, list(events)


def signals_opened_since(session: Session, tenant_id: int, days: int, now: datetime) -> list[ForexSignal]:
    return list(session.exec(select(ForexSignal).where(ForexSignal.tenant_id == tenant_id,
                                                       ForexSignal.opened_at >= now - timedelta(days=days))))
