"""Encryption of secrets at rest and masking of secrets in output.

Bot tokens and webhook secrets are stored Fernet-encrypted (AES-128-CBC + HMAC-SHA256). The key comes
from ``PROMOSTACK_SECRET_KEY`` (any string of at least 32 characters; hashed to a Fernet key) or, for
the embedded SQLite default only, from a key file generated beside the database with mode 0600.
PostgreSQL is shared by several machines, so it needs the explicit key: a per-machine generated file
would make tokens written on one machine unreadable on another.

Key rotation without downtime: ``PROMOSTACK_SECRET_KEY_OLD`` holds the previous key (several,
separated by commas or spaces). A :class:`SecretBox` encrypts with the current key only and decrypts
with the current key or any old one (``MultiFernet``), so receivers and ticks keep reading every
secret while ``promostack secrets rotate`` re-encrypts the rows under the current key; after that
the old key can be dropped from the environment.

A secret no key can decrypt raises :class:`SecretUnreadable` (an ``OperationalError``) whose message
names the command that stores it again; :meth:`SecretBox.can_decrypt` asks without raising.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets as _secrets
from functools import cached_property
from pathlib import Path

from promostack_cli.core.errors import OperationalError, ValidationError

KEY_FILE_NAME = "secret.key"
MIN_KEY_LENGTH = 32
_TOKEN_RE = re.compile(r"(?<![0-9])(\d{3,}):([A-Za-z0-9_-]{20,})")


def mask(value: str | None, keep: int = 2) -> str:
    """``123456:ABCDEF...xyz`` -> ``123456:AB…yz``; other secrets -> ``ab…yz``. Never the whole value."""
    if not value:
        return ""
    if ":" in value and value.split(":", 1)[0].isdigit():
        bot_id, rest = value.split(":", 1)
        return f"{bot_id}:{rest[:keep]}…{rest[-keep:]}" if len(rest) > 2 * keep else f"{bot_id}:…"
    if len(value) <= 2 * keep + 2:
        return "…"
    return f"{value[:keep]}…{value[-keep:]}"


_APIKEY_RE = re.compile(r"((?:apikey|api_key)=)([^&\s'\"]+)", re.IGNORECASE)
_STRIPE_SECRET_RE = re.compile(r"\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9]{4,}|\bwhsec_[A-Za-z0-9+/=]{4,}")


def redact(text: str) -> str:
    """Mask anything shaped like a bot token, and ``apikey=`` query values (Twelve Data), inside
    free text (error messages, URLs, log lines)."""
    text = _TOKEN_RE.sub(lambda m: mask(m.group(0)), text)
    text = _STRIPE_SECRET_RE.sub(lambda m: mask(m.group(0), 4), text)  # Stripe keys and webhook secrets
    return _APIKEY_RE.sub(lambda m: m.group(1) + mask(m.group(2)), text)


def new_secret(nbytes: int = 24) -> str:
    """A random URL-safe secret ([A-Za-z0-9_-], as Telegram's secret_token requires)."""
    return _secrets.token_urlsafe(nbytes)


def fingerprint(value: str) -> str:
    """Stable SHA-256 hex digest used to look a secret up without storing it in clear."""
    return hashlib.sha256(value.encode()).hexdigest()


def _fernet_key_from(material: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest())


def load_or_create_key_file(path: Path) -> str:
    """Read the generated key, creating it (mode 0600, never overwritten) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text().strip()
        if len(key) < MIN_KEY_LENGTH:
            raise OperationalError(f"Key file {path} is damaged (too short); restore it from a backup.")
        return key
    key = _secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


class SecretUnreadable(OperationalError):
    """A stored secret that neither the current key nor an old one decrypts."""


def split_keys(value: str | None) -> list[str]:
    """``PROMOSTACK_SECRET_KEY_OLD``: one key, or several separated by commas or white space."""
    return [k for k in re.split(r"[\s,]+", value or "") if k]


def _check_key(material: str, name: str) -> None:
    if len(material) < MIN_KEY_LENGTH:
        raise ValidationError(
            f"{name} must be at least {MIN_KEY_LENGTH} characters. "
            "Generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )


class SecretBox:
    """Encrypts with the current key; decrypts with it or any of ``old_keys`` (see the module doc)."""

    def __init__(self, key_material: str, old_keys: list[str] | tuple[str, ...] = ()):
        _check_key(key_material, "PROMOSTACK_SECRET_KEY")
        for old in old_keys:
            _check_key(old, "Each old key (PROMOSTACK_SECRET_KEY_OLD)")
        self._material, self._old_material = key_material, tuple(k for k in old_keys if k != key_material)

    # the ciphers are made on first use: a process that decrypts nothing (the idle tick) never
    # imports cryptography
    @cached_property
    def _fernet(self):
        from cryptography.fernet import Fernet

        return Fernet(_fernet_key_from(self._material))

    @cached_property
    def _multi(self):
        from cryptography.fernet import Fernet, MultiFernet

        return MultiFernet([self._fernet, *(Fernet(_fernet_key_from(k)) for k in self._old_material)])

    def __repr__(self) -> str:
        return f"SecretBox(<key>, {len(self._old_material)} old key(s))"

    @property
    def has_old_keys(self) -> bool:
        return bool(self._old_material)

    def with_old_keys(self, old_keys: list[str]) -> "SecretBox":
        """The same current key, also decrypting with ``old_keys`` (``secrets rotate``)."""
        return SecretBox(self._material, [*self._old_material, *old_keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str, what: str = "a stored secret", fix: str | None = None) -> str:
        """The plaintext; :class:`SecretUnreadable` naming ``fix`` (the command that stores the
        secret again) when no key decrypts it."""
        from cryptography.fernet import InvalidToken

        try:
            return self._multi.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(unreadable_message(what, fix)) from None

    def can_decrypt(self, token: str | None) -> bool:
        from cryptography.fernet import InvalidToken

        if not token:
            return True
        try:
            self._multi.decrypt(token.encode())
            return True
        except InvalidToken:
            return False

    def is_current(self, token: str) -> bool:
        """True when ``token`` was encrypted with the current key (nothing to rotate)."""
        from cryptography.fernet import InvalidToken

        try:
            self._fernet.decrypt(token.encode())
            return True
        except InvalidToken:
            return False

    def rotate(self, token: str, what: str = "a stored secret", fix: str | None = None) -> str:
        """``token`` re-encrypted under the current key (it may be under an old one)."""
        return self.encrypt(self.decrypt(token, what, fix))


def unreadable_message(what: str, fix: str | None = None) -> str:
    return (f"Cannot decrypt {what}: PROMOSTACK_SECRET_KEY (or the key file) is not the key it was stored with. "
            "Restore the original key (or put it in PROMOSTACK_SECRET_KEY_OLD and run: promostack secrets rotate)"
            + (f", or store it again: {fix}" if fix else ", or store the secret again") + ".")


def secret_box_for(settings) -> SecretBox:
    """The SecretBox for these settings (see module docstring for where the key comes from)."""
    old = getattr(settings, "secret_key_old", None)
    old_keys = split_keys(old.get_secret_value()) if old is not None else []
    if settings.secret_key is not None:
        return SecretBox(settings.secret_key.get_secret_value(), old_keys)
    if settings.uses_default_database or settings.resolved_database_url.startswith("sqlite"):
        if settings.uses_default_database:
            key_path = settings.resolved_data_dir / KEY_FILE_NAME
        else:
            from sqlalchemy.engine import make_url

            db_path = make_url(settings.resolved_database_url).database
            if not db_path or db_path == ":memory:":
                key_path = settings.resolved_data_dir / KEY_FILE_NAME
            else:
                key_path = Path(db_path).expanduser().resolve().parent / KEY_FILE_NAME
        return SecretBox(load_or_create_key_file(key_path), old_keys)
    raise ValidationError(
        "PROMOSTACK_SECRET_KEY is not set. A shared PostgreSQL database needs the same key on every "
        "machine: generate one with python3 -c 'import secrets; print(secrets.token_urlsafe(48))' and "
        "set it in the environment."
    )
