"""Tenants: one operator business each; every other table's rows belong to one."""

from promostack_cli.core.domain import Command, Domain

DOMAIN = Domain(
    "tenants",
    commands=(Command("tenants", "promostack_cli.tenants.cli:app",
                      "Tenants: one operator business each (channels, bots, data)."),),
    models="promostack_cli.tenants.models",
)
