"""One settings object, read from PROMOSTACK_* environment variables and an optional .env file.

Only the edge (CLI, webhook receiver, job runners) calls :func:`get_settings`; domain services
receive what they need as arguments. The idle ``scheduler tick`` reads the same variables without
pydantic (:mod:`promostack_cli.core.env`) when it can be sure to read them alike.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from promostack_cli.core.env import APP_NAME, DatabaseLocation, default_data_dir

__all__ = ["APP_NAME", "Settings", "default_data_dir", "env_overrides", "get_settings", "reset_settings_cache"]


class Settings(DatabaseLocation, BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PROMOSTACK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file promostack.db in DATA_DIR"
    )
    data_dir: Path | None = Field(
        default=None, description="Where the default SQLite database and generated key file live"
    )
    tenant: str | None = Field(default=None, description="Tenant slug used when --tenant is not given")
    telegram_api_url: str = Field(default="https://api.telegram.org", description="Bot API base URL")
    telegram_timeout: float = Field(default=15.0, gt=0, description="Seconds per Bot API request")
    public_url: str | None = Field(
        default=None, description="Public HTTPS base URL that Telegram and Stripe call back"
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Key that encrypts bot tokens at rest (>= 32 characters)"
    )
    secret_key_old: SecretStr | None = Field(
        default=None, description="Previous key(s), comma-separated: still decrypt while `secrets rotate` re-encrypts"
    )
    dry_run: bool = Field(default=False, description="Record and print messages instead of sending them")
    log_level: str = Field(default="WARNING", description="Python log level for stderr logging")

    # Outbox delivery. Telegram's limits are ~30/s per bot, 1/s per private chat, 20/min per
    # group or channel; the defaults keep a small margin so network jitter never trips them.
    send_rate_per_bot: float = Field(default=28.0, gt=0, description="Messages per second per bot")
    send_interval_private: float = Field(default=1.05, gt=0, description="Seconds between messages to one user")
    send_interval_group: float = Field(default=3.1, gt=0, description="Seconds between messages to one group/channel")
    send_workers: int = Field(default=64, ge=1, le=256, description="Concurrent sends per tick process (most wait for a send slot)")
    send_max_attempts: int = Field(default=6, ge=1, description="Attempts before a transient failure is final")

    # Forex market data (Twelve Data). The credit limits are the plan's; every process and tenant
    # using the same API key shares them through the database.
    twelvedata_api_url: str = Field(default="https://api.twelvedata.com", description="Twelve Data base URL")
    twelvedata_api_key: SecretStr | None = Field(default=None, description="Twelve Data API key (forex commands without --candles)")
    twelvedata_timeout: float = Field(default=15.0, gt=0, description="Seconds per Twelve Data request")
    twelvedata_credits_per_minute: int = Field(default=8, ge=1, description="Plan limit: API credits per minute")
    twelvedata_credits_per_day: int = Field(default=800, ge=1, description="Plan limit: API credits per UTC day")

    # Billing (Stripe). The tenant's keys are stored encrypted with `billing setup`, not here.
    stripe_api_url: str = Field(default="https://api.stripe.com", description="Stripe API base URL")

    @field_validator("telegram_api_url", "public_url", "twelvedata_api_url", "stripe_api_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()


def env_overrides(**values: str | None) -> None:
    """Set PROMOSTACK_* variables for this process (used by global CLI options) and re-read settings."""
    for key, value in values.items():
        if value is not None:
            os.environ[f"PROMOSTACK_{key.upper()}"] = value
    reset_settings_cache()
