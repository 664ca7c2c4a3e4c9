"""Telegram updates: stored first (``inbox``), then processed in batches through the router.

An update that reached us is either stored and answered 2xx — then processed: ``processed``,
``ignored`` or ``failed`` with its payload for ``webhook retry`` (Telegram holds a bot's later
updates back while one keeps failing, so a bad update must never block the good ones behind it) —
or, when the database failed (:func:`promostack_cli.db.is_transient`) or the row could not be
written, not stored and answered 5xx so that Telegram sends it again. Nothing is acknowledged unstored.

Processing (:func:`process_batch`): a bot's ``received`` rows in one transaction, handled a run of
independent updates (different users) at a time through the router's batch path (:func:`handle`);
if one fails, the batch is rolled back and processed again one update per transaction, each in a
savepoint, so the one that fails is marked ``failed`` and the others are processed. The status
change commits with the update's effects. A database error rolls the whole batch back: its rows
stay ``received`` and are processed again (by the receiver, or by ``scheduler tick``). Every function that processes
takes the edge's :class:`~promostack_cli.webhooks.handlers.Dispatcher` (the handlers' settings and
secret box).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from sqlmodel import Session, select

from promostack_cli.connections.lookup import find_bot
from promostack_cli.core.errors import NotFoundError
from promostack_cli.core.secrets import redact
from promostack_cli.db import Database, is_transient
from promostack_cli.telegram.updates import BotRef, MalformedUpdate, envelope, parse
from promostack_cli.webhooks import inbox
from promostack_cli.webhooks.models import TelegramUpdate

log = logging.getLogger(__name__)

BATCH = 250  # updates per transaction: a burst's batch costs a few statements in all


@dataclass
class Outcome:
    stored: bool                     # False: a repeat of an update we already have
    status: str = "processed"
    result: str | None = None
    enqueued: bool = False           # the transaction queued outbox messages
    notes: list[str] = field(default_factory=list)
    error: str | None = None         # why it failed (status "failed"), for `webhook failures`


@dataclass
class BatchResult:
    locked: bool = False             # another transaction is processing this bot: try again shortly
    processed: int = 0
    enqueued: bool = False
    more: bool = False               # the batch was full: there may be more
    lag: float = 0.0                 # seconds the batch's oldest update had waited when taken


def _handled(handled) -> Outcome:
    return Outcome(True, handled.status, (handled.result or "")[:200] or None, handled.enqueued)


def _failed(exc: BaseException) -> Outcome:
    return Outcome(True, "failed", None, error=redact(f"{type(exc).__name__}: {exc}")[:2000])


def _record(session: Session, row_id: int, outcome: Outcome, now: datetime) -> Outcome:
    inbox.mark(session, [(row_id, outcome.status, outcome.result, outcome.error)], now)
    return outcome


def process(dispatcher, session: Session, bot: BotRef, payload: dict | None, now: datetime) -> Outcome:
    """Act on a stored update inside a savepoint: a failure is returned (``failed``, with its
    error), not raised; the caller records the outcome."""
    try:
        with session.begin_nested():
            return _handled(dispatcher.dispatch(session, parse(payload or {}, bot), now))
    except Exception as exc:  # noqa: BLE001 - recorded for `webhook failures`, answered 2xx
        if is_transient(exc):  # the database, not the update: roll back and let it be processed again
            raise
        if not isinstance(exc, MalformedUpdate):
            log.exception("update %s of bot %s failed", (payload or {}).get("update_id"), bot.bot_id)
        return _failed(exc)


def _ref(row: TelegramUpdate) -> BotRef:
    return BotRef(row.tenant_id, row.bot_id, row.bot_role)


def handle(dispatcher, session: Session, bot: BotRef, rows: list, now: datetime) -> list[Outcome]:
    """The outcomes of a bot's stored updates ``rows`` (``update_id`` order) in the caller's
    transaction: each parsed (one that is not an update ends failed at once), then handled a run of
    independent updates at a time (:func:`~promostack_cli.telegram.routing.waves`), so one user's
    updates are handled one after the other, in order, and a burst of many users' updates costs a
    few statements per run. An exception from a handler is raised: the caller rolls back."""
    from promostack_cli.telegram.routing import waves

    outcomes: list[Outcome | None] = [None] * len(rows)
    at, updates = [], []
    for i, row in enumerate(rows):
        try:
            updates.append(parse(row.payload or {}, bot))
            at.append(i)
        except MalformedUpdate as exc:
            outcomes[i] = _failed(exc)
    for run in waves(updates):
        for j, handled in zip(run, dispatcher.dispatch_many(session, [updates[j] for j in run], now), strict=True):
            outcomes[at[j]] = _handled(handled)
    return outcomes  # type: ignore[return-value]


def ingest(dispatcher, session: Session, bot: BotRef, body: bytes, now: datetime) -> Outcome:
    """Store one update and process it in the same transaction (``webhook inject``)."""
    try:
        env, error = envelope(body), None
    except MalformedUpdate as exc:
        env, error = None, str(exc)
    status = inbox.store(session, [inbox.Incoming(bot, env, body, error)], now)[0]
    if status == "failed":
        return Outcome(True, "failed", (error or "")[:200])
    if status == "duplicate":
        return Outcome(False, "duplicate")
    row_id = session.exec(select(TelegramUpdate.id).where(TelegramUpdate.bot_id == bot.bot_id,
                                                         TelegramUpdate.update_id == env.update_id)).one()
    return _record(session, row_id, process(dispatcher, session, bot, env.update, now), now)


def process_batch(dispatcher, db: Database, bot: BotRef, now: Callable[[], datetime], limit: int = BATCH) -> BatchResult:
    """Process up to ``limit`` of the bot's stored updates in one transaction (see the module doc).

    The batch runs without a savepoint per update (fewer round trips) through :func:`handle`; if
    one update fails, the batch rolls back and its updates are processed one per transaction, each
    in a savepoint, so the one that fails is marked ``failed`` and the others are processed."""
    try:
        with db.transaction() as session:
            rows = inbox.take(session, bot, limit)
            if rows is None:
                return BatchResult(locked=True)
            stamp = now()
            lag = _lag(rows, stamp)
            outcomes = handle(dispatcher, session, bot, rows, stamp)
            inbox.mark(session, [(row.id, o.status, o.result, o.error) for row, o in zip(rows, outcomes)], stamp)
        return BatchResult(processed=len(rows), enqueued=any(o.enqueued for o in outcomes), more=len(rows) == limit,
                           lag=lag)
    except Exception as exc:  # noqa: BLE001
        if is_transient(exc):
            raise
        log.info("an update of bot %s failed in a batch; processing the batch one update at a time", bot.bot_id)
    result = BatchResult(more=True)
    for _ in range(limit):
        part = _process_one(dispatcher, db, bot, now)
        if part.locked or not part.processed:
            result.more = False
            break
        result.processed += 1
        result.enqueued |= part.enqueued
    return result


def _lag(rows: list, now: datetime) -> float:
    if not rows:
        return 0.0
    oldest = min(row.received_at for row in rows)
    if oldest.tzinfo is None and now.tzinfo is not None:  # SQLite hands datetimes back naive (UTC)
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - oldest).total_seconds())


def _process_one(dispatcher, db: Database, bot: BotRef, now: Callable[[], datetime]) -> BatchResult:
    try:
        with db.transaction() as session:
            rows = inbox.take(session, bot, 1)
            if not rows:
                return BatchResult(locked=rows is None)
            stamp = now()
            outcome = _record(session, rows[0].id, process(dispatcher, session, bot, rows[0].payload, stamp), stamp)
        return BatchResult(processed=1, enqueued=outcome.enqueued)
    except Exception as exc:  # noqa: BLE001 - a bug outside the savepoint: the update ends failed
        if is_transient(exc):
            raise
        log.exception("update of bot %s failed outside its savepoint", bot.bot_id)
        with db.transaction() as session:
            for row in inbox.take(session, bot, 1) or []:
                _record(session, row.id, _failed(exc), now())
        return BatchResult(processed=1)


def process_pending(dispatcher, db: Database, now: Callable[[], datetime], *, deadline: Callable[[], bool],
                    tenant_id: int | None = None) -> int:
    """Every bot's stored, unprocessed updates (``scheduler tick``): bots being processed elsewhere
    are skipped. Returns how many were processed."""
    with db.session() as session:
        bots = inbox.pending_bots(session, tenant_id)
    done = 0
    for bot in bots:
        while not deadline():
            part = process_batch(dispatcher, db, bot, now)
            done += part.processed
            if part.locked or not part.more:
                break
    return done


DISMISSED = "dismissed"  # a failed update the operator set aside: no longer a failure, still stored


def failures(session: Session, tenant_id: int, limit: int | None = 100, *,
             include_dismissed: bool = False) -> list[TelegramUpdate]:
    statuses = ["failed", DISMISSED] if include_dismissed else ["failed"]
    q = (select(TelegramUpdate).where(TelegramUpdate.tenant_id == tenant_id, TelegramUpdate.status.in_(statuses))
         .order_by(TelegramUpdate.id.desc()))
    return list(session.exec(q.limit(limit) if limit else q))


def dismiss(session: Session, tenant_id: int, ids: list[int] | None, now: datetime) -> list[int]:
    """Mark failed updates ``dismissed`` (all of the tenant's when ``ids`` is None); returns their ids.
    An id that is not a failed update of this tenant is refused and nothing changes."""
    q = select(TelegramUpdate).where(TelegramUpdate.tenant_id == tenant_id, TelegramUpdate.status == "failed")
    if ids:
        q = q.where(TelegramUpdate.id.in_(ids))
    rows = list(session.exec(q.order_by(TelegramUpdate.id).with_for_update()))
    if ids and len(rows) != len(set(ids)):
        missing = sorted(set(ids) - {r.id for r in rows})
        raise NotFoundError(f"No failed update {', '.join(map(str, missing))} for this tenant "
                            "(see: promostack webhook failures).")
    for row in rows:
        row.status, row.result = DISMISSED, f"dismissed {now.isoformat(timespec='seconds')}"
        session.add(row)
    session.flush()
    return [r.id for r in rows]


def retry(dispatcher, session: Session, tenant_id: int, ids: list[int] | None, now: datetime) -> list[Outcome]:
    """Process failed updates again: all of them, or those ``ids`` (a dismissed one too, by its id)."""
    q = select(TelegramUpdate).where(TelegramUpdate.tenant_id == tenant_id,
                                     TelegramUpdate.status.in_(["failed", DISMISSED] if ids else ["failed"]))
    if ids:
        q = q.where(TelegramUpdate.id.in_(ids))
    rows = list(session.exec(q.order_by(TelegramUpdate.id)))
    if ids and len(rows) != len(set(ids)):
        missing = sorted(set(ids) - {r.id for r in rows})
        raise NotFoundError(f"No failed update {', '.join(map(str, missing))} for this tenant.")
    outcomes = []
    for row in rows:
        if row.payload is None:  # the body was not JSON: nothing to process again
            outcomes.append(Outcome(True, "failed", "malformed body"))
            continue
        if find_bot(session, None, tenant_id=tenant_id, role=row.bot_role) is None:
            outcomes.append(Outcome(True, "failed", f"{row.bot_role} no longer connected"))
            continue
        outcomes.append(_record(session, row.id, process(dispatcher, session, _ref(row), row.payload, now), now))
    return outcomes
