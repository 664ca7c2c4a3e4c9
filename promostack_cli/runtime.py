"""TenantRuntime: the one container of tenant-scoped services, each built on first use."""

from __future__ import annotations

from functools import cached_property

from promostack_cli.connections.credentials import BotCredentialResolver
from promostack_cli.core.secrets import SecretBox, secret_box_for
from promostack_cli.db import Database
from promostack_cli.settings import Settings, get_settings


def default_db(settings: Settings | None = None) -> Database:
    """The configured database, every table registered (the receiver's and TenantRuntime's way in)."""
    from promostack_cli.models import open_database

    from promostack_cli.db import refuse_missing_sqlite

    settings = settings or get_settings()
    if not settings.uses_default_database:
        refuse_missing_sqlite(settings.resolved_database_url)
    return open_database(settings.resolved_database_url)


def default_box(settings: Settings | None = None) -> SecretBox:
    return secret_box_for(settings or get_settings())


class TenantRuntime:
    """Tenant-scoped services. Later domains (forex engine, journeys...) add cached properties here."""

    def __init__(self, tenant_id: int, *, settings: Settings | None = None, db: Database | None = None,
                 box: SecretBox | None = None):
        self.tenant_id = tenant_id
        self.settings = settings or get_settings()
        self._db = db
        self._box = box
        self._clients: dict[str, object] = {}
        self._api = None  # BotApi, built on first use

    @cached_property
    def db(self) -> Database:
        return self._db or default_db(self.settings)

    @cached_property
    def box(self) -> SecretBox:
        return self._box or default_box(self.settings)

    def session(self):
        return self.db.session()

    @cached_property
    def credentials(self) -> BotCredentialResolver:
        return BotCredentialResolver(self.tenant_id, db=self.db, box=self.box)

    def telegram(self, role: str):
        """A Bot API client for the tenant's bot in ``role`` (raises BotNotConfiguredError)."""
        if role not in self._clients:
            from promostack_cli.telegram.client import BotApi

            if self._api is None:
                self._api = BotApi.from_settings(self.settings)
            self._clients[role] = self._api.client(self.credentials.get_bot_credentials(role).token)
        return self._clients[role]

    def close(self) -> None:
        self._clients.clear()
        if self._api is not None:
            self._api.close()
            self._api = None
