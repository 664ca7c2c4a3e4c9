"""Many rows in one statement, for SQLite and PostgreSQL through one call.

:func:`insert_rows` writes a list of rows (dicts with the same keys) with one INSERT. On PostgreSQL
the rows travel as one array per column (``INSERT ... SELECT * FROM unnest(...)``): the statement's
text is the same whatever the number of rows, so the driver parses it once and the server prepares
it once, and the values are sent as arrays instead of one placeholder per value (a multi-row
``VALUES`` with a hundred rows had the driver scan a thousand placeholders per batch). On SQLite it
is an ordinary executemany. The receiver writes its batches (sessions, visits, messages, updates)
with it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable

from sqlalchemy import JSON, Table, literal_column, select, text

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def _dialect(session):
    """A Session's dialect, or a Connection's (the receiver stores updates without the ORM)."""
    return session.dialect if hasattr(session, "dialect") else session.get_bind().dialect


def postgres(session: Session) -> bool:
    return _dialect(session).name == "postgresql"


def _array_of(column, dialect) -> str:
    """``CAST(:col AS type[])``: JSON travels as text and is cast per element."""
    if isinstance(column.type, JSON):
        return f"CAST(CAST(:{column.name} AS TEXT[]) AS JSON[])"
    return f"CAST(:{column.name} AS {column.type.compile(dialect=dialect)}[])"


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]], *, returning: Iterable[str] = (),
                skip_conflicts: bool = False) -> list:
    """Insert ``rows`` (every row with the same keys; columns left out take their defaults) with
    one statement, in their order; the ``returning`` columns of the rows inserted. With
    ``skip_conflicts`` a row that meets a unique index is not inserted (``ON CONFLICT DO NOTHING``)."""
    if not rows:
        return []
    names = list(rows[0])
    returning = list(returning)
    if not postgres(session):
        from sqlalchemy.dialects.sqlite import insert

        stmt = insert(table)
        if skip_conflicts:
            stmt = stmt.on_conflict_do_nothing()
        if returning:
            stmt = stmt.returning(*(table.c[name] for name in returning))
            return list(session.execute(stmt, rows))
        session.execute(stmt, rows)
        return []
    from sqlalchemy.dialects.postgresql import insert

    values: dict[str, list] = {name: [row[name] for row in rows] for name in names}
    for column in table.c:  # INSERT ... SELECT applies server defaults only: give the Python ones here
        if column.name in values or column.default is None:
            continue
        if not column.default.is_scalar:
            raise ValueError(f"insert_rows: give {table.name}.{column.name} (its default is computed per row)")
        values[column.name] = [column.default.arg] * len(rows)
    for name, column_values in values.items():
        if isinstance(table.c[name].type, JSON):
            values[name] = [None if v is None else json.dumps(v) for v in column_values]
    key = (table.name, tuple(values), tuple(returning), skip_conflicts)
    stmt = _statements.get(key)
    if stmt is None:  # built once per shape: the receiver runs the same few thousands of times
        dialect = _dialect(session)
        names = list(values)
        arrays = ", ".join(_array_of(table.c[name], dialect) for name in names)
        # in the rows' order (ids follow it: a chat's messages are sent in id order)
        source = (select(*(literal_column(f"v.{name}") for name in names))
                  .select_from(text(f"unnest({arrays}) WITH ORDINALITY AS v({', '.join(names)}, n)"))
                  .order_by(literal_column("v.n")))
        stmt = insert(table).from_select(names, source)
        if skip_conflicts:
            stmt = stmt.on_conflict_do_nothing()
        if returning:
            stmt = stmt.returning(*(table.c[name] for name in returning))
        _statements[key] = stmt
    result = session.execute(stmt, values)
    return list(result) if returning else []


_statements: dict[tuple, Any] = {}


def update_rows(session: Session, table: Table, rows: list[dict[str, Any]], *, key: str = "id",
                **same: Any) -> None:
    """For each of ``rows`` (the same keys in each), set its columns on the row whose ``key``
    matches, and the columns ``same`` alike on all of them, with one statement."""
    if not rows:
        return
    names = [name for name in rows[0] if name != key]
    if not postgres(session):
        from sqlalchemy import bindparam, update

        stmt = (update(table).where(table.c[key] == bindparam(f"b_{key}"))
                .values({**{name: bindparam(f"b_{name}") for name in names}, **same}))
        session.execute(stmt, [{f"b_{name}": value for name, value in row.items()} for row in rows])
        return
    dialect = _dialect(session)
    quote = dialect.identifier_preparer.quote
    values: dict[str, Any] = {name: [row[name] for row in rows] for name in [key, *names]}
    for name in names:
        if isinstance(table.c[name].type, JSON):
            values[name] = [None if v is None else json.dumps(v) for v in values[name]]
    arrays = ", ".join(_array_of(table.c[name], dialect) for name in [key, *names])
    sets = [f"{quote(name)} = v.{quote(name)}" for name in names]
    sets += [f"{quote(name)} = CAST(:s_{name} AS {table.c[name].type.compile(dialect=dialect)})" for name in same]
    values.update({f"s_{name}": value for name, value in same.items()})
    session.execute(text(f"UPDATE {quote(table.name)} SET {', '.join(sets)} FROM unnest({arrays}) "
                         f"AS v({', '.join(quote(n) for n in [key, *names])}) "
                         f"WHERE {quote(table.name)}.{quote(key)} = v.{quote(key)}"), values)


def one_of(session: Session, column, values: Iterable) -> Any:
    """``column IN (values)``: on PostgreSQL ``column = ANY(:array)``, one parameter however many values."""
    values = list(values)
    if not postgres(session):
        return column.in_(values)
    from sqlalchemy import any_, bindparam
    from sqlalchemy.dialects.postgresql import ARRAY

    return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
