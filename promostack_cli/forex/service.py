"""Live checks and the monitor: candles in, signals and their events out, every post through the
outbox in the same transaction as the change that caused it. Posts are written (:mod:`promostack_cli.text`)
before that transaction opens: no lock is held while a writer works."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from promostack_cli.core.errors import OperationalError, PromoStackError, ValidationError
from promostack_cli.core import claims
from promostack_cli.forex import messages
from promostack_cli.forex.base_strategy import validated
from promostack_cli.forex.intervals import interval_delta
from promostack_cli.forex.engine import GuardConfig, Guardrails, open_trade
from promostack_cli.forex.lifecycle import SignalEvent, Trade
from promostack_cli.forex.models import ForexSignal, ForexSignalEvent
from promostack_cli.forex.strategy_loader import run_guarded

EXPIRY_GRACE = timedelta(minutes=15)
ID_ATTEMPTS = 3  # SQLite: tries at a signal id no other signal took meanwhile
MONITOR_ATTEMPTS = 3  # a signal another monitor moves on meanwhile is worked out again, this many times


@dataclass
class CheckOutcome:
    timeframe: str
    status: str  # signal | none | suppressed | stale | duplicate | no_data
    detail: str = ""
    bar_ts: datetime | None = None
    signal: ForexSignal | None = None
    text: str | None = None


@dataclass
class MonitorOutcome:
    signal_id: int
    events: list[SignalEvent] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    status: str = "open"


def guardrails(session: Session, tenant_id: int, guard: GuardConfig, now: datetime) -> Guardrails:
    """The guardrail counters of ``now``'s UTC day, from stored signals."""
    s = ForexSignal
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    g = Guardrails(guard, day=now.date())
    g.opened_today = session.exec(select(func.count()).select_from(s).where(
        s.tenant_id == tenant_id, s.opened_at >= day, s.opened_at < day + timedelta(days=1))).one()
    g.open_count = session.exec(select(func.count()).select_from(s).where(s.tenant_id == tenant_id, s.status == "open")).one()
    g.last_opened_at = session.exec(select(func.max(s.opened_at)).where(s.tenant_id == tenant_id)).first()
    g.realised_today = float(session.exec(select(func.coalesce(func.sum(s.pips), 0.0)).where(
        s.tenant_id == tenant_id, s.status == "closed", s.closed_at >= day, s.closed_at < day + timedelta(days=1))).one())
    return g


def vip_channel(runtime) -> str:
    creds = runtime.credentials.get_bot_credentials("signal_bot")
    if not creds.vip_channel:
        raise ValidationError("The signal bot has no VIP channel. Run: promostack connections set signal_bot --token ... --vip-channel <id>")
    return creds.vip_channel


