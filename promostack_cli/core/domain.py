"""How a domain declares its ways in: CLI sub-apps, tables, update handlers, tick steps, receiver routes.

Each domain package has an import-light ``domain.py`` (it imports this module only) whose ``DOMAIN``
names everything by ``"module:attribute"`` strings, loaded only when used: the root CLI lists the
commands without importing them, ``promostack journeys list`` imports the journeys' CLI and nothing
of forex, the idle ``scheduler tick`` imports each step's due check (SQLAlchemy Core) and no step.
:mod:`promostack_cli.domains` holds the ordered list; the root CLI, the table registry
(:mod:`promostack_cli.models`, Alembic), the update router, the tick (:mod:`jobs.tick`) and the
receiver read it. Adding a domain is a new package and one line there.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

# Tick stages, in the order a tick runs them; within a stage, steps run in the domains' order.
INTAKE = 0     # what arrived and was not processed (stored Telegram updates)
WORK = 1       # due work that queues messages (journey timers, cross promo, billing sweep, forex)
DELIVER = 2    # the outbox
REACT = 3      # what delivery found (chats that blocked the bot)

TICK = "tick"  # the group `scheduler tick` runs; `forex tick` runs the group "forex"


def load(ref: str) -> Any:
    """The attribute named by ``"package.module:attribute"`` (the module when there is no ``:``)."""
    module, _, attribute = ref.partition(":")
    loaded = import_module(module)
    return getattr(loaded, attribute) if attribute else loaded


@dataclass(frozen=True)
class Command:
    """A sub-app of the root CLI: ``promostack <name> ...``."""

    name: str
    app: str                 # "promostack_cli.journeys.cli:app", a typer.Typer
    help: str                # the line `promostack --help` shows (without importing the sub-app)


@dataclass(frozen=True)
class Step:
    """A piece of cron work: made once per tick process, called once per tick, with its due check.

    ``factory(context) -> step`` where ``step(now, deadline) -> counts``, ``step.describe(counts)``
    and ``step.close()`` (:class:`jobs.steps.Step`). ``due(conn, now, deadline, tenant_id) -> bool``
    answers in SQLAlchemy Core (no ORM, no domain models) whether the step may have work; it may
    find work the step then does not do, never the other way round. ``due=None``: always called.
    """

    name: str                # "journeys.timers": its line in the tick's summary
    factory: str
    due: str | None
    stage: int = WORK
    group: str = TICK


@dataclass(frozen=True)
class Domain:
    name: str
    commands: tuple[Command, ...] = ()
    models: str | None = None      # the module whose import registers the domain's tables
    handlers: str | None = None    # "module:register": register(router) adds its update handlers
    steps: tuple[Step, ...] = ()
    routes: str | None = None      # "module:routes": routes(receiver) -> Starlette routes
