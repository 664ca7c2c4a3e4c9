"""Persisted journey sessions: the engine's transitions applied to rows, messages into the outbox.

Every function here works inside the caller's transaction, and every message a transition produces
is enqueued in that same transaction: a session never advances past a message that was not queued.
Session work touches only the database, so the tick processes due sessions inside the short claim
transaction (``FOR UPDATE SKIP LOCKED`` / ``BEGIN IMMEDIATE``) instead of leasing them.

One user's inputs are processed one at a time: every entry point that acts on a user's sessions
(a message, a button, /stop, a block, an event) first takes a lock on (tenant, chat) — an advisory
lock on PostgreSQL, the write lock on SQLite — and reads the live sessions ``FOR UPDATE``, so a
timer the tick is advancing and a reply arriving at the same moment cannot both move a session.
A partial unique index backs "one live session per journey" for ``block`` and ``restart``: a start
that meets it (a race the locks should make impossible) inserts nothing and counts as "already running".

Starting journeys is set-based (:func:`enter`, :func:`start_by_links`): the receiver starts the
journeys of a whole batch of ``/start`` updates (different users) with a few statements — the
users' locks, the triggers, the live sessions, the new sessions, their step visits and messages
each in one — and a single start is a batch of one. A session's messages and visits are written
with Core inserts (:func:`_record`), for one transition or many.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from sqlalchemy import update
from sqlmodel import Session, select

from promostack_cli.core.clock import from_epoch, to_epoch, utcnow
from promostack_cli.core.errors import ValidationError
from promostack_cli.core import bulk, claims
from promostack_cli.db import Database
from promostack_cli.journeys import due
from promostack_cli.journeys.models import Journey, JourneySession, JourneyStepVisit, JourneyTrigger
from promostack_cli.journeys.states import (AWAITING_REPLY, BLOCKED, CANCELLED, END_BLOCKED, END_INACTIVE,
                                            END_JOURNEY_REMOVED, END_RESTARTED, END_STEP_REMOVED, END_STOPPED, LIVE)
from promostack_cli.outbox.models import INTERACTIVE, NORMAL, ChatState
from promostack_cli.outbox.service import enqueue_many, message_row
from promostack_cli.tenants.models import Tenant

if TYPE_CHECKING:
    from promostack_cli.journeys.engine import JourneyRunner, SessionState, Transition

# The engine (Jinja, the YAML spec) loads only when a session is processed: an idle cron tick
# never pays for it.
_runners: dict[tuple[int, str], "JourneyRunner"] = {}


def runner_for(journey: Journey) -> "JourneyRunner":
    from promostack_cli.journeys.engine import JourneyRunner
    from promostack_cli.journeys.spec.model import JourneySpec

    key = (journey.id, journey.content_hash)
    if key not in _runners:
        _runners[key] = JourneyRunner(JourneySpec.from_dict(journey.definition))
    return _runners[key]


def _state(js: JourneySession) -> "SessionState":
    from promostack_cli.journeys.engine import SessionState

    return SessionState(step_id=js.step_id, status=js.status, variables=dict(js.variables),
                        wake_at=to_epoch(js.wake_at) if js.wake_at else None, end_reason=js.end_reason,
                        end_code=js.end_code)


def _set_state(js: JourneySession, transition: "Transition", now: datetime) -> None:
    state = transition.state
    js.status, js.step_id, js.variables = state.status, state.step_id, dict(state.variables)
    js.wake_at = from_epoch(state.wake_at) if state.wake_at is not None else None
    js.end_reason, js.end_code = state.end_reason, state.end_code
    js.last_activity_at = now
    if state.is_final and js.ended_at is None:
        js.ended_at = now


def _apply(session: Session, js: JourneySession, transition: "Transition", now: datetime, *,
           interactive: bool = False) -> JourneySession:
    """Persist a transition of a stored session; ``interactive``: it answers the user's own message
    or button (its messages go before the bot's bulk sends)."""
    _set_state(js, transition, now)
    session.add(js)
    _record(session, [(js.tenant_id, js.journey_slug, js.chat_id, js.id, transition)], now, interactive=interactive)
    return js


Moved = tuple[int, str, str, int, "Transition"]  # tenant, journey slug, chat, session id, what happened


def _record(session: Session, moves: list[Moved], now: datetime, *, interactive: bool = False) -> None:
    """The step visits and messages of sessions' transitions, in their order, one insert each.

    The funnel counts the visits (one per step and transition), not the outbox's source text. A
    message that cannot be queued (:class:`ValidationError`) is recorded as failed: one bad message
    must not stall its session."""
    priority = INTERACTIVE if interactive else NORMAL
    visits, messages = [], []
    for tenant_id, slug, chat_id, session_id, transition in moves:
        for step_id in dict.fromkeys(msg.step_id for msg in transition.messages):
            visits.append({"tenant_id": tenant_id, "journey_slug": slug, "step_id": step_id, "chat_id": chat_id,
                           "session_id": session_id, "reached_at": now})
        for msg in transition.messages:
            # for people reading `outbox list` (at most 120 characters: a long slug and step id are cut)
            source, failed = f"journey:{slug}/{msg.step_id}"[:120], msg.error
            if failed is None:
                try:
                    messages.append(message_row(tenant_id, "message_bot", chat_id, msg.text, now=now, source=source,
                                                reply_markup=msg.reply_markup, priority=priority))
                    continue
                except ValidationError as exc:
                    failed = f"step '{msg.step_id}' not sent: {exc.message}"
            messages.append(message_row(tenant_id, "message_bot", chat_id, msg.text, now=now, source=source,
                                        reply_markup=msg.reply_markup, priority=NORMAL, failed=failed))
    bulk.insert_rows(session, JourneyStepVisit.__table__, visits)
    enqueue_many(session, messages)


def serialise_user(session: Session, tenant_id: int, chat_id: str) -> None:
    """Wait until no other transaction is acting on this user's sessions; hold that until commit."""
    claims.serialise(session, "journey-user", tenant_id, chat_id)


def serialise_users(session: Session, tenant_id: int, chat_ids: list[str]) -> None:
    """:func:`serialise_user` for many users, with one statement."""
    claims.serialise_all(session, [("journey-user", tenant_id, chat_id) for chat_id in chat_ids])


def _live_sessions(session: Session, tenant_id: int, chat_id: str, journey_id: int | None = None):
    """The user's live sessions, row-locked (the tick skips locked sessions and we wait for its)."""
    q = select(JourneySession).where(JourneySession.tenant_id == tenant_id, JourneySession.chat_id == chat_id,
                                     JourneySession.status.in_(LIVE))
    if journey_id is not None:
        q = q.where(JourneySession.journey_id == journey_id)
    return list(session.exec(claims.lock(q.order_by(JourneySession.id), session)))


def _end(session: Session, js: JourneySession, status: str, reason: str, code: str, now: datetime) -> None:
    js.status, js.step_id, js.wake_at, js.end_reason, js.ended_at = status, None, None, reason, now
    js.end_code = code
    session.add(js)


@dataclass(frozen=True)
class Entry:
    """A user entering a journey (a deep link, a keyword, an event)."""

    journey: Journey
    chat_id: str
    variables: dict[str, str]


def enter(session: Session, entries: list[Entry], now: datetime, *, interactive: bool = False) -> list[int | None]:
    """Start each entry's journey under its re-entry policy, all with a few statements: the new
    session's id, or None when 'block' keeps a running one (or the unique index met a live one).

    The caller holds the users' locks (:func:`serialise_users`); no (journey, user) comes twice.
    ``tenant_name`` (the tenant's display name) is added to the variables unless the caller set it."""
    if not entries:
        return []
    # the live sessions of these users in these journeys, row-locked (the tick skips locked
    # sessions and we wait for its); an ORM statement, so pending changes are flushed first
    live: dict[tuple[int, str], list[int]] = {}
    for sid, journey_id, chat_id in session.execute(claims.lock(
            select(JourneySession.id, JourneySession.journey_id, JourneySession.chat_id)
            .where(JourneySession.tenant_id.in_({e.journey.tenant_id for e in entries}),
                   bulk.one_of(session, JourneySession.chat_id, {e.chat_id for e in entries}),
                   JourneySession.journey_id.in_({e.journey.id for e in entries}), JourneySession.status.in_(LIVE))
            .order_by(JourneySession.id), session)):
        live.setdefault((journey_id, chat_id), []).append(sid)
    rows, starts, restarted, names = [], [], [], {}
    for e in entries:
        runner = runner_for(e.journey)
        policy = runner.spec.re_entry
        running = live.get((e.journey.id, e.chat_id), [])
        if running and policy == "block":
            continue
        if policy == "restart":
            restarted += running
        variables = e.variables
        if "tenant_name" not in variables:
            if e.journey.tenant_id not in names:
                tenant = session.get(Tenant, e.journey.tenant_id)
                names[e.journey.tenant_id] = tenant.name if tenant else ""
            variables = {**variables, "tenant_name": names[e.journey.tenant_id]}
        transition = runner.start(variables, to_epoch(now))
        state = transition.state
        rows.append({"tenant_id": e.journey.tenant_id, "journey_id": e.journey.id, "journey_slug": e.journey.slug,
                     "chat_id": e.chat_id, "status": state.status, "step_id": state.step_id,
                     "variables": dict(state.variables),
                     "wake_at": from_epoch(state.wake_at) if state.wake_at is not None else None,
                     "end_reason": state.end_reason, "end_code": state.end_code, "started_at": now,
                     "last_activity_at": now, "ended_at": now if state.is_final else None,
                     "exclusive": policy != "allow"})
        starts.append((e, transition))
    if restarted:  # no longer live before the new sessions are inserted (ORM-enabled: loaded objects follow)
        session.execute(update(JourneySession).where(JourneySession.id.in_(restarted))
                        .values(status=CANCELLED, step_id=None, wake_at=None, end_reason="restarted", ended_at=now,
                                end_code=END_RESTARTED))
    # one insert; a row that meets "one live session per journey" (the partial unique index) is skipped
    inserted = bulk.insert_rows(session, JourneySession.__table__, rows, returning=("id", "journey_id", "chat_id"),
                                skip_conflicts=True)
    ids = {(journey_id, chat_id): sid for sid, journey_id, chat_id in inserted}
    moves = [(e.journey.tenant_id, e.journey.slug, e.chat_id, ids[(e.journey.id, e.chat_id)], transition)
             for e, transition in starts if (e.journey.id, e.chat_id) in ids]
    _record(session, moves, now, interactive=interactive)
    return [ids.get((e.journey.id, e.chat_id)) for e in entries]


def start_journey(session: Session, journey: Journey, chat_id: str, variables: dict[str, str],
                  now: datetime, *, interactive: bool = False) -> JourneySession | None:
    """Start ``journey`` for a user under its re-entry policy; None when 'block' keeps a running one
    (:func:`enter` for one). The caller holds the user's lock (:func:`serialise_user`)."""
    sid = enter(session, [Entry(journey, chat_id, variables)], now, interactive=interactive)[0]
    return session.get(JourneySession, sid) if sid is not None else None


def _keyword_journey(session: Session, tenant_id: int, text: str) -> Journey | None:
    rows = session.exec(
        select(JourneyTrigger.value, Journey).join(Journey, Journey.id == JourneyTrigger.journey_id)
        .where(JourneyTrigger.tenant_id == tenant_id, JourneyTrigger.kind == "keyword", JourneyTrigger.active)
        .order_by(Journey.slug)
    ).all()
    for word, journey in rows:
        if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE):
            return journey
    return None


