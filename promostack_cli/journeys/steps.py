"""The journeys' tick steps: advance sessions whose delay ended or reply timed out; end idle ones."""

from __future__ import annotations

from promostack_cli.core.clock import epoch


class TimersStep:
    name = "journeys.timers"

    def __init__(self, context):
        self.db, self.tenant_id = context.db, context.tenant_id
        self.clock = context.clock or epoch

    def __call__(self, now: float, deadline: float) -> dict[str, int]:
        from promostack_cli.journeys.sessions import run_due

        return {"sessions_advanced": run_due(self.db, tenant_id=self.tenant_id, deadline=deadline, clock=self.clock)}

    def describe(self, counts: dict[str, int]) -> str:
        return f"{counts.get('sessions_advanced', 0)} journey session(s) advanced"

    def close(self) -> None:
        pass


class InactiveStep(TimersStep):
    name = "journeys.inactive"

    def __call__(self, now: float, deadline: float) -> dict[str, int]:
        from promostack_cli.journeys.sessions import end_inactive

        return {"sessions_ended_inactive": end_inactive(self.db, tenant_id=self.tenant_id, now=now)}

    def describe(self, counts: dict[str, int]) -> str:
        return f"{counts.get('sessions_ended_inactive', 0)} journey session(s) ended as inactive"


class BlockedStep(TimersStep):
    """After delivery: the outbox marks a chat blocked on a 403 (it knows nothing of journeys)."""

    name = "journeys.blocked"

    def __call__(self, now: float, deadline: float) -> dict[str, int]:
        from promostack_cli.core.clock import from_epoch
        from promostack_cli.journeys.sessions import end_blocked

        return {"sessions_ended_blocked": end_blocked(self.db, from_epoch(now), tenant_id=self.tenant_id)}

    def describe(self, counts: dict[str, int]) -> str:
        return f"{counts.get('sessions_ended_blocked', 0)} journey session(s) ended as blocked (the user blocked the bot)"
