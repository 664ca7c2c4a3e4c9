"""Connect a tenant's bots: validate with Telegram, store encrypted, register the webhook.

Telegram calls happen outside any database transaction; the row is written only after every call
that must succeed has succeeded, so a rejected token or a refused webhook leaves nothing behind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from sqlmodel import Session, select

from promostack_cli.connections.credentials import set_again, token_unreadable
from promostack_cli.connections.models import BotConnection, BotRole
from promostack_cli.core.errors import NotFoundError, OperationalError, ValidationError
from promostack_cli.core.secrets import SecretBox, fingerprint, mask, new_secret
from promostack_cli.db import Database
from promostack_cli.telegram import errors as tg
from promostack_cli.telegram.chats import validate_channel
from promostack_cli.telegram.client import ALLOWED_UPDATES, TelegramClient
from promostack_cli.tenants.models import Tenant

TOKEN_RE = re.compile(r"^(\d{3,20}):[A-Za-z0-9_-]{20,}$")
USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{1,28}[Bb][Oo][Tt]$")
WEBHOOK_PATH = "/api/bot-webhook/"

ClientFactory = Callable[[str], TelegramClient]


@dataclass
class ConnectionRequest:
    role: BotRole
    token: str | None = None
    vip_channel: str | None = None
    free_channel: str | None = None
    channel: str | None = None
    validate: bool = True
    register_webhook: bool = True
    rotate_secret: bool = False
    dry_run: bool = False
    username: str | None = None  # offline set-up only: Telegram's answer to getMe wins


@dataclass
class ConnectionOutcome:
    connection: dict
    created: bool
    validated: bool
    webhook: str  # what happened to the webhook, in words
    notes: list[str] = field(default_factory=list)


def validate_token(token: str) -> int:
    m = TOKEN_RE.match((token or "").strip())
    if not m:
        raise ValidationError(
            "The token is not shaped like a bot token (digits ':' then 35 letters, digits, '_' or '-'). "
            "Copy it again from @BotFather."
        )
    return int(m.group(1))


def webhook_url(public_url: str, path_secret: str) -> str:
    return f"{public_url.rstrip('/')}{WEBHOOK_PATH}{path_secret}"


def secrets_state(conn: BotConnection, box: SecretBox) -> str:
    """``ok``, or which of the connection's stored secrets the current key cannot decrypt."""
    bad = [name for name, value in (("token", conn.token_encrypted), ("webhook secret", conn.webhook_path_encrypted),
                                    ("webhook header secret", conn.webhook_token_encrypted))
           if not box.can_decrypt(value)]
    return "ok" if not bad else "cannot decrypt " + ", ".join(bad)


def describe(conn: BotConnection, box: SecretBox | None = None) -> dict:
    """A connection as shown to people and scripts: no secret in clear. With ``box``: whether the
    current key decrypts its secrets (``secrets``: ``ok`` or ``cannot decrypt ...``)."""
    extra = {"secrets": secrets_state(conn, box)} if box is not None else {}
    return {**extra,
        "role": conn.role,
        "username": conn.username,
        "bot_id": conn.bot_id,
        "token": conn.token_hint,
        "vip_channel": conn.vip_channel,
        "free_channel": conn.free_channel,
        "channel": conn.channel,
        "webhook_url": conn.webhook_url,
        "webhook_registered_at": conn.webhook_registered_at.isoformat() if conn.webhook_registered_at else None,
        "validated_at": conn.validated_at.isoformat() if conn.validated_at else None,
        "updated_at": conn.updated_at.isoformat(),
    }


def get_connection(session: Session, tenant_id: int, role: str) -> BotConnection | None:
    return session.exec(
        select(BotConnection).where(BotConnection.tenant_id == tenant_id, BotConnection.role == role)
    ).first()


def list_connections(session: Session, tenant_id: int) -> list[BotConnection]:
    return list(session.exec(select(BotConnection).where(BotConnection.tenant_id == tenant_id).order_by(BotConnection.role)))


def _check_role_options(req: ConnectionRequest, existing: BotConnection | None) -> None:
    if req.role == BotRole.signal_bot:
        if req.channel:
            raise ValidationError("--channel is for message_bot; signal_bot takes --vip-channel and --free-channel.")
        if existing is None and not (req.vip_channel and req.free_channel):
            raise ValidationError("signal_bot needs --vip-channel and --free-channel (numeric -100… ids or @names).")
    elif req.vip_channel or req.free_channel:
        raise ValidationError("--vip-channel/--free-channel are for signal_bot; message_bot takes --channel.")
    for option, value in (("--vip-channel", req.vip_channel), ("--free-channel", req.free_channel), ("--channel", req.channel)):
        if value is not None:
            validate_channel(value, option)
    if existing is None and not req.token:
        raise ValidationError(f"{req.role} is not connected yet: pass --token (from @BotFather).")


