"""One settings object, read from ``PROMOSTACK_*`` environment variables and an optional ``.env`` file.

Only the edge (the CLI's callback, the receiver's factory, a test) reads them, once, with
:func:`get_settings`; domain services and handlers receive what they need as arguments.

Every setting is declared once, below, with its type, bounds and help (``config show``, the README
table and the error messages come from these declarations). The environment wins over ``.env`` (in
the working directory, read only when it exists), which wins over the default; names are matched
in any case. A value that does not parse is one line and exit 2:
``Invalid setting PROMOSTACK_SEND_WORKERS: must be at most 256 (got '300')``.

Plain Python rather than pydantic-settings: cron starts ``scheduler tick`` every minute on every
machine, and building pydantic-settings' model cost as much as the idle tick's whole budget.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from promostack_cli.core.errors import ValidationError

APP_NAME = "promostack"
PREFIX = "PROMOSTACK_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}

__all__ = ["APP_NAME", "Secret", "Settings", "SettingsError", "default_data_dir", "env_overrides", "get_settings",
           "reset_settings_cache"]


class SettingsError(ValidationError):
    """A ``PROMOSTACK_*`` value that does not parse (exit 2)."""


class Secret:
    """A secret setting: its value only through :meth:`get_secret_value`, never in ``repr`` or ``str``."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


def default_data_dir() -> Path:
    """The per-user data directory, ``typer.get_app_dir("promostack")``; computed here as click does
    on Linux and other POSIX systems but macOS (importing typer just for this costs ~40 ms)."""
    if sys.platform.startswith(("win", "cygwin", "darwin")):
        import typer

        return Path(typer.get_app_dir(APP_NAME))
    return Path(os.path.join(os.environ.get("XDG_CONFIG_HOME", os.path.expanduser("~/.config")), APP_NAME))


def _setting(default: Any, help: str, kind: str = "text", **bounds: float) -> Any:
    return field(default=default, metadata={"help": help, "kind": kind, **bounds})


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The effective settings. ``Settings(name=value)`` checks each value as the environment's would be."""

    database_url: str | None = _setting(None, "SQLAlchemy URL; default: SQLite file promostack.db in DATA_DIR")
    data_dir: Path | None = _setting(None, "Where the default SQLite database and generated key file live", "path")
    tenant: str | None = _setting(None, "Tenant slug used when --tenant is not given")
    telegram_api_url: str = _setting("https://api.telegram.org", "Bot API base URL", "url")
    telegram_timeout: float = _setting(15.0, "Seconds per Bot API request", "float", gt=0)
    public_url: str | None = _setting(None, "Public HTTPS base URL that Telegram and Stripe call back", "url")
    secret_key: Secret | None = _setting(None, "Key that encrypts bot tokens at rest (>= 32 characters)", "secret")
    secret_key_old: Secret | None = _setting(
        None, "Previous key(s), comma-separated: still decrypt while `secrets rotate` re-encrypts", "secret")
    dry_run: bool = _setting(False, "Record and print messages instead of sending them", "bool")
    log_level: str = _setting("WARNING", "Log level on stderr: DEBUG, INFO, WARNING, ERROR or CRITICAL", "level")

    # Outbox delivery. Telegram's limits are ~30/s per bot, 1/s per private chat, 20/min per
    # group or channel; the defaults keep a small margin so network jitter never trips them.
    send_rate_per_bot: float = _setting(28.0, "Messages per second per bot", "float", gt=0)
    send_interval_private: float = _setting(1.05, "Seconds between messages to one user", "float", gt=0)
    send_interval_group: float = _setting(3.1, "Seconds between messages to one group/channel", "float", gt=0)
    send_workers: int = _setting(64, "Concurrent sends per tick process (most wait for a send slot)", "int", ge=1, le=256)
    send_max_attempts: int = _setting(6, "Attempts before a transient failure is final", "int", ge=1)

    # Forex market data (Twelve Data). The credit limits are the plan's; every process and tenant
    # using the same API key shares them through the database.
    twelvedata_api_url: str = _setting("https://api.twelvedata.com", "Twelve Data base URL", "url")
    twelvedata_api_key: Secret | None = _setting(None, "Twelve Data API key (forex commands without --candles)", "secret")
    twelvedata_timeout: float = _setting(15.0, "Seconds per Twelve Data request", "float", gt=0)
    twelvedata_credits_per_minute: int = _setting(8, "Plan limit: API credits per minute", "int", ge=1)
    twelvedata_credits_per_day: int = _setting(800, "Plan limit: API credits per UTC day", "int", ge=1)

    # Billing (Stripe). The tenant's keys are stored encrypted with `billing setup`, not here.
    stripe_api_url: str = _setting("https://api.stripe.com", "Stripe API base URL", "url")

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _coerce(f.name, f.metadata, getattr(self, f.name)))

    # -- where the database lives ------------------------------------------------------------------
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
        return self.database_url or f"sqlite:///{self.default_sqlite_path}"

    # -- reading ------------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> "Settings":
        """The settings of ``environ`` (default: this process's) over ``cwd/.env`` over the defaults."""
        raw = _dotenv(cwd or Path.cwd())
        raw.update(_prefixed(os.environ if environ is None else environ))
        known = {f.name for f in fields(cls)}
        return cls(**{name: value for name, value in raw.items() if name in known})

    def with_values(self, **values: Any) -> "Settings":
        """A copy with ``values`` replaced (checked like any other value)."""
        return replace(self, **values)

    @classmethod
    def described(cls) -> list[tuple[str, str]]:
        """``(PROMOSTACK_NAME, help)`` of every setting, in declaration order."""
        return [(PREFIX + f.name.upper(), f.metadata["help"]) for f in fields(cls)]