def check(runtime, cfg, market, timeframe: str, now: datetime, *, strategy=None, dry_run: bool = False,
          live: bool = True, writer=None) -> CheckOutcome:
    """Run the strategy on the newest closed ``timeframe`` candle; store and post a new signal, its text
    written (by ``writer``, the tenant's by default) before the transaction that stores it."""
    strategy = strategy or cfg.strategy()
    if timeframe not in strategy.signal_timeframes:
        raise ValidationError(f"Strategy '{strategy.name}' is checked on {', '.join(strategy.signal_timeframes)}, not {timeframe}.")
    step = interval_delta(timeframe)
    frames = market.frames(strategy.needs(timeframe), now, cfg.history_bars)
    sig = frames[timeframe]
    if sig.empty:
        return CheckOutcome(timeframe, "no_data", f"no closed {timeframe} candles of {cfg.symbol}")
    bar_ts = sig.index[-1].to_pydatetime()
    close_at = bar_ts + step
    if live and close_at + step <= now:
        return CheckOutcome(timeframe, "stale", f"no new {timeframe} candle: the newest closed at {close_at:%Y-%m-%d %H:%M} UTC", bar_ts)
    with runtime.session() as session:
        existing = _signal_for_bar(session, runtime.tenant_id, strategy.name, cfg.symbol, timeframe, bar_ts)
    if existing:
        return CheckOutcome(timeframe, "duplicate", f"the {bar_ts:%H:%M} candle already gave signal #{existing.id}", bar_ts, existing)
    intent = validated(strategy, run_guarded(strategy, strategy.generate, frames, timeframe))
    if intent is None:
        return CheckOutcome(timeframe, "none", f"no signal on the {timeframe} candle of {bar_ts:%Y-%m-%d %H:%M} UTC", bar_ts)
    trade = open_trade(intent, pip_size=cfg.pip_size, opened_at=close_at, expiry=cfg.expiry)
    if trade is None:
        return CheckOutcome(timeframe, "none", f"{intent.direction} levels collapse at the quote precision (pip {cfg.pip_size:g}); no signal", bar_ts)
    signal = ForexSignal(
        tenant_id=runtime.tenant_id, strategy=strategy.name, symbol=cfg.symbol, timeframe=timeframe,
        direction=trade.direction, bar_ts=bar_ts, opened_at=close_at, entry=trade.entry, initial_stop=trade.stop,
        stop=trade.stop, targets=trade.targets, close_percents=trade.close_percents, pip_size=cfg.pip_size,
        expires_at=trade.expires_at, monitored_until=close_at, indicators=dict(intent.indicators), reason=intent.reason,
    )
    writer = writer or messages.writer(runtime, cfg)
    channel = None if dry_run else vip_channel(runtime)
    with runtime.session() as session:  # a first look (again under the lock): a held-back signal costs no text
        blocked = guardrails(session, runtime.tenant_id, cfg.guard, close_at).blocked(close_at)
    if blocked:
        return CheckOutcome(timeframe, "suppressed", f"{trade.direction} signal held back: {blocked}", bar_ts, signal)
    if dry_run:
        return CheckOutcome(timeframe, "signal", "dry run: nothing stored or sent", bar_ts, signal,
                            writer.write("signal", messages.signal_facts(signal)).text)
    attempts = 0
    while True:
        # the post names the signal (#id): the id is reserved and the text written before the transaction
        attempts += 1
        signal.id = _reserve_signal_id(runtime.db)
        text = writer.write("signal", messages.signal_facts(signal)).text
        try:
            blocked = _store_signal(runtime, cfg, signal, text, channel, close_at, now)
            break
        except IntegrityError as exc:
            with runtime.session() as session:
                existing = _signal_for_bar(session, runtime.tenant_id, strategy.name, cfg.symbol, timeframe, bar_ts)
                id_taken = session.get(ForexSignal, signal.id) is not None
            if existing is not None:  # the one-signal-per-candle key: another check was first
                return CheckOutcome(timeframe, "duplicate", f"another check stored signal #{existing.id} for this candle",
                                    bar_ts, existing)
            if not (id_taken and attempts < ID_ATTEMPTS):  # (SQLite: another signal took the id meanwhile: again)
                raise OperationalError(f"Could not store the signal: {str(exc.orig).splitlines()[0]}") from None
    if blocked:
        signal.id = None  # reserved, not used
        return CheckOutcome(timeframe, "suppressed", f"{trade.direction} signal held back: {blocked}", bar_ts, signal)
    return CheckOutcome(timeframe, "signal", f"signal #{signal.id} stored and queued for the VIP channel", bar_ts, signal, text)


def _store_signal(runtime, cfg, signal: ForexSignal, text: str, channel: str, close_at: datetime,
                  now: datetime) -> str | None:
    """Store ``signal`` (its id given) with its opening event and queue ``text`` to the VIP channel, in one
    transaction; what holds it back instead (a guardrail, checked under the tenant's lock), if anything."""
    from promostack_cli.outbox.service import enqueue
    from promostack_cli.tenants.models import Tenant

    with runtime.db.transaction() as session:
        # one signal decision at a time per tenant: the guardrails see every signal stored before
        # (PostgreSQL: a blocking row lock on the tenant; SQLite: BEGIN IMMEDIATE already serialises)
        session.exec(claims.lock(select(Tenant.id).where(Tenant.id == runtime.tenant_id), session)).first()
        blocked = guardrails(session, runtime.tenant_id, cfg.guard, close_at).blocked(close_at)
        if blocked:
            return blocked
        session.add(signal)
        session.flush()
        session.add(ForexSignalEvent(tenant_id=runtime.tenant_id, signal_id=signal.id, kind="opened",
                                     price=signal.entry, at=close_at, data={"reason": signal.reason}))
        enqueue(session, runtime.tenant_id, "signal_bot", channel, text, now=now,
                dedupe_key=f"forex:signal:{signal.id}:open", source=f"forex:signal:{signal.id}")
        session.flush()
        session.expunge(signal)
    return None


