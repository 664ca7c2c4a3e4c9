import os
import stat

import pytest

from promostack_cli.core.errors import OperationalError, ValidationError
from promostack_cli.core.secrets import SecretBox, load_or_create_key_file, mask, redact, secret_box_for
from promostack_cli.settings import Settings

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_mask_keeps_only_the_ends():
    assert mask(TOKEN) == "123456789:AA…aw"
    assert "HdqTcv" not in mask(TOKEN)
    assert mask("short") == "…"
    assert mask(None) == ""


def test_redact_masks_tokens_inside_text():
    text = f"POST https://api.telegram.org/bot{TOKEN}/sendMessage failed"
    assert TOKEN not in redact(text)
    assert "bot123456789:AA…aw/sendMessage" in redact(text)


def test_encrypt_round_trip_and_wrong_key():
    box = SecretBox("k" * 40)
    sealed = box.encrypt(TOKEN)
    assert TOKEN not in sealed
    assert box.decrypt(sealed) == TOKEN
    with pytest.raises(OperationalError, match="not the key it was stored with"):
        SecretBox("x" * 40).decrypt(sealed, "the signal_bot token")


def test_short_key_is_rejected():
    with pytest.raises(ValidationError, match="at least 32"):
        SecretBox("too-short")


def test_generated_key_file_is_private_and_stable(tmp_path):
    path = tmp_path / "data" / "secret.key"
    key = load_or_create_key_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_key_file(path) == key


def test_postgres_without_secret_key_is_refused(tmp_path):
    s = Settings(database_url="postgresql+psycopg://u@h/db", data_dir=tmp_path)
    with pytest.raises(ValidationError, match="PROMOSTACK_SECRET_KEY is not set"):
        secret_box_for(s)


def test_sqlite_default_uses_key_file_beside_database(tmp_path):
    s = Settings(data_dir=tmp_path)
    box = secret_box_for(s)
    assert (tmp_path / "secret.key").exists()
    assert secret_box_for(s).decrypt(box.encrypt("x")) == "x"