def _prefixed(environ: Mapping[str, str]) -> dict[str, str]:
    """``PROMOSTACK_*`` values by lower-case field name; the upper-case spelling wins a tie."""
    found: dict[str, str] = {}
    for key in sorted(environ, key=lambda k: k != k.upper()):  # upper case first, then the rest
        if key.upper().startswith(PREFIX):
            found.setdefault(key[len(PREFIX):].lower(), environ[key])
    return found


def _dotenv(cwd: Path) -> dict[str, str]:
    path = cwd / ".env"
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # only when there is a file to read

    try:
        values = dotenv_values(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"Cannot read {path}: {exc}") from None
    return _prefixed({k: v for k, v in values.items() if v is not None})


def _coerce(name: str, meta: Mapping[str, Any], value: Any) -> Any:
    """``value`` (text from the environment, or a Python value) as the setting's type, or SettingsError."""
    if value is None:
        return None
    kind = meta["kind"]

    def bad(reason: str) -> SettingsError:
        shown = "(hidden)" if kind == "secret" else repr(value)[:80]
        return SettingsError(f"Invalid setting {PREFIX}{name.upper()}: {reason} (got {shown})")

    if kind == "secret":
        return value if isinstance(value, Secret) else Secret(str(value))
    if kind == "path":
        return Path(value).expanduser() if str(value) else None
    if kind in ("text", "url"):
        text = str(value)
        return text.rstrip("/") if kind == "url" and text else text
    if kind == "level":
        level = str(value).strip().upper()
        if level not in LOG_LEVELS:
            raise bad("must be one of " + ", ".join(LOG_LEVELS))
        return level
    if kind == "bool":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word not in _TRUE | _FALSE:
            raise bad("must be true or false (also yes/no, on/off, 1/0)")
        return word in _TRUE
    number = _number(value, int if kind == "int" else float)
    if number is None:
        raise bad("must be a whole number" if kind == "int" else "must be a number")
    if "gt" in meta and not number > meta["gt"]:
        raise bad(f"must be more than {meta['gt']}")
    if "ge" in meta and number < meta["ge"]:
        raise bad(f"must be at least {meta['ge']}")
    if "le" in meta and number > meta["le"]:
        raise bad(f"must be at most {meta['le']}")
    return number


def _number(value: Any, kind: type) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    else:
        try:
            number = kind(str(value).strip())
        except ValueError:
            return None
    if kind is int:
        return int(number) if float(number).is_integer() else None
    return float(number) if math.isfinite(number) else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


def reset_settings_cache() -> None:
    get_settings.cache_clear()


def env_overrides(**values: str | None) -> None:
    """Set ``PROMOSTACK_*`` variables for this process (the global ``--db`` option) and read the settings again."""
    for key, value in values.items():
        if value is not None:
            os.environ[f"{PREFIX}{key.upper()}"] = value
    reset_settings_cache()
