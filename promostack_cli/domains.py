"""The domains, in order: the one list every way in is read from (see :mod:`promostack_cli.core.domain`).

The order is the order of ``promostack --help``, of the update handlers (billing's ``/start`` codes
before the journeys' deep links) and of the tick's steps within a stage. A new domain is a package
with a ``domain.py`` and one line here.
"""

from __future__ import annotations

from functools import cache

from promostack_cli.core.domain import Command, Domain, Step, load

PACKAGES = (
    "promostack_cli.tenants",
    "promostack_cli.connections",
    "promostack_cli.billing",
    "promostack_cli.journeys",
    "promostack_cli.forex",
    "promostack_cli.crosspromo",
    "promostack_cli.outbox",
    "promostack_cli.scheduler",
    "promostack_cli.webhooks",
    "promostack_cli.system",
)


@cache
def domains() -> tuple[Domain, ...]:
    return tuple(load(f"{package}.domain:DOMAIN") for package in PACKAGES)


def commands() -> list[Command]:
    return [command for domain in domains() for command in domain.commands]


def command(name: str) -> Command | None:
    return next((c for c in commands() if c.name == name), None)


def steps(group: str) -> list[Step]:
    """The group's steps in the order a tick runs them: by stage, then in the domains' order."""
    found = [step for domain in domains() for step in domain.steps if step.group == group]
    return sorted(found, key=lambda step: step.stage)  # stable: the domains' order within a stage


def groups() -> list[str]:
    return list(dict.fromkeys(step.group for domain in domains() for step in domain.steps))
