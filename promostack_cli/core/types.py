"""Column types shared by the domain models and the light table clauses of Core queries."""

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias); PostgreSQL gets BIGINT.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
JSONType = JSON()


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, on both databases (SQLite stores them without an offset).

    The models' datetime fields already behave so (sqlmodel's own UTCDateTime); the light table
    clauses of Core queries (due checks, listings) use this one, so a row read either way carries the
    same aware time: no naive/aware fix-ups in the domain."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("a naive datetime reached the database; the domain uses aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.utcoffset() is None else value.astimezone(UTC)
