"""A cross-promo job's states: one definition for the queue, the idle check, the models and the CLI's choices
(imports nothing, so ``crosspromo jobs --help`` loads no database code)."""

from enum import StrEnum


class JobStatus(StrEnum):
    """A cross-promo job's life (see :mod:`.queue`); also the CLI's choice for ``crosspromo jobs --status``."""

    pending = "pending"        # waiting for run_at
    claimed = "claimed"        # a run is building its post (lease)
    queued = "queued"          # its message is in the outbox; completed/failed follow the delivery
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"
