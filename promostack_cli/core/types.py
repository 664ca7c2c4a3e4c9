"""Column types shared by the domain models."""

from sqlalchemy import JSON, BigInteger, Integer

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias); PostgreSQL gets BIGINT.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
JSONType = JSON()
