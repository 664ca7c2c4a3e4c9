"""Several keys in a SecretBox (rotation without downtime), unreadable secrets, the list of encrypted
columns that ``secrets rotate`` covers, and error wrapping that says a thing once."""

import pytest

from promostack_cli.core.secrets import SecretBox, SecretUnreadable, split_keys

CURRENT, OLD, OTHER = "c" * 40, "o" * 40, "x" * 40
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_a_box_encrypts_with_the_current_key_and_decrypts_with_old_ones():
    sealed_old = SecretBox(OLD).encrypt(TOKEN)
    box = SecretBox(CURRENT, [OLD])
    assert box.decrypt(sealed_old) == TOKEN and box.can_decrypt(sealed_old) and not box.is_current(sealed_old)
    rotated = box.rotate(sealed_old)
    assert SecretBox(CURRENT).decrypt(rotated) == TOKEN and box.is_current(rotated)
    assert not SecretBox(OLD).can_decrypt(box.encrypt(TOKEN))   # new secrets go under the current key only


def test_an_unreadable_secret_names_the_command_that_stores_it_again():
    sealed = SecretBox(OTHER).encrypt(TOKEN)
    box = SecretBox(CURRENT, [OLD])
    assert not box.can_decrypt(sealed)
    with pytest.raises(SecretUnreadable) as err:
        box.decrypt(sealed, "the message_bot token", "promostack connections set message_bot --token <token>")
    assert str(err.value).endswith("or store it again: promostack connections set message_bot --token <token>.")
    assert "PROMOSTACK_SECRET_KEY_OLD and run: promostack secrets rotate" in str(err.value)


def test_old_keys_are_a_list_and_each_must_be_a_real_key():
    assert split_keys(f" {OLD}, {OTHER}\n") == [OLD, OTHER] and split_keys(None) == []
    assert SecretBox(CURRENT, [CURRENT]).has_old_keys is False
    with pytest.raises(Exception, match="PROMOSTACK_SECRET_KEY_OLD"):
        SecretBox(CURRENT, ["short"])
    assert CURRENT not in repr(SecretBox(CURRENT, [OLD]))


def test_the_settings_old_key_reaches_the_box(tmp_path):
    from promostack_cli.core.secrets import secret_box_for
    from promostack_cli.settings import Settings

    sealed = SecretBox(OLD).encrypt(TOKEN)
    s = Settings(secret_key=CURRENT, secret_key_old=f"{OTHER},{OLD}", data_dir=tmp_path)
    assert secret_box_for(s).decrypt(sealed) == TOKEN
    read = Settings.from_env({"PROMOSTACK_SECRET_KEY": CURRENT, "PROMOSTACK_SECRET_KEY_OLD": OLD}, cwd=tmp_path)
    assert secret_box_for(read).decrypt(sealed) == TOKEN


def test_rotation_covers_every_encrypted_column_of_every_table():
    from promostack_cli.models import metadata
    from promostack_cli.system.rotation import ENCRYPTED_COLUMNS

    found = {t.name: {c.name for c in t.columns if c.name.endswith("_encrypted")} for t in metadata.sorted_tables}
    assert {name: cols for name, cols in found.items() if cols} == {n: set(c) for n, c in ENCRYPTED_COLUMNS.items()}


def test_an_unreachable_bot_api_is_said_once():
    from promostack_cli.connections.service import _explain_telegram
    from promostack_cli.telegram.errors import NetworkError

    url = "http://127.0.0.1:9"
    refused = NetworkError(f"cannot reach the Bot API at {url}: [Errno 111] Connection refused", None, "getMe")
    assert str(_explain_telegram(refused, "message_bot", url)).startswith(
        f"Cannot reach the Bot API at {url}: [Errno 111] Connection refused. Nothing was stored")
    timeout = NetworkError("timed out calling getMe (ConnectTimeout)", None, "getMe")
    assert str(_explain_telegram(timeout, "message_bot", url)).startswith(
        f"Cannot reach the Bot API at {url}: timed out calling getMe (ConnectTimeout). Nothing")
