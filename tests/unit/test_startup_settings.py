"""Settings: every PROMOSTACK_* variable read one way (environment over ``.env`` over the default),
each value checked with a one-line error that names the variable; secrets never shown."""

from pathlib import Path

import pytest

from promostack_cli.settings import Secret, Settings, SettingsError


def read(env: dict, cwd: Path, dotenv: str | None = None) -> Settings:
    if dotenv is not None:
        (cwd / ".env").write_text(dotenv)
    return Settings.from_env(env, cwd)


def test_defaults_without_environment_or_dotenv(tmp_path):
    s = read({}, tmp_path)
    assert s == Settings()
    assert (s.send_rate_per_bot, s.send_workers, s.log_level, s.dry_run) == (28.0, 64, "WARNING", False)
    assert s.uses_default_database and s.resolved_database_url.endswith("/promostack/promostack.db")


def test_environment_beats_dotenv_which_beats_the_default_and_names_match_in_any_case(tmp_path):
    s = read({"PROMOSTACK_TENANT": "acme", "promostack_send_workers": "8", "OTHER": "x"}, tmp_path,
             'PROMOSTACK_TENANT=fromfile\nexport PROMOSTACK_LOG_LEVEL="info"  # a comment\nPROMOSTACK_DRY_RUN=yes\n')
    assert (s.tenant, s.send_workers, s.log_level, s.dry_run) == ("acme", 8, "INFO", True)


def test_values_are_typed_and_urls_lose_their_trailing_slash(tmp_path):
    s = read({"PROMOSTACK_TELEGRAM_API_URL": "http://127.0.0.1:8081/", "PROMOSTACK_DATA_DIR": str(tmp_path),
              "PROMOSTACK_SEND_INTERVAL_PRIVATE": " 1.5 ", "PROMOSTACK_TWELVEDATA_CREDITS_PER_DAY": "1000"}, tmp_path)
    assert s.telegram_api_url == "http://127.0.0.1:8081" and s.data_dir == tmp_path
    assert s.send_interval_private == 1.5 and s.twelvedata_credits_per_day == 1000
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'promostack.db'}"


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("SEND_WORKERS", "300", "must be at most 256"),
    ("SEND_WORKERS", "0", "must be at least 1"),
    ("SEND_WORKERS", "2.5", "must be a whole number"),
    ("SEND_RATE_PER_BOT", "0", "must be more than 0"),
    ("SEND_RATE_PER_BOT", "nan", "must be a number"),
    ("SEND_RATE_PER_BOT", "fast", "must be a number"),
    ("TELEGRAM_TIMEOUT", "inf", "must be a number"),
    ("DRY_RUN", "maybe", "must be true or false (also yes/no, on/off, 1/0)"),
    ("LOG_LEVEL", "LOUD", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
])
def test_a_bad_value_is_one_line_naming_the_variable_exit_2(tmp_path, name, value, reason):
    with pytest.raises(SettingsError) as info:
        read({f"PROMOSTACK_{name}": value}, tmp_path)
    assert str(info.value) == f"Invalid setting PROMOSTACK_{name}: {reason} (got {value!r})"
    assert info.value.exit_code == 2


def test_a_bad_value_in_dotenv_is_reported_the_same_way(tmp_path):
    with pytest.raises(SettingsError, match="PROMOSTACK_SEND_WORKERS: must be at most 256"):
        read({}, tmp_path, "PROMOSTACK_SEND_WORKERS=999\n")


def test_secrets_never_show_in_repr_or_errors(tmp_path):
    s = read({"PROMOSTACK_SECRET_KEY": "k" * 40, "PROMOSTACK_TWELVEDATA_API_KEY": "td-secret-123"}, tmp_path)
    assert s.secret_key.get_secret_value() == "k" * 40 and isinstance(s.twelvedata_api_key, Secret)
    assert "k" * 40 not in repr(s) and "td-secret-123" not in repr(s) and "td-secret-123" not in str(s)


def test_every_setting_is_documented():
    described = dict(Settings.described())
    assert "PROMOSTACK_DATABASE_URL" in described and all(text for text in described.values())
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [name for name in described if name not in readme]
    assert not missing, f"README does not document {missing}"


def test_code_given_values_are_checked_like_the_environments():
    assert Settings(send_workers="12").send_workers == 12
    with pytest.raises(SettingsError, match="PROMOSTACK_SEND_WORKERS"):
        Settings(send_workers=0)
    assert Settings(twelvedata_api_key="abc").twelvedata_api_key.get_secret_value() == "abc"
    with pytest.raises(TypeError):
        Settings(no_such_setting=1)
