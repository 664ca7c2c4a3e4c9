"""A tenant's two bots: the signal bot (posts to the VIP and FREE channels) and the message bot (talks to users)."""

from enum import StrEnum

SIGNAL_BOT, MESSAGE_BOT = "signal_bot", "message_bot"
ROLES = (SIGNAL_BOT, MESSAGE_BOT)


class BotRole(StrEnum):
    """A bot role as the CLI takes it (a choice: ``signal_bot`` or ``message_bot``)."""

    signal_bot = SIGNAL_BOT
    message_bot = MESSAGE_BOT
