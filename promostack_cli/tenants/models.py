from datetime import datetime

from sqlmodel import Field, SQLModel

from promostack_cli.core.clock import utcnow


class Tenant(SQLModel, table=True):
    """One operator business (its channels, bots, journeys, signals...). Everything else points here."""

    __tablename__ = "tenants"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=40, unique=True, index=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
