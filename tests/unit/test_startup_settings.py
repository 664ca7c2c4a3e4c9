"""The idle tick's settings reader (no pydantic) against Settings (pydantic-settings): whenever the
plain reader answers, pydantic-settings accepts the same environment and reads the same values."""

import os

import pytest

from promostack_cli.settings import Settings
from promostack_cli.core.env import FIELDS, default_data_dir, read_plain

VALUES = ["0", "1", "007", "2", "1.5", "0.5", "-1", "abc", "", " 5", "5 ", "256", "257", "1e3", "inf", "nan",
          "true", "True", "yes", "off", "postgresql+psycopg://u@h/db", "/tmp/x/", "1_000"]


def _pydantic(monkeypatch, env: dict):
    for key in list(os.environ):
        if key.lower().startswith("promostack_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        return Settings()
    except Exception:  # noqa: BLE001 - any rejection
        return None


def _same(plain, full) -> None:
    assert full is not None, "the plain reader accepted what pydantic-settings rejects"
    assert plain.database_url == full.database_url
    assert plain.data_dir == full.data_dir
    assert plain.tenant == full.tenant
    assert plain.log_level == full.log_level
    assert (plain.secret_key is None) == (full.secret_key is None)
    if plain.secret_key is not None:
        assert plain.secret_key.get_secret_value() == full.secret_key.get_secret_value()
    assert plain.resolved_database_url == full.resolved_database_url
    assert plain.uses_default_database == full.uses_default_database


def test_every_settings_field_has_a_plain_check():
    assert set(FIELDS) == set(Settings.model_fields)


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_plain_reader_answers_only_where_pydantic_agrees(field, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    answered = 0
    for value in VALUES:
        env = {f"PROMOSTACK_{field.upper()}": value}
        plain = read_plain(env, tmp_path)
        full = _pydantic(monkeypatch, env)
        if plain is not None:
            answered += 1
            _same(plain, full)
    assert answered > 0  # each field has plainly valid values the fast path takes


def test_defaults_names_in_any_case_and_what_makes_the_reader_step_aside(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    _same(read_plain({}, tmp_path), _pydantic(monkeypatch, {}))
    env = {"promostack_database_url": "sqlite:////tmp/a.db", "PROMOSTACK_Tenant": "entrylab",
           "PROMOSTACK_SECRET_KEY": "k" * 40, "PROMOSTACK_LOG_LEVEL": "info", "PROMOSTACK_UNKNOWN": "x",
           "HOME_PROMOSTACK_TENANT": "not ours"}
    _same(read_plain(env, tmp_path), _pydantic(monkeypatch, env))
    # the same variable twice in different case: which one pydantic takes is not ours to guess
    assert read_plain({"PROMOSTACK_TENANT": "a", "promostack_tenant": "b"}, tmp_path) is None
    # a .env file in the working directory is pydantic-settings' to read
    (tmp_path / ".env").write_text("PROMOSTACK_TENANT=from-dotenv\n")
    assert read_plain({}, tmp_path) is None


@pytest.mark.parametrize("xdg", [None, "/srv/config"])
def test_default_data_dir_is_typers_app_dir(xdg, monkeypatch):
    import typer

    if xdg is None:
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CONFIG_HOME", xdg)
    assert str(default_data_dir()) == typer.get_app_dir("promostack")
