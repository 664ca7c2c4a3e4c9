"""Encryption of secrets at rest and masking of secrets in output.

Bot tokens and webhook secrets are stored Fernet-encrypted (AES-128-CBC + HMAC-SHA256). The key comes
from ``PROMOSTACK_SECRET_KEY`` (any string of at least 32 characters; hashed to a Fernet key) or, for
the embedded SQLite default only, from a key file generated beside the database with mode 0600.
PostgreSQL is shared by several machines, so it needs the explicit key: a per-machine generated file
would make tokens written on one machine unreadable on another.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets as _secrets
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


class SecretBox:
    """Encrypts and decrypts short secrets with one key."""

    def __init__(self, key_material: str):
        from cryptography.fernet import Fernet

        if len(key_material) < MIN_KEY_LENGTH:
            raise ValidationError(
                f"PROMOSTACK_SECRET_KEY must be at least {MIN_KEY_LENGTH} characters. "
                "Generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        self._fernet = Fernet(_fernet_key_from(key_material))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str, what: str = "a stored secret") -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise OperationalError(
                f"Cannot decrypt {what}: PROMOSTACK_SECRET_KEY (or the key file) is not the key it "
                "was stored with. Restore the original key, or store the secret again."
            ) from None


def secret_box_for(settings) -> SecretBox:
    """The SecretBox for these settings (see module docstring for where the key comes from)."""
    if settings.secret_key is not None:
        return SecretBox(settings.secret_key.get_secret_value())
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
        return SecretBox(load_or_create_key_file(key_path))
    raise ValidationError(
        "PROMOSTACK_SECRET_KEY is not set. A shared PostgreSQL database needs the same key on every "
        "machine: generate one with python3 -c 'import secrets; print(secrets.token_urlsafe(48))' and "
        "set it in the environment."
    )