def _reserve_signal_id(db) -> int:
    """The id the next signal is stored under, known before its post is written. PostgreSQL: taken from
    the table's sequence (no other insert gets it). SQLite has no sequence: the next rowid, which the
    insert claims (a UNIQUE failure when another signal took it meanwhile: the caller tries again)."""
    from sqlalchemy import text

    with db.session() as session:
        if db.dialect == "postgresql":
            return session.execute(text("SELECT nextval(pg_get_serial_sequence('forex_signals', 'id'))")).scalar_one()
        return session.execute(select(func.coalesce(func.max(ForexSignal.id), 0) + 1)).scalar_one()


def _signal_for_bar(session, tenant_id, strategy, symbol, timeframe, bar_ts) -> ForexSignal | None:
    s = ForexSignal
    return session.exec(select(s).where(s.tenant_id == tenant_id, s.strategy == strategy, s.symbol == symbol,
                                        s.timeframe == timeframe, s.bar_ts == bar_ts)).first()


def to_trade(row: ForexSignal) -> Trade:
    return Trade(direction=row.direction, entry=row.entry, stop=row.stop, targets=list(row.targets),
                 close_percents=list(row.close_percents), pip_size=row.pip_size, opened_at=row.opened_at,
                 expires_at=row.expires_at, initial_stop=row.initial_stop, stage=row.stage,
                 remaining=100.0 - sum(row.close_percents[:row.stage]), pips=row.pips, status=row.status,
                 result=row.result, closed_at=row.closed_at, close_price=row.close_price, guidance=list(row.guidance))


def _copy_back(trade: Trade, row: ForexSignal) -> None:
    row.stop, row.stage, row.pips, row.status = trade.stop, trade.stage, trade.pips, trade.status
    row.result, row.closed_at, row.close_price = trade.result, trade.closed_at, trade.close_price
    row.guidance = list(trade.guidance)


def open_signals(runtime) -> list[ForexSignal]:
    with runtime.session() as session:
        s = ForexSignal
        return list(session.exec(select(s).where(s.tenant_id == runtime.tenant_id, s.status == "open").order_by(s.id)))


def monitor(runtime, cfg, market, now: datetime, *, dry_run: bool = False, writer=None) -> list[MonitorOutcome]:
    """Apply the 1min candles closed since each open signal was last checked (see :mod:`lifecycle`).

    Per signal: what happened is worked out from the signal as read and its texts written (by
    ``writer``, the tenant's by default) with no transaction open; then, under the signal's row lock,
    the signal is updated, its events stored and their posts queued, if it still stands as it was read
    (otherwise another monitor moved it on: worked out again from where it stands)."""
    rows = [r for r in open_signals(runtime) if r.symbol == cfg.symbol]  # config set refuses a symbol change while open
    if not rows:
        return []
    since = min(r.monitored_until for r in rows)
    fetch_error = None
    try:
        bars = market.minute_bars(since, now)
    except PromoStackError as exc:
        # credits spent or Twelve Data down: still apply what is cached, and still expire signals
        fetch_error = exc
        bars = market.cached_minute_bars(since, now)
    candles = Candles([t.to_pydatetime() for t in bars.index], bars["high"].tolist(), bars["low"].tolist(),
                      bars["close"].tolist(), market.monitor_step)  # 1 min live; a --candles file's own interval offline
    # the market price for signals past their expiry that no candle reached (fetched before any
    # transaction: it may cost a Twelve Data request)
    if not candles.closes and any(now >= r.expires_at + EXPIRY_GRACE for r in rows):
        try:
            candles.fallback = market.last_close(now)
        except PromoStackError as exc:
            fetch_error = fetch_error or exc
    writer = writer or messages.writer(runtime, cfg)
    channel = None if dry_run else vip_channel(runtime)
    outcomes = []
    for snapshot in rows:
        out = _monitor_one(runtime, cfg, writer, snapshot, candles, now, channel, dry_run)
        if out is not None:
            outcomes.append(out)
    if fetch_error is not None:
        raise MonitorIncomplete(str(fetch_error), outcomes)
    return outcomes


