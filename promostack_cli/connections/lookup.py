"""Which bot an update is for: by the webhook's path secret (the receiver) or by tenant and role (the CLI).

:func:`find_bot` is the one lookup; it decrypts the header secret Telegram echoes in
``X-Telegram-Bot-Api-Secret-Token``. :class:`WebhookDirectory` caches its answers per path secret for
a short while (the receiver asks for every update). Secrets are kept out of ``repr`` and logs.
"""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass, field

from sqlmodel import Session, select

from promostack_cli.connections.models import BotConnection
from promostack_cli.core.secrets import SecretBox, fingerprint
from promostack_cli.telegram.updates import BotRef

CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class WebhookBot:
    tenant_id: int
    bot_id: int
    role: str
    username: str | None
    header_secret: str = field(repr=False)

    @property
    def ref(self) -> BotRef:
        return BotRef(self.tenant_id, self.bot_id, self.role)

    def header_matches(self, given: str) -> bool:
        """Constant-time compare with the header Telegram sent."""
        return hmac.compare_digest(given.encode(), self.header_secret.encode())


def find_bot(session: Session, box: SecretBox | None, *, webhook_secret: str | None = None,
             tenant_id: int | None = None, role: str | None = None) -> WebhookBot | None:
    """The bot whose webhook path secret is ``webhook_secret``, or the tenant's bot in ``role``."""
    if webhook_secret is not None:
        q = select(BotConnection).where(BotConnection.webhook_path_hash == fingerprint(webhook_secret))
    elif tenant_id is not None and role is not None:
        q = select(BotConnection).where(BotConnection.tenant_id == tenant_id, BotConnection.role == role)
    else:
        raise TypeError("find_bot needs webhook_secret, or tenant_id and role")
    conn = session.exec(q).first()
    if conn is None:
        return None
    header = ""
    if box is not None and conn.webhook_token_encrypted:
        header = box.decrypt(conn.webhook_token_encrypted, f"the {conn.role} webhook secret",
                             f"promostack connections set {conn.role} --token <token>")
    return WebhookBot(conn.tenant_id, conn.bot_id, conn.role, conn.username, header)


class WebhookDirectory:
    """:func:`find_bot` by path secret, cached for ``CACHE_SECONDS`` (thread-safe)."""

    def __init__(self, db, box: SecretBox, ttl: float = CACHE_SECONDS):
        self._db, self._box, self._ttl = db, box, ttl
        self._cache: dict[str, tuple[float, WebhookBot | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, webhook_secret: str) -> WebhookBot | None:
        key = fingerprint(webhook_secret)
        with self._lock:
            hit = self._cache.get(key)
            if hit and hit[0] > time.monotonic():
                return hit[1]
        with self._db.session() as session:
            bot = find_bot(session, self._box, webhook_secret=webhook_secret)
        if bot is not None:  # unknown secrets are not cached: a new connection works at once
            with self._lock:
                self._cache[key] = (time.monotonic() + self._ttl, bot)
        return bot

    def cached(self, webhook_secret: str) -> WebhookBot | None:
        """The cached answer without touching the database (None when not cached or expired)."""
        hit = self._cache.get(fingerprint(webhook_secret))
        return hit[1] if hit and hit[0] > time.monotonic() else None


def tenants_with_bot(session: Session, role: str, tenant_id: int | None = None):
    """Tenants that have a bot connected in ``role`` (one tenant with ``tenant_id``), by id."""
    from promostack_cli.tenants.models import Tenant

    stmt = select(Tenant).join(BotConnection, BotConnection.tenant_id == Tenant.id).where(BotConnection.role == role)
    if tenant_id is not None:
        stmt = stmt.where(Tenant.id == tenant_id)
    return list(session.exec(stmt.order_by(Tenant.id)))


def connected_bots(session: Session, tenant_id: int) -> list[dict]:
    """The tenant's bot connections as people see them (role, @username, webhook registered?); no secrets."""
    rows = session.exec(select(BotConnection).where(BotConnection.tenant_id == tenant_id).order_by(BotConnection.role))
    return [{"role": c.role, "username": c.username, "webhook_registered": c.webhook_registered_at is not None}
            for c in rows]
