"""Every table, imported in one place so SQLModel.metadata is complete (Alembic autogenerate, tests)."""

from sqlmodel import SQLModel

from promostack_cli.billing.models import (BillingAccessChange, BillingEvent, BillingLinkCode, BillingMember,
                                          BillingPayment, BillingPrice, BillingSettings, BillingVerifyAttempt,
                                          TelegramSubscription)
from promostack_cli.connections.models import BotConnection
from promostack_cli.core.jobruns import JobRun
from promostack_cli.forex.models import ApiCreditUsage, ForexCandle, ForexSettings, ForexSignal, ForexSignalEvent
from promostack_cli.journeys.models import Journey, JourneySession, JourneyTrigger
from promostack_cli.outbox.models import BotRateLimit, ChatState, OutboxMessage
from promostack_cli.tenants.models import Tenant
from promostack_cli.webhooks.models import TelegramUpdate

metadata = SQLModel.metadata

__all__ = ["ApiCreditUsage", "BotConnection", "ForexCandle", "ForexSettings", "ForexSignal", "ForexSignalEvent", "JobRun", "BotRateLimit", "ChatState", "Journey", "JourneySession", "JourneyTrigger", "OutboxMessage", "TelegramUpdate", "Tenant",
           "BillingAccessChange", "BillingEvent", "BillingLinkCode", "BillingMember", "BillingPayment", "BillingPrice",
           "BillingSettings", "BillingVerifyAttempt", "TelegramSubscription",
           "metadata"]
