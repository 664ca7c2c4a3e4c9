"""What one sender run is told (:class:`SenderConfig`) and what it reports (:class:`DeliveryReport`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from promostack_cli.outbox.claims import LEASE_SECONDS


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dry_run: int = 0
    retrying: int = 0        # transient failure, back in the queue with a backoff
    rate_limited: int = 0    # 429s received (waited out)
    released: int = 0        # claimed but handed back (deadline, pause, database error, credentials)
    late_slots: int = 0      # send slots given up because the sender woke too late (CPU contention)
    db_errors: int = 0       # database errors met (work was handed back or retried, never lost)
    errors: list[str] = field(default_factory=list)

    FIELDS = ("sent", "failed", "dry_run", "retrying", "rate_limited", "released", "late_slots", "db_errors")

    def as_dict(self) -> dict:
        return {**{k: getattr(self, k) for k in self.FIELDS}, "errors": list(self.errors)}

    def merge(self, part: "DeliveryReport") -> None:
        for key in self.FIELDS:
            setattr(self, key, getattr(self, key) + getattr(part, key))
        self.errors.extend(e for e in part.errors if e not in self.errors)


@dataclass
class SenderConfig:
    rate_per_bot: float = 28.0
    interval_private: float = 1.05
    interval_group: float = 3.1
    workers: int = 64
    max_attempts: int = 6
    lease_seconds: float = LEASE_SECONDS
    api_url: str = "https://api.telegram.org"
    timeout: float = 15.0
    dry_run: bool = False

    @classmethod
    def from_settings(cls, settings, *, dry_run: bool | None = None) -> "SenderConfig":
        return cls(
            rate_per_bot=settings.send_rate_per_bot,
            interval_private=settings.send_interval_private,
            interval_group=settings.send_interval_group,
            workers=settings.send_workers,
            max_attempts=settings.send_max_attempts,
            api_url=settings.telegram_api_url,
            timeout=settings.telegram_timeout,
            dry_run=settings.dry_run if dry_run is None else dry_run,
        )
