"""The journeys' tick steps: advance sessions whose delay ended or reply timed out; end idle ones;
end the sessions of users who blocked the bot (after delivery: the outbox finds that out)."""

from __future__ import annotations

from datetime import datetime


class TimersStep:
    name = "journeys.timers"
    keys = ("sessions_advanced",)

    def __init__(self, context):
        self.db, self.tenant_id, self.clock = context.db, context.tenant_id, context.now

    def __call__(self, now: datetime, deadline: datetime) -> dict[str, int]:
        from promostack_cli.journeys.sessions import run_due

        return {"sessions_advanced": run_due(self.db, tenant_id=self.tenant_id, deadline=deadline, clock=self.clock)}

    def describe(self, counts: dict[str, int]) -> str:
        return f"{counts.get('sessions_advanced', 0)} journey session(s) advanced"

    def close(self) -> None:
        pass


class InactiveStep(TimersStep):
    name = "journeys.inactive"
    keys = ("sessions_ended_inactive",)

    def __call__(self, now: datetime, deadline: datetime) -> dict[str, int]:
        from promostack_cli.journeys.sessions import end_inactive

        return {"sessions_ended_inactive": end_inactive(self.db, now, tenant_id=self.tenant_id)}

    def describe(self, counts: dict[str, int]) -> str:
        return f"{counts.get('sessions_ended_inactive', 0)} journey session(s) ended as inactive"


class BlockedStep(TimersStep):
    name = "journeys.blocked"
    keys = ("sessions_ended_blocked",)

    def __call__(self, now: datetime, deadline: datetime) -> dict[str, int]:
        from promostack_cli.journeys.sessions import end_blocked

        return {"sessions_ended_blocked": end_blocked(self.db, now, tenant_id=self.tenant_id)}

    def describe(self, counts: dict[str, int]) -> str:
        return f"{counts.get('sessions_ended_blocked', 0)} journey session(s) ended as blocked (the user blocked the bot)"
