"""Expected errors carry an exit code and one actionable sentence; the CLI prints them without a traceback.

Exit codes (documented in the README): 0 ok, 1 operational failure, 2 usage or validation error.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class PromoStackError(Exception):
    """An expected failure, reported as one line. Subclasses pick the exit code."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class OperationalError(PromoStackError):
    """Something outside the user's input failed (network, database, remote API)."""

    exit_code = EXIT_FAILURE


class ValidationError(PromoStackError):
    """The user's input is wrong; nothing was changed."""

    exit_code = EXIT_USAGE


class NotFoundError(ValidationError):
    """A named thing (tenant, message, connection) does not exist."""


class TenantNotSelectedError(ValidationError):
    pass


class BotNotConfiguredError(PromoStackError):
    """The tenant has no connection for the bot role a command needs."""

    exit_code = EXIT_FAILURE

    ROLE_LABELS = {"signal_bot": "Signal Bot", "message_bot": "Message Bot"}

    def __init__(self, tenant_slug: str, role: str):
        self.tenant_slug = tenant_slug
        self.role = role
        label = self.ROLE_LABELS.get(role, role)
        hint = f"promostack --tenant {tenant_slug} connections set {role} --token <token>"
        if role == "signal_bot":
            hint += " --vip-channel <id> --free-channel <id>"
        super().__init__(f"{label} not configured for tenant '{tenant_slug}'. Run: {hint}")


class DatabaseNotMigratedError(OperationalError):
    pass