def _journeys_by_link(session: Session, tenant_id: int, payloads: set[str]) -> dict[str, Journey]:
    """The active journey of each deep-link code (a code is unique among a tenant's active journeys)."""
    if not payloads:
        return {}
    return dict(session.execute(
        select(JourneyTrigger.value, Journey).join(Journey, Journey.id == JourneyTrigger.journey_id)
        .where(JourneyTrigger.tenant_id == tenant_id, JourneyTrigger.kind == "deep_link",
               JourneyTrigger.value.in_(payloads), JourneyTrigger.active)).all())


def start_by_links(session: Session, tenant_id: int, starts: list[tuple[str, dict[str, str], str | None]],
                   now: datetime) -> list[str]:
    """``/start <payload>`` (a deep link, already parsed) of several users at once, given as
    (chat, variables, payload), no user twice: what :func:`start_by_link` returns for each."""
    serialise_users(session, tenant_id, [chat_id for chat_id, _, _ in starts])
    journeys = _journeys_by_link(session, tenant_id, {payload for _, _, payload in starts if payload})
    found = [(chat_id, variables, journeys.get(payload) if payload else None) for chat_id, variables, payload in starts]
    entries = [Entry(journey, chat_id, variables) for chat_id, variables, journey in found if journey is not None]
    started = iter(enter(session, entries, now, interactive=True))
    return ["start: no active journey for that link" if journey is None else f"started {journey.slug}"
            if next(started) is not None else f"{journey.slug} already running (re_entry: block)"
            for _, _, journey in found]


