"""INSERT ... ON CONFLICT for SQLite and PostgreSQL through one call."""

from __future__ import annotations

from sqlmodel import Session


def upsert(session: Session, model, values: dict | list[dict], index_elements: list[str], update: dict | None = None):
    """Insert ``values`` (one row or several); on conflict on ``index_elements`` update ``update`` (or do nothing)."""
    table = model.__table__
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table).values(values) if isinstance(values, list) else insert(table).values(**values)
    if update:
        stmt = stmt.on_conflict_do_update(index_elements=index_elements, set_=update)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=index_elements)
    return session.exec(stmt)
