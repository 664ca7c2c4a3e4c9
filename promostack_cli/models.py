"""Every table, imported in one place so SQLModel.metadata is complete (Alembic autogenerate, tests).

The registry the entry points fill: ``db.py`` knows no domain table, and a session can flush a row
only when the tables its foreign keys name are registered too. Entry points (the CLI's commands,
the webhook receiver, ``TenantRuntime``) therefore open the database with :func:`open_database`.
The idle ``scheduler tick`` registers none: it answers with SQLAlchemy Core queries and opens the
database this way only when a step has work.
"""

from sqlmodel import SQLModel

from promostack_cli.billing.models import (BillingAccessChange, BillingEvent, BillingLinkCode, BillingMember,
                                          BillingPayment, BillingPrice, BillingSettings, BillingVerifyAttempt,
                                          TelegramSubscription)
from promostack_cli.connections.models import BotConnection
from promostack_cli.core.jobruns import JobRun
from promostack_cli.crosspromo.models import CrossPromoJob, CrossPromoPost, CrossPromoSettings, CrossPromoStart, FeedCache
from promostack_cli.db import Database
from promostack_cli.forex.models import ApiCreditUsage, ForexCandle, ForexSettings, ForexSignal, ForexSignalEvent
from promostack_cli.journeys.models import Journey, JourneySession, JourneyTrigger
from promostack_cli.outbox.models import BotRateLimit, ChatState, OutboxMessage
from promostack_cli.tenants.models import Tenant
from promostack_cli.webhooks.models import TelegramUpdate

metadata = SQLModel.metadata


def open_database(url: str) -> Database:
    """The database at ``url`` with every table registered, so any session may flush any row."""
    return Database(url)


__all__ = ["ApiCreditUsage", "BillingAccessChange", "BillingEvent", "BillingLinkCode", "BillingMember", "BillingPayment",
           "BillingPrice", "BillingSettings", "BillingVerifyAttempt", "BotConnection", "BotRateLimit", "ChatState",
           "CrossPromoJob", "CrossPromoPost", "CrossPromoSettings", "CrossPromoStart", "FeedCache", "ForexCandle",
           "ForexSettings", "ForexSignal", "ForexSignalEvent", "JobRun", "Journey", "JourneySession", "JourneyTrigger",
           "OutboxMessage", "TelegramSubscription", "TelegramUpdate", "Tenant", "metadata", "open_database"]