def start_by_link(session: Session, tenant_id: int, chat_id: str, variables: dict[str, str], payload: str | None,
                  now: datetime) -> str:
    """``/start <payload>`` (a deep link, already parsed); returns what happened, in words."""
    return start_by_links(session, tenant_id, [(chat_id, variables, payload)], now)[0]


def handle_text(session: Session, tenant_id: int, chat_id: str, variables: dict[str, str], text: str,
                now: datetime) -> str:
    """A private text that is not a command we know: a reply to a waiting question, or a keyword."""
    serialise_user(session, tenant_id, chat_id)
    text = (text or "").strip()
    waiting = [js for js in _live_sessions(session, tenant_id, chat_id) if js.status == AWAITING_REPLY]
    if waiting:
        js = waiting[-1]  # the most recent question wins
        journey = session.get(Journey, js.journey_id) if js.journey_id else None
        if journey is not None:
            _apply(session, js, runner_for(journey).on_reply(_state(js), text, to_epoch(now)), now, interactive=True)
            return f"reply to {journey.slug}/{_state(js).step_id or 'end'}"
    journey = _keyword_journey(session, tenant_id, text)
    if journey is not None:
        js = start_journey(session, journey, chat_id, variables, now, interactive=True)
        return f"started {journey.slug} by keyword" if js else f"{journey.slug} already running (re_entry: block)"
    return "ignored"


