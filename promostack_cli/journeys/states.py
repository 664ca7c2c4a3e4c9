"""Session status names, shared by the engine and the persisted sessions (no heavy imports: the
cron tick reads these on every run, the engine and its Jinja only when a session is due)."""

ACTIVE, WAITING_DELAY, AWAITING_REPLY = "active", "waiting_delay", "awaiting_reply"
COMPLETED, CANCELLED, BLOCKED = "completed", "cancelled", "blocked"
FINAL = (COMPLETED, CANCELLED, BLOCKED)
LIVE = (ACTIVE, WAITING_DELAY, AWAITING_REPLY)
