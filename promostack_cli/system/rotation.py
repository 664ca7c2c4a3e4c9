"""Re-encrypt every stored secret under the current PROMOSTACK_SECRET_KEY (``promostack secrets rotate``).

:data:`ENCRYPTED_COLUMNS` lists every column that holds a :class:`~promostack_cli.core.secrets.SecretBox`
ciphertext (a unit test holds it against the models: any ``*_encrypted`` column must be here).

Atomic: one transaction reads every row, decrypts each value with the current key or an old one and
writes it back under the current key; if any value decrypts with no key, nothing is written. Rows are
locked as they are read (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` takes the write
lock), so a ``connections set`` running at the same time waits or is waited for, never half-rotated.
Receivers and ticks keep working throughout: their SecretBox decrypts with the old key too while it
is in ``PROMOSTACK_SECRET_KEY_OLD``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import column, select, table, text, update

from promostack_cli.core.errors import OperationalError
from promostack_cli.core.secrets import SecretBox

ENCRYPTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "bot_connections": ("token_encrypted", "webhook_path_encrypted", "webhook_token_encrypted"),
    "billing_settings": ("webhook_secret_encrypted", "api_key_encrypted", "link_secret_encrypted"),
}


@dataclass
class RotationReport:
    rotated: int = 0                 # values re-encrypted (they were under an old key)
    current: int = 0                 # values already under the current key
    rows: int = 0                    # rows changed
    unreadable: list[str] = field(default_factory=list)
    by_table: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"rotated": self.rotated, "already_current": self.current, "rows_changed": self.rows,
                "by_table": self.by_table, "unreadable": self.unreadable}


def rotate(db, box: SecretBox, *, dry_run: bool = False) -> RotationReport:
    """Re-encrypt every secret under ``box``'s current key (``box`` also holds the old keys).

    Raises OperationalError, changing nothing, when some value decrypts with none of the keys."""
    report = RotationReport()
    with db.transaction() as session:
        conn = session.connection()
        slugs = dict(conn.execute(text("SELECT id, slug FROM tenants")).all())
        for name, columns in ENCRYPTED_COLUMNS.items():
            t = table(name, column("id"), column("tenant_id"), *(column(c) for c in columns))
            q = select(t.c.id, t.c.tenant_id, *(t.c[c] for c in columns)).order_by(t.c.id)
            if conn.dialect.name == "postgresql":
                q = q.with_for_update()
            changed = 0
            for row in conn.execute(q).all():
                values = {}
                for col in columns:
                    value = row._mapping[col]
                    if not value:
                        continue
                    if box.is_current(value):
                        report.current += 1
                    elif box.can_decrypt(value):
                        values[col] = box.rotate(value)
                    else:
                        report.unreadable.append(f"{name} id {row.id} (tenant '{slugs.get(row.tenant_id, row.tenant_id)}'): {col}")
                if values:
                    report.rotated += len(values)
                    changed += 1
                    if not dry_run:
                        conn.execute(update(t).where(t.c.id == row.id).values(**values))
            report.by_table[name] = changed
            report.rows += changed
        if report.unreadable:
            raise OperationalError(
                f"Cannot rotate: {len(report.unreadable)} stored secret(s) decrypt with neither the current key nor "
                f"the old one ({'; '.join(report.unreadable[:5])}{'; ...' if len(report.unreadable) > 5 else ''}). "
                "Nothing was changed. Give the key they were stored with, or replace them "
                "(connections set ROLE --token T; billing setup) and run again."
            )
    return report
