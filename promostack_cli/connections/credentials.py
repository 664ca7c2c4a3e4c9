"""BotCredentialResolver: the decrypted token and channels of a tenant's bot in one role."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import select

from promostack_cli.connections.models import BotConnection
from promostack_cli.core.errors import BotNotConfiguredError
from promostack_cli.core.secrets import SecretBox, SecretUnreadable, mask
from promostack_cli.tenants.models import Tenant


def set_again(tenant_slug: str, role: str) -> str:
    """The command that stores a role's token again (it replaces secrets the key cannot decrypt)."""
    return f"promostack --tenant {tenant_slug} connections set {role} --token <token>"


def token_unreadable(tenant_slug: str, role: str) -> SecretUnreadable:
    from promostack_cli.core.secrets import unreadable_message

    return SecretUnreadable(unreadable_message(f"the {role} token of tenant '{tenant_slug}'", set_again(tenant_slug, role)))


@dataclass(frozen=True)
class BotCredentials:
    role: str
    token: str = field(repr=False)
    bot_id: int
    username: str | None
    vip_channel: str | None = None
    free_channel: str | None = None
    channel: str | None = None

    @property
    def masked_token(self) -> str:
        return mask(self.token)

    @property
    def channels(self) -> dict[str, str]:
        named = {"vip_channel": self.vip_channel, "free_channel": self.free_channel, "channel": self.channel}
        return {k: v for k, v in named.items() if v}


class BotCredentialResolver:
    """Reads ``bot_connections`` for one tenant; decrypts lazily and caches per role."""

    def __init__(self, tenant_id: int, *, db, box: SecretBox):
        self.tenant_id = tenant_id
        self._db = db
        self._box = box
        self._cache: dict[str, BotCredentials] = {}

    def get_bot_credentials(self, role: str) -> BotCredentials:
        if role in self._cache:
            return self._cache[role]
        db, box = self._db, self._box
        with db.session() as session:
            row = session.exec(
                select(BotConnection).where(BotConnection.tenant_id == self.tenant_id, BotConnection.role == role)
            ).first()
            if row is None:
                tenant = session.get(Tenant, self.tenant_id)
                raise BotNotConfiguredError(tenant.slug if tenant else str(self.tenant_id), role)
            if not box.can_decrypt(row.token_encrypted):
                tenant = session.get(Tenant, self.tenant_id)
                raise token_unreadable(tenant.slug if tenant else str(self.tenant_id), role)
            creds = BotCredentials(
                role=role,
                token=box.decrypt(row.token_encrypted, f"the {role} token"),
                bot_id=row.bot_id,
                username=row.username,
                vip_channel=row.vip_channel,
                free_channel=row.free_channel,
                channel=row.channel,
            )
        self._cache[role] = creds
        return creds

    def invalidate(self, role: str | None = None) -> None:
        if role is None:
            self._cache.clear()
        else:
            self._cache.pop(role, None)
