"""The shared claim queries (core/claims.py) on SQLite and PostgreSQL: what every queue relies on.

Cross promo and billing build their queues on these; the outbox, journey timers, the forex monitor
and job runs already do. Each test states what a user would see if the rule broke: a post sent
twice, a job never retried after a crash, a daily post made twice by two machines.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import select

from promostack_cli.core import claims
from promostack_cli.scheduler import jobruns
from promostack_cli.core.clock import utcnow
from promostack_cli.outbox import service
from promostack_cli.outbox.claims import OUTBOX
from promostack_cli.outbox.models import OutboxMessage


def _queue(db, tenant_id, n=3):
    now = utcnow()
    with db.transaction() as s:
        ids = [service.enqueue(s, tenant_id, "message_bot", str(5550100 + i), f"m{i}", now=now).id for i in range(n)]
    return ids, now


def _take_due(db, token, now, lease=timedelta(seconds=60)):
    c = OUTBOX.c
    with db.transaction() as s:
        ids = [r.id for r in s.execute(claims.lock_due(select(c.id).where(claims.due(OUTBOX, now)).order_by(c.id), s))]
        claims.take(s, OUTBOX, ids, token, now + lease)
    return ids


def test_a_leased_row_is_not_due_until_its_lease_expires_then_it_is_claimed_again(db, tenant_id):
    ids, now = _queue(db, tenant_id)
    first = claims.new_token("w1")
    assert _take_due(db, first, now) == ids
    assert _take_due(db, claims.new_token("w2"), now + timedelta(seconds=30)) == []   # still leased
    second = claims.new_token("w2")
    assert _take_due(db, second, now + timedelta(seconds=61)) == ids                # w1 presumed dead

    # w1 comes back late: its outcomes change nothing; w2's are recorded
    with db.transaction() as s:
        assert not claims.finish(s, OUTBOX, ids[0], first, "sent")
        assert claims.finish(s, OUTBOX, ids[0], second, "sent")
        assert claims.renew(s, OUTBOX, ids[1:], first, now + timedelta(minutes=5)) == 0
        assert claims.renew(s, OUTBOX, ids[1:], second, now + timedelta(minutes=5)) == 2
    with db.session() as s:
        rows = {m.id: m for m in s.execute(select(OutboxMessage).where(OutboxMessage.id.in_(ids))).scalars()}
    assert rows[ids[0]].status == "sent" and rows[ids[0]].claimed_by is None
    assert rows[ids[1]].status == "sending" and rows[ids[1]].claimed_by == second


def test_hand_back_returns_rows_to_the_queue_only_for_the_claim_that_holds_them(db, tenant_id):
    ids, now = _queue(db, tenant_id, 2)
    token = claims.new_token("w1")
    _take_due(db, token, now)
    with db.transaction() as s:
        n = claims.hand_back(s, OUTBOX, [{"b_id": ids[0], "b_claim": token}, {"b_id": ids[1], "b_claim": "someone-else"}])
    assert n == 1
    assert _take_due(db, claims.new_token("w2"), now) == [ids[0]]


def test_concurrent_claimers_take_disjoint_rows(db, tenant_id):
    """20 threads claim at once: every message is taken by exactly one of them (none twice, none lost)."""
    ids, now = _queue(db, tenant_id, 40)
    got: list[list[int]] = []
    errors = []
    start = threading.Barrier(20)

    def worker(i):
        try:
            start.wait()
            c = OUTBOX.c
            with db.transaction() as s:
                picked = [r.id for r in s.execute(claims.lock_due(
                    select(c.id).where(claims.due(OUTBOX, now)).order_by(c.id).limit(3), s))]
                claims.take(s, OUTBOX, picked, claims.new_token(f"w{i}"), now + timedelta(seconds=60))
            got.append(picked)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    taken = [i for part in got for i in part]
    assert sorted(taken) == ids[:len(taken)] and len(taken) == len(set(taken)) == 40


def test_a_period_runs_once_across_overlapping_runs_and_again_only_after_failure_or_expiry(db, tenant_id):
    now = utcnow()
    wins = []
    start = threading.Barrier(10)

    def run():
        start.wait()
        wins.append(jobruns.claim(db, tenant_id, "briefing", "2026-12-01", now=now))

    threads = [threading.Thread(target=run) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1

    # the owner's process died: after the lease another run takes over and records the outcome
    later = now + timedelta(seconds=301)
    assert jobruns.claim(db, tenant_id, "briefing", "2026-12-01", now=later)
    jobruns.finish(db, tenant_id, "briefing", "2026-12-01", ok=False, now=later, detail="Bot API down")
    run_ = jobruns.status(db, tenant_id, "briefing", "2026-12-01")
    assert (run_.status, run_.attempts, run_.detail) == ("failed", 2, "Bot API down")
    # a failed run is retried up to max_attempts, then left failed
    assert jobruns.claim(db, tenant_id, "briefing", "2026-12-01", now=later, max_attempts=3)
    jobruns.finish(db, tenant_id, "briefing", "2026-12-01", ok=False, now=later)
    assert not jobruns.claim(db, tenant_id, "briefing", "2026-12-01", now=later, max_attempts=3)
    assert jobruns.status(db, tenant_id, "briefing", "2026-12-01").status == "failed"



@pytest.mark.postgres
def test_advisory_locks_serialise_one_schema_not_every_deployment_in_the_database(pg_url):
    """pg advisory lock keys are database-wide: two deployments under different search_paths in one
    PostgreSQL database must not wait on each other; within one schema the lock still excludes."""
    from promostack_cli.db import Database
    from tests.conftest import PG_BASE

    raw = PG_BASE.replace("postgresql+psycopg", "postgresql")
    other_schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{other_schema}"')
    first = Database(pg_url)
    second = Database(f"{PG_BASE}{'&' if '?' in PG_BASE else '?'}options=-csearch_path%3D{other_schema}")
    try:
        with first.session() as holder, holder.begin():
            claims.serialise(holder, "inbox", 1)  # held until this block ends
            with second.session() as other, other.begin():
                assert claims.try_serialise(other, "inbox", 1), "another schema's deployment was locked out"
            with first.session() as same, same.begin():
                assert not claims.try_serialise(same, "inbox", 1), "the lock no longer excludes in its schema"
        with first.session() as after, after.begin():
            assert claims.try_serialise(after, "inbox", 1)
    finally:
        second.engine.dispose()
        first.engine.dispose()
        with psycopg.connect(raw, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{other_schema}" CASCADE')
