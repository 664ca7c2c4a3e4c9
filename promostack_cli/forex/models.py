"""Forex tables: the candle cache, the shared Twelve Data credit budget, per-tenant config, signals,
their events, and once-per-period job runs."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Float, ForeignKey, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from promostack_cli.core.clock import utcnow
from promostack_cli.core.types import BigIntPK, JSONType
from promostack_cli.tenants.models import Tenant  # noqa: F401 - registers the table the foreign keys name


class ForexCandle(SQLModel, table=True):
    """One closed candle; ``ts`` is the bar's open time (UTC), as Twelve Data reports it."""

    __tablename__ = "forex_candles"
    __table_args__ = (UniqueConstraint("tenant_id", "symbol", "interval", "ts", name="uq_forex_candles_bar"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    symbol: str = Field(max_length=20)
    interval: str = Field(max_length=10)
    ts: datetime
    open: float = Field(sa_column=Column(Float, nullable=False))
    high: float = Field(sa_column=Column(Float, nullable=False))
    low: float = Field(sa_column=Column(Float, nullable=False))
    close: float = Field(sa_column=Column(Float, nullable=False))


class ApiCreditUsage(SQLModel, table=True):
    """Credits spent per API account and window (scope "minute" or "day", from window_start).

    The one table without ``tenant_id``: Twelve Data's limits belong to the API key, which every
    tenant on this installation shares, so the budget is keyed by a hash of the key.
    """

    __tablename__ = "api_credit_usage"

    account: str = Field(primary_key=True, max_length=64)
    scope: str = Field(primary_key=True, max_length=8)  # minute | day
    window_start: datetime = Field(primary_key=True)
    used: int = 0


class ForexSettings(SQLModel, table=True):
    """The tenant's forex config: only the keys set with ``forex config set`` (defaults live in code)."""

    __tablename__ = "forex_settings"

    tenant_id: int = Field(foreign_key="tenants.id", primary_key=True, ondelete="CASCADE")
    values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class ForexSignal(SQLModel, table=True):
    """A posted signal and its state. Prices are in the instrument's quote currency; pips are weighted
    by the close percentage of every leg."""

    __tablename__ = "forex_signals"
    __table_args__ = (
        UniqueConstraint("tenant_id", "strategy", "symbol", "timeframe", "bar_ts", name="uq_forex_signals_bar"),
        Index("ix_forex_signals_status", "tenant_id", "status"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    strategy: str = Field(max_length=80)
    symbol: str = Field(max_length=20)
    timeframe: str = Field(max_length=10)
    direction: str = Field(max_length=4)  # BUY | SELL
    bar_ts: datetime  # open time of the breakout candle
    opened_at: datetime  # the breakout candle's close: the entry time
    entry: float = Field(sa_column=Column(Float, nullable=False))
    initial_stop: float = Field(sa_column=Column(Float, nullable=False))
    stop: float = Field(sa_column=Column(Float, nullable=False))  # current stop (moves after TP1/TP2)
    targets: list[float] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    close_percents: list[float] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    pip_size: float = Field(sa_column=Column(Float, nullable=False))
    status: str = Field(default="open", max_length=10)  # open | closed
    stage: int = 0  # take-profits hit so far
    result: str | None = Field(default=None, max_length=20)  # tp3 | stop | breakeven | locked | expired
    pips: float = Field(default=0.0, sa_column=Column(Float, nullable=False, server_default="0"))
    closed_at: datetime | None = None
    close_price: float | None = Field(default=None, sa_column=Column(Float))
    expires_at: datetime
    monitored_until: datetime  # candles up to (excluding) this time have been applied
    guidance: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    indicators: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class ForexSignalEvent(SQLModel, table=True):
    """Something that happened to a signal (opened, tp1, tp2, tp3, stop, expired, guidance_*).

    Each kind happens at most once per signal; other domains (cross promo) read these rows.
    """

    __tablename__ = "forex_signal_events"
    __table_args__ = (UniqueConstraint("signal_id", "kind", name="uq_forex_signal_events_kind"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")
    signal_id: int = Field(sa_column=Column(BigInteger, ForeignKey("forex_signals.id", ondelete="CASCADE"),
                                            nullable=False, index=True))
    kind: str = Field(max_length=30)
    price: float | None = Field(default=None, sa_column=Column(Float))
    pips: float | None = Field(default=None, sa_column=Column(Float))
    at: datetime
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
