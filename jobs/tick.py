"""A group's steps as the domains declare them, each with its due check, for :func:`jobs.runner.run`.

:func:`due_checks` asks every step's check once (``scheduler tick`` answers "idle" with it in tests
and benchmarks). A check runs on its own short connection; it may find work its step then does not
do, never the other way round.
"""

from __future__ import annotations

from datetime import datetime

from jobs.runner import Due
from jobs.steps import TickStep, TickContext
from promostack_cli.core.domain import load


def make_steps(context: TickContext, group: str, names: set[str] | None = None) -> list[tuple[TickStep, Due | None]]:
    """The group's steps (only ``names`` when given), made from ``context``, each with its due check."""
    from promostack_cli.domains import steps

    made = []
    for declared in steps(group):
        if names is not None and declared.name not in names:
            continue
        due = _due(context, load(declared.due)) if declared.due else None
        made.append((load(declared.factory)(context), due))
    return made


def _due(context: TickContext, check) -> Due:
    def due(now: datetime, deadline: datetime) -> bool:
        with context.db.engine.connect() as conn:
            return bool(check(conn, now, deadline, context.tenant_id))

    return due


def due_checks(db, group: str, now: datetime, deadline: datetime, *, tenant_id: int | None = None) -> dict[str, bool]:
    """Each step of ``group``: whether its due check finds work at ``now`` (delivery: before ``deadline``)."""
    from promostack_cli.domains import steps

    found = {}
    with db.engine.connect() as conn:
        for declared in steps(group):
            found[declared.name] = bool(load(declared.due)(conn, now, deadline, tenant_id)) if declared.due else True
    return found


def nothing_due(db, group: str, now: datetime, deadline: datetime, *, tenant_id: int | None = None) -> bool:
    return not any(due_checks(db, group, now, deadline, tenant_id=tenant_id).values())
