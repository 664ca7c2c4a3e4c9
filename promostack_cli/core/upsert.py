"""INSERT ... ON CONFLICT for SQLite and PostgreSQL through one call."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def upsert(session: Session, model, values: dict | list[dict], index_elements: list[str],
           update: dict | list[str] | None = None):
    """Insert ``values`` (one row or several); on conflict on ``index_elements`` update ``update`` (or do nothing).

    ``update`` is a dict of new values, or a list of column names to take from the row being inserted.
    """
    table = getattr(model, "__table__", model)  # an ORM model or a Table
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table).values(values) if isinstance(values, list) else insert(table).values(**values)
    if isinstance(update, list):
        update = {c: getattr(stmt.excluded, c) for c in update}
    if update:
        stmt = stmt.on_conflict_do_update(index_elements=index_elements, set_=update)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=index_elements)
    return session.execute(stmt)
