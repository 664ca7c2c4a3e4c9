"""Connections: each tenant's two bots, validated with Telegram, webhooks registered with a secret."""

from promostack_cli.core.domain import Command, Domain

DOMAIN = Domain(
    "connections",
    commands=(Command("connections", "promostack_cli.connections.cli:app",
                      "Bot connections: the signal bot (VIP/FREE channels) and the message bot (users)."),),
    models="promostack_cli.connections.models",
)