def _network_problem(exc: tg.NetworkError, base_url: str) -> str:
    """``Cannot reach the Bot API at URL: why`` once, whether or not the client already said where."""
    described = exc.description
    if described.lower().startswith("cannot reach the bot api"):
        return described[0].upper() + described[1:]
    return f"Cannot reach the Bot API at {base_url}: {described}"


def _explain_telegram(exc: tg.TelegramError, role: str, base_url: str) -> Exception:
    if isinstance(exc, tg.Unauthorized):
        return ValidationError(f"Telegram rejected the {role} token (401 Unauthorized). Check it with @BotFather; nothing was stored.")
    if isinstance(exc, tg.NotFound):
        return ValidationError(f"Telegram did not recognise the {role} token (404). Check it with @BotFather; nothing was stored.")
    if isinstance(exc, tg.NetworkError):
        return OperationalError(f"{_network_problem(exc, base_url)}. Nothing was stored; use --no-validate to store the token offline.")
    return OperationalError(f"Telegram refused getMe for {role}: {exc}. Nothing was stored.")


class ConnectionsService:
    def __init__(self, db: Database, box: SecretBox, client_factory: ClientFactory, *, public_url: str | None,
                 api_url: str):
        self.db = db
        self.box = box
        self.client_factory = client_factory
        self.public_url = public_url
        self.api_url = api_url

    # -- set -------------------------------------------------------------------------------
    def set(self, tenant_id: int, req: ConnectionRequest, now: datetime) -> ConnectionOutcome:
        with self.db.session() as session:
            existing = get_connection(session, tenant_id, req.role)
            slug = session.get(Tenant, tenant_id).slug
        # secrets the current key cannot decrypt (PROMOSTACK_SECRET_KEY changed or was lost): a new
        # --token replaces them all, once Telegram accepts it; the queue and the settings are kept
        unreadable = existing is not None and not all(
            self.box.can_decrypt(v) for v in (existing.token_encrypted, existing.webhook_path_encrypted,
                                              existing.webhook_token_encrypted))
        if unreadable and not req.token:
            raise token_unreadable(slug, req.role)
        existing_token = None
        if existing is not None and not req.token:
            existing_token = self.box.decrypt(existing.token_encrypted, f"the {req.role} token", set_again(slug, req.role))
        _check_role_options(req, existing)
        token = (req.token or existing_token).strip()
        bot_id = validate_token(token)
        notes: list[str] = []
        if unreadable:
            notes.append("the stored secrets could not be decrypted with the current key: replaced with this "
                         "token and a new webhook secret; queued messages are kept")

        username = existing.username if existing and existing.bot_id == bot_id else None
        if req.username:
            if req.validate:
                raise ValidationError("--username is for --no-validate set-ups; with validation Telegram reports it.")
            if not USERNAME_RE.match(req.username.lstrip("@")):
                raise ValidationError(f"'{req.username}' is not a bot username (5-32 letters, digits or _, ending in 'bot').")
            username = req.username.lstrip("@")
        validated = False
        if req.validate:
            with self.client_factory(token) as client:
                try:
                    me = client.get_me()
                except tg.TelegramError as exc:
                    raise _explain_telegram(exc, req.role, self.api_url) from None
            username, bot_id, validated = me.get("username"), int(me["id"]), True
        self._check_conflicts(tenant_id, req.role, bot_id)

        same_bot = existing is not None and existing.bot_id == bot_id
        keep_secret = same_bot and not req.rotate_secret and not unreadable
        if keep_secret:
            path = self.box.decrypt(existing.webhook_path_encrypted, "the webhook secret")
            header = self.box.decrypt(existing.webhook_token_encrypted, "the webhook secret")
        else:
            path, header = new_secret(24), new_secret(32)

        webhook_state = existing.webhook_registered_at if keep_secret else None
        webhook_shown = existing.webhook_url if keep_secret else None
        if not req.register_webhook:
            webhook = "not registered (--no-webhook)"
        elif not self.public_url:
            webhook = "skipped: PROMOSTACK_PUBLIC_URL is not set, so Telegram has nowhere to send updates"
        elif req.dry_run:
            webhook = f"would register {webhook_url(self.public_url, mask(path))}"
        else:
            url = webhook_url(self.public_url, path)
            with self.client_factory(token) as client:
                try:
                    client.set_webhook(url, secret_token=header, allowed_updates=ALLOWED_UPDATES)
                except tg.TelegramError as exc:
                    if isinstance(exc, (tg.Unauthorized, tg.NotFound, tg.NetworkError)):
                        raise _explain_telegram(exc, req.role, self.api_url) from None
                    raise OperationalError(
                        f"Telegram refused the webhook {webhook_url(self.public_url, mask(path))}: {exc}. Nothing was stored; "
                        "fix PROMOSTACK_PUBLIC_URL (it must be HTTPS) or pass --no-webhook."
                    ) from None
            webhook_state, webhook_shown = now, webhook_url(self.public_url, mask(path))
            webhook = f"registered {webhook_shown}"

        values = dict(
            bot_id=bot_id,
            username=username,
            token_hint=mask(token),
            vip_channel=req.vip_channel if req.vip_channel is not None else (existing.vip_channel if existing else None),
            free_channel=req.free_channel if req.free_channel is not None else (existing.free_channel if existing else None),
            channel=req.channel if req.channel is not None else (existing.channel if existing else None),
            webhook_url=webhook_shown,
            webhook_registered_at=webhook_state,
            validated_at=now if validated else (existing.validated_at if same_bot else None),
            updated_at=now,
        )
        if not validated:
            notes.append("token stored without checking it with Telegram (--no-validate); run: promostack connections test " + req.role)
        if req.dry_run:
            preview = BotConnection(tenant_id=tenant_id, role=req.role, token_encrypted="", webhook_path_hash="",
                                    webhook_path_encrypted="", webhook_token_encrypted="", **values)
            return ConnectionOutcome(describe(preview), existing is None, validated, webhook, notes + ["dry run: nothing stored"])

        with self.db.transaction() as session:
            row = get_connection(session, tenant_id, req.role)
            created = row is None
            if row is None:
                row = BotConnection(tenant_id=tenant_id, role=req.role, created_at=now, token_encrypted="",
                                    webhook_path_hash="", webhook_path_encrypted="", webhook_token_encrypted="", **values)
            else:
                for key, value in values.items():
                    setattr(row, key, value)
            row.token_encrypted = self.box.encrypt(token)
            row.webhook_path_hash = fingerprint(path)
            row.webhook_path_encrypted = self.box.encrypt(path)
            row.webhook_token_encrypted = self.box.encrypt(header)
            session.add(row)
            session.flush()
            shown = describe(row)
        return ConnectionOutcome(shown, created, validated, webhook, notes)

    def _check_conflicts(self, tenant_id: int, role: str, bot_id: int) -> None:
        with self.db.session() as session:
            others = session.exec(select(BotConnection, Tenant).join(Tenant).where(BotConnection.bot_id == bot_id)).all()
        for conn, tenant in others:
            if conn.tenant_id == tenant_id and conn.role == role:
                continue
            where = f"as {conn.role}" + ("" if conn.tenant_id == tenant_id else f" for tenant '{tenant.slug}'")
            raise ValidationError(
                f"This bot is already connected {where}. Each role needs its own bot: Telegram delivers a bot's updates to one webhook."
            )

    # -- test ------------------------------------------------------------------------------
    def test(self, tenant_id: int, role: str) -> list[dict]:
        """Checks against Telegram; each is {check, ok, detail} with the problem in words."""
        with self.db.session() as session:
            conn = get_connection(session, tenant_id, role)
            if conn is None:
                tenant = session.get(Tenant, tenant_id)
                from promostack_cli.core.errors import BotNotConfiguredError

                raise BotNotConfiguredError(tenant.slug, role)
            slug = session.get(Tenant, tenant_id).slug
        checks: list[dict] = []

        def add(check: str, ok: bool, detail: str) -> None:
            checks.append({"check": check, "ok": ok, "detail": detail})

        state = secrets_state(conn, self.box)
        if state != "ok":
            add("secrets", False, f"{state} with the current PROMOSTACK_SECRET_KEY. Restore the old key (or set "
                f"PROMOSTACK_SECRET_KEY_OLD and run promostack secrets rotate), or run: {set_again(slug, role)}")
            return checks
        token = self.box.decrypt(conn.token_encrypted, f"the {role} token")

        with self.client_factory(token) as client:
            try:
                me = client.get_me()
            except tg.TelegramError as exc:
                if isinstance(exc, (tg.Unauthorized, tg.NotFound)):
                    add("token", False, "Telegram rejects the token (revoked?). Get a new one from @BotFather and run connections set.")
                else:
                    add("token", False, f"cannot check the token: {exc}")
                return checks
            detail = f"@{me.get('username')} (id {me.get('id')})"
            if conn.username and me.get("username") != conn.username:
                detail += f"; stored username was @{conn.username}: run connections set again to refresh it"
            add("token", True, detail)

            for label, chat in (("VIP channel", conn.vip_channel), ("FREE channel", conn.free_channel), ("channel", conn.channel)):
                if chat:
                    add(label, *self._check_chat(client, chat, int(me["id"]), role))

            try:
                info = client.get_webhook_info()
            except tg.TelegramError as exc:
                add("webhook", False, f"cannot read webhook info: {exc}")
                return checks
        add("webhook", *self._check_webhook(conn, info))
        return checks

    @staticmethod
    def _check_chat(client: TelegramClient, chat: str, bot_id: int, role: str) -> tuple[bool, str]:
        from promostack_cli.telegram.chats import api_chat_id

        try:
            info = client.get_chat(api_chat_id(chat))
        except tg.ChatNotFound:
            return False, f"{chat}: chat not found. Add the bot to the channel as an administrator, then check the id."
        except tg.TelegramError as exc:
            return False, f"{chat}: {exc}"
        title = info.get("title") or info.get("username") or chat
        try:
            member = client.get_chat_member(api_chat_id(chat), bot_id)
        except tg.TelegramError as exc:
            return False, f"{title}: cannot read the bot's rights: {exc}"
        status = member.get("status")
        if status == "creator":
            return True, f"{title}: bot is the owner"
        if status != "administrator":
            return False, f"{title}: the bot is not an administrator ({status}). Make it an admin of the channel."
        needed = ["can_post_messages"] if role == BotRole.signal_bot and info.get("type") == "channel" else []
        needed += ["can_invite_users"] if role == BotRole.signal_bot else []
        missing = [r for r in needed if not member.get(r)]
        if missing:
            return False, f"{title}: the bot is an admin but lacks {', '.join(missing)}."
        return True, f"{title}: bot is an administrator"

    def _check_webhook(self, conn: BotConnection, info: dict) -> tuple[bool, str]:
        current = info.get("url") or ""
        if not self.public_url:
            if current:
                return False, "Telegram has a webhook set, but PROMOSTACK_PUBLIC_URL is not set here"
            return False, "no webhook: PROMOSTACK_PUBLIC_URL is not set, so updates are not delivered"
        expected = webhook_url(self.public_url, self.box.decrypt(conn.webhook_path_encrypted, "the webhook secret"))
        if not current:
            return False, "no webhook registered. Run: promostack connections set " + conn.role
        if current != expected:
            return False, "the webhook points elsewhere (another deployment or an old secret). Run: promostack connections set " + conn.role
        problems = []
        if info.get("last_error_message"):
            problems.append(f"last delivery error: {info['last_error_message']}")
        if info.get("pending_update_count"):
            problems.append(f"{info['pending_update_count']} updates waiting")
        missing = sorted(set(ALLOWED_UPDATES) - set(info.get("allowed_updates") or ALLOWED_UPDATES))
        if missing:
            problems.append("not receiving " + ", ".join(missing))
        if problems:
            return False, f"{webhook_url(self.public_url, mask(expected.rsplit('/', 1)[1]))}: " + "; ".join(problems)
        return True, f"{webhook_url(self.public_url, mask(expected.rsplit('/', 1)[1]))}"

    # -- remove ----------------------------------------------------------------------------
    def remove(self, tenant_id: int, role: str, now: datetime, *, delete_webhook: bool = True) -> dict:
        from promostack_cli.outbox.service import cancel_role

        with self.db.session() as session:
            conn = get_connection(session, tenant_id, role)
        if conn is None:
            raise NotFoundError(f"No {role} connection to remove.")
        result = {"role": role, "webhook": "left as is (--keep-webhook)", "cancelled_messages": 0}
        if delete_webhook and not self.box.can_decrypt(conn.token_encrypted):
            result["webhook"] = "not deleted: the stored token cannot be decrypted (delete it with the bot's token, or set a new webhook)"
        elif delete_webhook:
            token = self.box.decrypt(conn.token_encrypted, f"the {role} token")
            with self.client_factory(token) as client:
                try:
                    client.delete_webhook()
                    result["webhook"] = "deleted"
                except (tg.Unauthorized, tg.NotFound):
                    result["webhook"] = "token no longer valid; nothing to delete"
                except tg.TelegramError as exc:
                    raise OperationalError(
                        f"Could not delete the webhook ({exc}); the connection is kept. Retry, or pass --keep-webhook."
                    ) from None
        with self.db.transaction() as session:
            row = get_connection(session, tenant_id, role)
            if row is not None:
                result["cancelled_messages"] = cancel_role(session, tenant_id, role, now, reason=f"{role} connection removed")
                session.delete(row)
        return result
