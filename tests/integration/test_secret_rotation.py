"""``secrets rotate`` on SQLite and PostgreSQL: every encrypted column re-encrypted in one transaction,
nothing written when one value decrypts with no key; the webhook lookup reads old-key rows meanwhile."""

import pytest
import sqlalchemy as sa

from promostack_cli.core.errors import OperationalError
from promostack_cli.core.secrets import SecretBox
from promostack_cli.system.rotation import ENCRYPTED_COLUMNS, rotate
from tests import factories
from tests.conftest import TEST_KEY

OLD, THIRD = "o" * 40, "t" * 40


def _values(db) -> list[str]:
    with db.engine.connect() as conn:
        return [v for name, cols in ENCRYPTED_COLUMNS.items()
                for row in conn.execute(sa.text(f"SELECT {', '.join(cols)} FROM {name} ORDER BY id")) for v in row if v]


def test_rotate_is_all_or_nothing(db, tenant_id):
    from promostack_cli.connections.lookup import find_bot

    factories.connect_bot(db, SecretBox(OLD), tenant_id, "message_bot")
    other = factories.tenant(db, "second", "Second")
    factories.connect_bot(db, SecretBox(THIRD), other, "message_bot", "7000000003:AAFbadbadbadbadbadbadbadbadbadbad0003")
    before = _values(db)
    during = SecretBox(TEST_KEY, [OLD])
    with db.session() as s:   # the receiver's lookup, while the rotation has not run yet
        assert find_bot(s, during, tenant_id=tenant_id, role="message_bot").header_secret

    with pytest.raises(OperationalError, match="Cannot rotate: 3 stored secret"):
        rotate(db, during)
    assert _values(db) == before

    report = rotate(db, SecretBox(TEST_KEY, [OLD, THIRD]), dry_run=True)
    assert report.rotated == 6 and _values(db) == before
    report = rotate(db, SecretBox(TEST_KEY, [OLD, THIRD]))
    assert (report.rotated, report.current, report.rows) == (6, 0, 2)
    assert all(SecretBox(TEST_KEY).is_current(v) for v in _values(db))