def handle_message(session: Session, tenant_id: int, chat_id: str, variables: dict[str, str], text: str,
                   now: datetime) -> str:
    """A private message from a user, as a text (``journeys simulate``, tests); the receiver routes
    parsed events to :func:`start_by_link`, :func:`stop_user` and :func:`handle_text` instead."""
    from promostack_cli.telegram.updates import deep_link_payload, parse_command, split_ref

    command, args = parse_command(text)
    if command == "start":
        return start_by_link(session, tenant_id, chat_id, variables, split_ref(deep_link_payload(args))[0], now)
    if command == "stop":
        return f"stopped {stop_user(session, tenant_id, chat_id, now)} session(s)"
    return handle_text(session, tenant_id, chat_id, variables, text, now)


def handle_callback(session: Session, tenant_id: int, chat_id: str, data: str, now: datetime) -> bool:
    """An inline button press; True if a waiting session took it."""
    serialise_user(session, tenant_id, chat_id)
    for js in reversed(_live_sessions(session, tenant_id, chat_id)):
        if js.status == AWAITING_REPLY and js.journey_id:
            journey = session.get(Journey, js.journey_id)
            transition = runner_for(journey).on_callback(_state(js), data, to_epoch(now))
            if transition.state != _state(js) or transition.messages:
                _apply(session, js, transition, now, interactive=True)
                return True
    return False


def stop_user(session: Session, tenant_id: int, chat_id: str, now: datetime, *, status: str = CANCELLED,
              reason: str = "stopped by the user (/stop)", code: str = END_STOPPED) -> int:
    serialise_user(session, tenant_id, chat_id)
    live = _live_sessions(session, tenant_id, chat_id)
    for js in live:
        _end(session, js, status, reason, code, now)
    return len(live)


def block_user(session: Session, tenant_id: int, chat_id: str, now: datetime) -> int:
    """The user blocked the bot: end their sessions as blocked."""
    return stop_user(session, tenant_id, chat_id, now, status=BLOCKED, reason="the user blocked the bot",
                     code=END_BLOCKED)


def end_for_import(session: Session, journey: Journey, kept_step_ids: set[str] | None, now: datetime) -> int:
    """After a re-import, end live sessions whose step is gone (all of them when the journey is removed)."""
    ended = 0
    for js in session.exec(claims.lock(select(JourneySession).where(JourneySession.journey_id == journey.id,
                                                                   JourneySession.status.in_(LIVE)), session)):
        if kept_step_ids is None:
            _end(session, js, CANCELLED, "journey removed", END_JOURNEY_REMOVED, now)
        elif js.step_id not in kept_step_ids:
            _end(session, js, CANCELLED, f"step '{js.step_id}' removed by an import", END_STEP_REMOVED, now)
        else:
            continue
        ended += 1
    return ended


# -- the tick's part ---------------------------------------------------------------------------

def run_due(db: Database, *, tenant_id: int | None = None, batch: int = 200, deadline: datetime | None = None,
            clock: Callable[[], datetime] = utcnow) -> int:
    """Advance every session whose delay ended or reply timed out; returns how many advanced."""
    done = 0
    s = JourneySession.__table__.c
    while deadline is None or clock() < deadline:
        now = clock()
        with db.transaction() as session:
            q = select(JourneySession).where(due.timer_ended(s, now))
            if tenant_id is not None:
                q = q.where(JourneySession.tenant_id == tenant_id)
            found = list(session.exec(claims.lock_due(q.order_by(JourneySession.wake_at).limit(batch), session,
                                                      JourneySession)))
            moves = []
            for js in found:
                journey = session.get(Journey, js.journey_id) if js.journey_id else None
                if journey is None:
                    _end(session, js, CANCELLED, "journey removed", END_JOURNEY_REMOVED, now)
                    continue
                transition = runner_for(journey).on_timer(_state(js), to_epoch(now))
                _set_state(js, transition, now)
                moves.append((js.tenant_id, js.journey_slug, js.chat_id, js.id, transition))
            _record(session, moves, now)  # every message of the batch in one insert
        done += len(found)
        if len(found) < batch:
            break
    return done


