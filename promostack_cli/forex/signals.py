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


SIGNAL_KEYS = ("id", "strategy", "symbol", "timeframe", "direction", "bar_ts", "opened_at", "entry", "initial_stop", "stop",
               "targets", "close_percents", "pip_size", "status", "stage", "result", "pips", "closed_at", "close_price",
               "expires_at", "guidance", "indicators", "reason")


def signal_dict(s: ForexSignal) -> dict:
    return {k: getattr(s, k) for k in SIGNAL_KEYS}


def signal_csv(signals) -> tuple[list[str], list[list]]:
    """Every field of each signal for a spreadsheet: numbers unrounded, times ISO 8601 UTC, each
    target and close percentage in its own column, indicators as JSON."""
    import json

    columns = [k for k in SIGNAL_KEYS if k not in ("targets", "close_percents")]
    columns[columns.index("stop") + 1:columns.index("stop") + 1] = ["tp1", "tp2", "tp3", "tp1_percent", "tp2_percent", "tp3_percent"]
    rows = []
    for s in signals:
        d = signal_dict(s)
        d.update({f"tp{i + 1}": v for i, v in enumerate(s.targets[:3])})
        d.update({f"tp{i + 1}_percent": v for i, v in enumerate(s.close_percents[:3])})
        d["guidance"] = ",".join(s.guidance)
        d["indicators"] = json.dumps(s.indicators, sort_keys=True)
        rows.append([iso_utc(d.get(c)) for c in columns])
    return columns, rows


def iso_utc(value):
    """A datetime as ``2025-03-04T08:00:00Z``; anything else unchanged."""
    if not isinstance(value, datetime):
        return value
    from promostack_cli.core.clock import as_utc

    return as_utc(value).isoformat().replace("+00:00", "Z")
