"""A group's steps as the domains declare them, each with its due check, for :func:`jobs.runner.run`.

:func:`due_checks` asks every step's check once (``scheduler tick`` answers "idle" with it in tests
and benchmarks). A check runs on its own short connection; it may find work its step then does not
do, never the other way round.
"""

from __future__ import annotations

from datetime import datetime

from jobs.runner import Due
from jobs.steps import TickContext
from promostack_cli.core.domain import load


class Checks:
    """The due checks' one read connection, opened on first use; a failed check closes it (it may be
    a killed connection) and the next check opens a fresh one."""

    def __init__(self, db, tenant_id: int | None):
        self.db, self.tenant_id, self.conn = db, tenant_id, None

    def due(self, check) -> Due:
        def ask(now: datetime, deadline: datetime) -> bool:
            if self.conn is None:
                self.conn = self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                return bool(check(self.conn, now, deadline, self.tenant_id))
            except BaseException:
                self.close()
                raise

        return ask

    def close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            conn.close()


class Steps(list):
    """(step, due check) pairs; closing them closes the checks' connection (the runner does, at its end)."""

    def __init__(self, pairs, checks: Checks):
        super().__init__(pairs)
        self.checks = checks

    def close(self) -> None:
        self.checks.close()


def make_steps(context: TickContext, group: str, names: set[str] | None = None) -> Steps:
    """The group's steps (only ``names`` when given), made from ``context``, each with its due check."""
    from promostack_cli.domains import steps

    checks = Checks(context.db, context.tenant_id)
    made = []
    for declared in steps(group):
        if names is not None and declared.name not in names:
            continue
        made.append((load(declared.factory)(context), checks.due(load(declared.due)) if declared.due else None))
    return Steps(made, checks)


def due_checks(db, group: str, now: datetime, deadline: datetime, *, tenant_id: int | None = None) -> dict[str, bool]:
    """Each step of ``group``: whether its due check finds work at ``now`` (delivery: before ``deadline``)."""
    from promostack_cli.domains import steps

    found = {}
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for declared in steps(group):
            found[declared.name] = bool(load(declared.due)(conn, now, deadline, tenant_id)) if declared.due else True
    return found


def nothing_due(db, group: str, now: datetime, deadline: datetime, *, tenant_id: int | None = None) -> bool:
    return not any(due_checks(db, group, now, deadline, tenant_id=tenant_id).values())
