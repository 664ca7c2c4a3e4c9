"""PROMOSTACK_* read without pydantic, for the idle ``scheduler tick`` that cron starts every minute.

:class:`promostack_cli.settings.Settings` (pydantic-settings) is the definition, and every other path
uses it. Importing pydantic costs more than the whole idle tick may, so :func:`read_plain` reads the
environment itself, but only when it can be sure to reach the values pydantic-settings would, and
accept exactly what it would accept: no ``.env`` file in the working directory, no variable named
twice in different case, and every ``PROMOSTACK_*`` value of a known field plainly valid (any text for
text fields; plain decimals within the field's bounds for numbers; ``true``/``false``-style words for
booleans). Otherwise it returns None and the caller uses ``get_settings()``: same values, same
errors. ``tests/test_startup_settings.py`` holds the two readers against each other.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "promostack"
PREFIX = "promostack_"

_INT = re.compile(r"[0-9]{1,9}")
_FLOAT = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9})?")
_BOOLS = {"0", "off", "f", "false", "n", "no", "1", "on", "t", "true", "y", "yes"}

# Every Settings field and how its value is checked: ("text",) any text; ("url",) text without a
# trailing slash; ("path",) non-empty text; ("float>", low) above low; ("int", low, high) within.
FIELDS: dict[str, tuple] = {
    "database_url": ("text",), "data_dir": ("path",), "tenant": ("text",),
    "telegram_api_url": ("url",), "telegram_timeout": ("float>", 0), "public_url": ("url",),
    "secret_key": ("text",), "secret_key_old": ("text",), "dry_run": ("bool",), "log_level": ("text",),
    "send_rate_per_bot": ("float>", 0), "send_interval_private": ("float>", 0),
    "send_interval_group": ("float>", 0), "send_workers": ("int", 1, 256), "send_max_attempts": ("int", 1, None),
    "twelvedata_api_url": ("url",), "twelvedata_api_key": ("text",), "twelvedata_timeout": ("float>", 0),
    "twelvedata_credits_per_minute": ("int", 1, None), "twelvedata_credits_per_day": ("int", 1, None),
    "stripe_api_url": ("url",),
}


def default_data_dir() -> Path:
    """The per-user data directory, ``typer.get_app_dir("promostack")``; on Linux and other POSIX
    systems but macOS computed here as click does (importing typer costs ~100 ms)."""
    if sys.platform.startswith(("win", "cygwin", "darwin")):
        import typer

        return Path(typer.get_app_dir(APP_NAME))
    return Path(os.path.join(os.environ.get("XDG_CONFIG_HOME", os.path.expanduser("~/.config")), APP_NAME))


class DatabaseLocation:
    """Where the database lives; shared by :class:`~promostack_cli.settings.Settings` and :class:`PlainSettings`."""

    database_url: str | None
    data_dir: Path | None

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir or default_data_dir()

    @property
    def default_sqlite_path(self) -> Path:
        return self.resolved_data_dir / "promostack.db"

    @property
    def uses_default_database(self) -> bool:
        return not self.database_url

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.default_sqlite_path}"


class PlainSecret:
    """What the idle tick needs of pydantic's SecretStr."""

    def __init__(self, value: str):
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "PlainSecret('**********')"


@dataclass(frozen=True)
class PlainSettings(DatabaseLocation):
    """The settings the idle tick reads; the same values ``Settings()`` has for the same environment."""

    database_url: str | None = None
    data_dir: Path | None = None
    tenant: str | None = None
    secret_key: PlainSecret | None = None
    secret_key_old: PlainSecret | None = None
    log_level: str = "WARNING"


def _valid(kind: tuple, value: str) -> bool:
    if kind[0] in ("text", "url"):
        return True
    if kind[0] == "path":
        return value != ""
    if kind[0] == "bool":
        return value in _BOOLS
    if kind[0] == "float>":
        return bool(_FLOAT.fullmatch(value)) and float(value) > kind[1]
    low, high = kind[1], kind[2]
    return bool(_INT.fullmatch(value)) and int(value) >= low and (high is None or int(value) <= high)


def read_plain(environ: dict[str, str] | None = None, cwd: Path | None = None) -> PlainSettings | None:
    """The idle tick's settings from the environment, or None when pydantic-settings must read them."""
    environ = os.environ if environ is None else environ
    if ((cwd or Path.cwd()) / ".env").exists():
        return None
    values: dict[str, str] = {}
    for key, value in environ.items():
        name = key.lower()
        if not name.startswith(PREFIX):
            continue
        field = name[len(PREFIX):]
        kind = FIELDS.get(field)
        if kind is None:
            continue  # extra="ignore"
        if field in values or not _valid(kind, value):
            return None
        values[field] = value
    secret = values.get("secret_key")
    return PlainSettings(
        database_url=values.get("database_url"),
        data_dir=Path(values["data_dir"]) if "data_dir" in values else None,
        tenant=values.get("tenant"),
        secret_key=PlainSecret(secret) if secret is not None else None,
        secret_key_old=PlainSecret(values["secret_key_old"]) if "secret_key_old" in values else None,
        log_level=values.get("log_level", "WARNING"),
    )