def end_inactive(db: Database, now: datetime, *, tenant_id: int | None = None) -> int:
    """End live sessions idle longer than their journey's ``inactivity_timeout`` at ``now``."""
    ended = 0
    s = JourneySession.__table__.c
    with db.transaction() as session:
        q = select(Journey.id, Journey.definition)
        if tenant_id is not None:
            q = q.where(Journey.tenant_id == tenant_id)
        for journey_id, timeout, cutoff in due.inactivity_cutoffs(session.exec(q), now):
            # sessions a user's update holds are skipped (their activity is being renewed anyway)
            held = claims.lock_due(select(JourneySession.id).where(due.idle(s, journey_id, cutoff)), session,
                                   JourneySession)
            result = session.exec(
                update(JourneySession)
                .where(JourneySession.id.in_(held.scalar_subquery()))
                .values(status=CANCELLED, step_id=None, wake_at=None, ended_at=now,
                        end_reason=f"inactive for {timeout}", end_code=END_INACTIVE)
            )
            ended += result.rowcount or 0
    return ended


def end_blocked(db: Database, now: datetime, *, tenant_id: int | None = None) -> int:
    """End, as ``blocked``, the live sessions of users whose chat the outbox has marked blocked.

    The outbox marks a chat blocked when Telegram answers a send with 403 "bot was blocked by the
    user" (it knows nothing of journeys); this tick step acts on that mark. An unblock (the user
    writes again, or my_chat_member back to member) clears the mark, so a session started after it
    is left alone. Sessions a user's update holds are skipped and ended by the next tick.
    """
    with db.transaction() as session:
        q = select(JourneySession.id).where(due.in_blocked_chat(JourneySession.__table__.c, ChatState.__table__.c))
        if tenant_id is not None:
            q = q.where(JourneySession.tenant_id == tenant_id)
        result = session.exec(
            update(JourneySession)
            .where(JourneySession.id.in_(claims.lock_due(q, session, JourneySession).scalar_subquery()))
            .values(status=BLOCKED, step_id=None, wake_at=None, ended_at=now, end_code=END_BLOCKED,
                    end_reason="the user blocked the bot (Telegram answered 403)")
        )
        return result.rowcount or 0


NAMES = ("first_name", "last_name", "username")


def _known_names(session: Session, tenant_id: int, chat_id: str, variables: dict[str, str]) -> dict[str, str]:
    """The user's names from their latest session, for each of :data:`NAMES` that ``variables`` lacks."""
    missing = [name for name in NAMES if not variables.get(name)]
    if not missing:
        return {}
    latest = session.exec(select(JourneySession.variables)
                          .where(JourneySession.tenant_id == tenant_id, JourneySession.chat_id == chat_id)
                          .order_by(JourneySession.id.desc()).limit(1)).first()
    return {name: str(latest[name]) for name in missing if latest and latest.get(name)}


def start_by_event(session: Session, tenant_id: int, event: str, chat_id: str, variables: dict[str, str],
                   now: datetime) -> list[JourneySession]:
    """Start every active journey triggered by ``event`` for a known user (e.g. billing after a payment).

    ``variables`` carries what the event provides (``vip_link``, ``plan``...) and the user's names
    where the caller knows them; names it leaves empty come from the user's latest journey session
    (an event such as a Stripe payment carries no Telegram name; the user's /start did).
    """
    serialise_user(session, tenant_id, chat_id)
    variables = {**variables, **_known_names(session, tenant_id, chat_id, variables)}
    journeys = session.exec(
        select(Journey).join(JourneyTrigger, JourneyTrigger.journey_id == Journey.id)
        .where(JourneyTrigger.tenant_id == tenant_id, JourneyTrigger.kind == "event", JourneyTrigger.value == event,
               JourneyTrigger.active).order_by(Journey.slug)
    ).all()
    started = []
    for journey in journeys:
        js = start_journey(session, journey, chat_id, variables, now)
        if js is not None:
            started.append(js)
    return started
