"""The Bot API client turns every kind of failure into a typed error without leaking the token."""

import socket

import pytest

from promostack_cli.telegram import errors as tg
from promostack_cli.telegram.client import TelegramClient
from promostack_cli.telegram.html import escape
from tests.conftest import SIGNAL_TOKEN


@pytest.fixture
def client(fake_tg):
    with TelegramClient(SIGNAL_TOKEN, base_url=fake_tg.base_url, timeout=2) as c:
        yield c


def test_get_me(client):
    assert client.get_me()["username"] == "entrylab_signals_bot"


def test_unknown_token_is_unauthorized_and_token_not_in_message(fake_tg):
    token = "7999999999:AAFunknownunknownunknownunknown0099"
    with TelegramClient(token, base_url=fake_tg.base_url) as c, pytest.raises(tg.Unauthorized) as exc:
        c.get_me()
    assert exc.value.error_code == 401
    assert token not in str(exc.value)


def test_blocked_user(client, fake_tg):
    fake_tg.block(5550001)
    with pytest.raises(tg.BotBlocked):
        client.send_message(5550001, "hi")


def test_bad_requests_are_typed(client, fake_tg):
    with pytest.raises(tg.ChatNotFound):
        client.send_message(-1009999999999, "hi")
    with pytest.raises(tg.MessageTooLong):
        client.send_message(5550002, "x" * 4097)
    with pytest.raises(tg.CantParseEntities):
        client.send_message(5550003, "<blink>x</blink>", parse_mode="HTML")
    assert not tg.BadRequest("x").transient


def test_rate_limit_has_retry_after(client, fake_tg):
    client.send_message(5550004, "one")
    with pytest.raises(tg.RetryAfter) as exc:
        client.send_message(5550004, "two")
    assert exc.value.retry_after >= 1 and exc.value.transient


def test_server_error_is_transient(client, fake_tg):
    fake_tg.fail_next("sendMessage", 502)
    with pytest.raises(tg.ServerError) as exc:
        client.send_message(5550005, "hi")
    assert exc.value.transient and exc.value.error_code == 502


def test_connection_refused_is_network_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with TelegramClient(SIGNAL_TOKEN, base_url=f"http://127.0.0.1:{port}") as c, pytest.raises(tg.NetworkError) as exc:
        c.get_me()
    assert exc.value.transient
    assert SIGNAL_TOKEN not in str(exc.value)


def test_timeout_is_network_error(fake_tg):
    fake_tg.hang_next("getMe", 2.0)
    with TelegramClient(SIGNAL_TOKEN, base_url=fake_tg.base_url, timeout=0.3) as c, pytest.raises(tg.NetworkError, match="timed out"):
        c.get_me()


def test_escape_keeps_user_names_intact(client, fake_tg):
    name = 'Tom <b>& "Jerry"'
    client.send_message(5550006, f"Hi <b>{escape(name)}</b>", parse_mode="HTML")
    assert fake_tg.sent(chat_id=5550006)[-1]["plain_text"] == f"Hi {name}"
