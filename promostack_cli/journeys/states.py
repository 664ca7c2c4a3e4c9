"""Session status names, shared by the engine and the persisted sessions (no heavy imports: the
cron tick reads these on every run, the engine and its Jinja only when a session is due)."""

ACTIVE, WAITING_DELAY, AWAITING_REPLY = "active", "waiting_delay", "awaiting_reply"
COMPLETED, CANCELLED, BLOCKED = "completed", "cancelled", "blocked"
FINAL = (COMPLETED, CANCELLED, BLOCKED)
LIVE = (ACTIVE, WAITING_DELAY, AWAITING_REPLY)

# Why a session ended, as a code (journey_sessions.end_code): stats count these, never the human
# end_reason text shown beside them (which may be reworded freely).
END_COMPLETED, END_REPLY_TIMEOUT, END_INACTIVE = "completed", "reply_timeout", "inactive"
END_STOPPED, END_BLOCKED, END_RESTARTED = "stopped", "blocked", "restarted"
END_JOURNEY_REMOVED, END_STEP_REMOVED, END_TOO_MANY_STEPS = "journey_removed", "step_removed", "too_many_steps"
END_DUPLICATE = "duplicate"