@dataclass
class Candles:
    """The monitor's candles (open times, highs, lows, closes, each ``step`` long) and, when it has none,
    the market price to close expired signals at."""

    ts: list[datetime]
    highs: list[float]
    lows: list[float]
    closes: list[float]
    step: timedelta
    fallback: float | None = None


# what the monitor changes on a signal: the state a row must still have for a worked-out change to apply
_STATE = ("stop", "stage", "pips", "status", "result", "closed_at", "close_price", "guidance", "monitored_until")


def _monitor_one(runtime, cfg, writer, snapshot: ForexSignal, candles: Candles, now: datetime, channel,
                 dry_run: bool) -> MonitorOutcome | None:
    """One signal moved on (see :func:`monitor`); None when it is closed or another monitor holds it."""
    for _ in range(MONITOR_ATTEMPTS):
        after, events = _advance(snapshot, candles, cfg, now)
        texts = [writer.write("update", messages.update_facts(after, ev)).text for ev in events]
        outcome = MonitorOutcome(snapshot.id, events, texts, after.status)
        if dry_run:
            return outcome
        with runtime.db.transaction() as session:
            row = session.exec(claims.lock_due(select(ForexSignal).where(ForexSignal.id == snapshot.id,
                                                                   ForexSignal.status == "open"), session)).first()
            if row is None:
                return None  # closed meanwhile, or another monitor holds it
            if [getattr(row, name) for name in _STATE] != [getattr(snapshot, name) for name in _STATE]:
                snapshot = _copy(row)  # another monitor moved it on since it was read
                continue
            for name in _STATE:
                setattr(row, name, getattr(after, name))
            for ev, text in zip(events, texts):
                session.add(ForexSignalEvent(tenant_id=row.tenant_id, signal_id=row.id, kind=ev.kind, price=ev.price,
                                             pips=ev.pips, at=ev.at, data=ev.data))
                _post_update(session, row, ev.kind, channel, text, now)
            session.add(row)
        return outcome
    return None


def _advance(row: ForexSignal, candles: Candles, cfg, now: datetime) -> tuple[ForexSignal, list[SignalEvent]]:
    """A copy of ``row`` with the candles since it was last checked applied, and what happened (pure)."""
    trade = to_trade(row)
    events: list[SignalEvent] = []
    last = row.monitored_until
    for i, t in enumerate(candles.ts):
        if t < row.monitored_until:
            continue
        events += trade.apply(t + candles.step, candles.highs[i], candles.lows[i], candles.closes[i],
                              guidance=cfg.guidance)
        last = t + candles.step
        if trade.status != "open":
            break
    if trade.status == "open" and now >= trade.expires_at + EXPIRY_GRACE:
        # no candle reached the expiry (market closed, data late): close at the last known price
        price = candles.closes[-1] if candles.closes else candles.fallback
        if price is not None:
            events.append(trade.expire(price, max(last, trade.expires_at)))
    after = _copy(row)
    _copy_back(trade, after)
    after.monitored_until = last
    return after, events


def _copy(row: ForexSignal) -> ForexSignal:
    """A detached copy of ``row`` (no session: a writer may read it at leisure)."""
    return ForexSignal(**{name: copy.deepcopy(getattr(row, name)) for name in ForexSignal.model_fields})


class MonitorIncomplete(OperationalError):
    """The monitor could not fetch new candles; what was cached was applied (``outcomes``)."""

    def __init__(self, message: str, outcomes: list[MonitorOutcome]):
        super().__init__(message)
        self.outcomes = outcomes


def _post_update(session, row: ForexSignal, kind: str, channel: str, text: str, now: datetime) -> None:
    """An update as a reply to the signal's post (resolved at send time, when that post has its id)."""
    from promostack_cli.outbox.service import enqueue

    enqueue(session, row.tenant_id, "signal_bot", channel, text, now=now,
            dedupe_key=f"forex:signal:{row.id}:{kind}", source=f"forex:signal:{row.id}",
            reply_to_dedupe=f"forex:signal:{row.id}:open")
