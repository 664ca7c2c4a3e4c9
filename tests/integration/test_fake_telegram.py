"""Tests of the fake Telegram Bot API server itself (tests/fakes/telegram.py)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.fakes.telegram import Call, FakeTelegram

TOKEN = "123456:TEST-token_abc"
TOKEN2 = "654321:OTHER-token"
USER = 777  # a private chat (positive ids exist implicitly)
CHANNEL = -1001234567890


class Clock:
    """Manually advanced clock for deterministic rate-limit tests."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_fake(**kwargs) -> FakeTelegram:
    fake = FakeTelegram(**kwargs)
    fake.add_bot(TOKEN, "test_bot")
    fake.add_bot(TOKEN2, "other_bot", first_name="Other")
    fake.add_chat(CHANNEL, type="channel", title="News")
    return fake


@pytest.fixture
def fake():
    with make_fake() as fake:
        yield fake


@pytest.fixture
def client():
    with httpx.Client(timeout=5) as client:
        yield client


def api(client: httpx.Client, fake: FakeTelegram, method: str, token: str = TOKEN, **params):
    response = client.post(f"{fake.base_url}/bot{token}/{method}", json=params)
    body = response.json()
    assert response.status_code == (200 if body["ok"] else body["error_code"])
    return body


def send(client, fake, chat_id=USER, text="hello", token=TOKEN, **params):
    return api(client, fake, "sendMessage", token=token, chat_id=chat_id, text=text, **params)


def assert_error(body: dict, code: int, description: str) -> None:
    assert body["ok"] is False and body["error_code"] == code, body
    assert body["description"].startswith(description), body


# ---------------------------------------------------------------- tokens, getMe

def test_get_me_and_token_checks(fake, client):
    me = api(client, fake, "getMe")
    assert me == {"ok": True, "result": {
        "id": 123456, "is_bot": True, "first_name": "Test Bot", "username": "test_bot",
        "can_join_groups": True, "can_read_all_group_messages": False,
        "supports_inline_queries": False}}
    assert client.get(f"{fake.base_url}/bot{TOKEN}/GETME").json()["ok"]  # case-insensitive
    assert_error(api(client, fake, "getMe", token="999:unknown"), 401, "Unauthorized")
    assert_error(api(client, fake, "sendMessage", token="999:unknown", chat_id=USER, text="x"),
                 401, "Unauthorized")
    assert_error(api(client, fake, "getMe", token="not-a-token"), 404, "Not Found")
    assert_error(api(client, fake, "noSuchMethod"), 404, "Not Found")
    assert [c.method for c in fake.calls] == ["getMe", "getMe", "getMe", "sendMessage",
                                              "getMe", "noSuchMethod"]
    assert isinstance(fake.calls[0], Call) and fake.calls[0].status == 200
    assert fake.calls[2].status == 401


# ---------------------------------------------------------------- sendMessage

def test_send_message_success_and_per_chat_message_ids(client):
    with make_fake(enforce_limits=False) as fake:
        first = send(client, fake, text="one", parse_mode="HTML",
                     reply_markup={"inline_keyboard": [[{"text": "b", "callback_data": "d"}]]})
        assert first["ok"]
        msg = first["result"]
        assert msg["message_id"] == 1 and msg["text"] == "one"
        assert msg["chat"] == {"id": USER, "type": "private", "first_name": f"User{USER}"}
        assert msg["from"]["id"] == 123456 and isinstance(msg["date"], int)
        assert send(client, fake)["result"]["message_id"] == 2
        assert send(client, fake, chat_id=str(USER + 1))["result"]["message_id"] == 1
        assert send(client, fake, chat_id=CHANNEL)["result"]["message_id"] == 1
        sent = fake.sent(chat_id=USER)
        assert [m["message_id"] for m in sent] == [1, 2]
        assert sent[0]["parse_mode"] == "HTML" and sent[0]["token"] == TOKEN
        assert sent[0]["reply_markup"]["inline_keyboard"][0][0]["text"] == "b"
        assert fake.sent(chat_id=str(USER + 1))[0]["chat_id"] == USER + 1  # normalised to int
        assert len(fake.sent(token=TOKEN)) == 4 and fake.sent(token=TOKEN2) == []


def test_send_message_to_username_chat(fake, client):
    chat = fake.add_chat("@mychannel", title="Mine")
    body = send(client, fake, chat_id="@MyChannel")
    assert body["result"]["chat"] == {"id": chat["id"], "type": "channel", "title": "Mine",
                                      "username": "mychannel"}
    assert len(fake.sent(chat_id="@MyChannel")) == 1 and len(fake.sent(chat_id=chat["id"])) == 1


def test_send_message_errors(fake, client):
    assert_error(api(client, fake, "sendMessage", text="x"), 400, "Bad Request: chat_id is empty")
    assert_error(api(client, fake, "sendMessage", chat_id=USER), 400,
                 "Bad Request: message text is empty")
    assert_error(send(client, fake, text=""), 400, "Bad Request: message text is empty")
    assert_error(send(client, fake, chat_id=-100999), 400, "Bad Request: chat not found")
    assert_error(send(client, fake, chat_id="@nobody"), 400, "Bad Request: chat not found")
    assert_error(send(client, fake, text="x" * 4097), 400, "Bad Request: message is too long")
    assert send(client, fake, text="é" * 4096)["ok"]  # limit counts characters, not bytes
    assert fake.sent() and len(fake.sent()) == 1


def test_blocked_user(fake, client):
    fake.block(USER)
    assert_error(send(client, fake), 403, "Forbidden: bot was blocked by the user")
    fake.block(USER + 1, TOKEN2)
    assert_error(send(client, fake, chat_id=USER + 1, token=TOKEN2), 403, "Forbidden: bot was blocked")
    assert send(client, fake, chat_id=USER + 1)["ok"]  # only TOKEN2 is blocked there


def test_not_a_member(fake, client):
    fake.add_chat(-100555, type="channel", admins={654321})
    fake.add_chat(-100556, type="supergroup", admins=set())
    assert_error(send(client, fake, chat_id=-100555), 403,
                 "Forbidden: bot is not a member of the channel chat")
    assert send(client, fake, chat_id=-100555, token=TOKEN2)["ok"]
    assert_error(send(client, fake, chat_id=-100556), 403,
                 "Forbidden: bot is not a member of the supergroup chat")


def test_html_validation(fake, client):
    fake.enforce_limits = False
    bad = {
        "1 < 2": 'Unsupported start tag "" at byte offset 2',
        "<foo>x</foo>": 'Unsupported start tag "foo" at byte offset 0',
        "<b>bold": 'Can\'t find end tag corresponding to start tag "b"',
        "<b><i>x</b></i>": 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"',
        "x</b>": "Unexpected end tag at byte offset 1",
        "é<b": "Unclosed start tag at byte offset 2",  # byte offsets, not characters
        "AT&T": 'Character "&" must be escaped as "&amp;" at byte offset 2',
        '<span class="x">s</span>': 'Tag "span" must have class "tg-spoiler" at byte offset 0',
    }
    for text, reason in bad.items():
        body = send(client, fake, text=text, parse_mode="HTML")
        assert_error(body, 400, "Bad Request: can't parse entities: ")
        assert body["description"].endswith(reason), (text, body)
    good = ('<b>bold <i>italic <u>under <s>strike</s></u></i></b> <a href="https://x.y/?a=1&amp;b=2">l</a> '
            '<code>c</code> <pre><code class="language-python">p</code></pre> '
            '<tg-spoiler>s</tg-spoiler> <span class="tg-spoiler">s2</span> '
            '<blockquote expandable>q</blockquote> <STRONG>up</STRONG> '
            '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> '
            '&lt;tag&gt; &amp; &quot; &#65; &#x42; 2 > 1')
    body = send(client, fake, text=good, parse_mode="HTML")
    assert body["ok"], body
    assert body["result"]["text"].endswith('<tag> & " A B 2 > 1')
    assert send(client, fake, text="1 < 2 & <foo>")["ok"]  # no parse_mode: no validation
    assert_error(send(client, fake, text="<b> </b>", parse_mode="HTML"), 400,
                 "Bad Request: message text is empty")
    # the length limit applies to the parsed text
    assert send(client, fake, text="<b>" + "x" * 4096 + "</b>", parse_mode="HTML")["ok"]
    lenient = FakeTelegram(strict_html_entities=False)
    lenient.add_bot(TOKEN, "test_bot")
    with lenient:
        assert send(client, lenient, text="AT&T &nbsp;", parse_mode="HTML")["result"]["text"] == "AT&T &nbsp;"


# ---------------------------------------------------------------- rate limits

def test_private_chat_limit_one_per_second(client):
    clock = Clock()
    with make_fake(clock=clock) as fake:
        assert send(client, fake)["ok"]
        clock.now += 0.3
        body = send(client, fake)
        assert body == {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                        "parameters": {"retry_after": 1}}
        assert send(client, fake, chat_id=USER + 1)["ok"]  # other chats are unaffected
        assert fake.count_429 == 1 and len(fake.sent()) == 2
        clock.now += 0.71  # the first send left the 1 s window
        assert send(client, fake)["ok"]


def test_private_chat_limit_real_time(fake, client):
    assert send(client, fake)["ok"]
    body = send(client, fake)
    assert_error(body, 429, "Too Many Requests: retry after ")
    assert body["parameters"]["retry_after"] >= 1
    assert body["description"] == f"Too Many Requests: retry after {body['parameters']['retry_after']}"
    assert fake.count_429 == 1 and fake.calls[-1].status == 429


def test_bot_limit_thirty_per_second(client):
    clock = Clock()
    with make_fake(clock=clock) as fake:
        results = [send(client, fake, chat_id=1000 + i) for i in range(31)]
        assert [r["ok"] for r in results].count(False) == 1 and not results[-1]["ok"]
        assert results[-1]["parameters"]["retry_after"] == 1
        assert send(client, fake, chat_id=1000, token=TOKEN2)["ok"]  # per-bot budget
        clock.now += 1.0
        assert send(client, fake, chat_id=2000)["ok"]
        assert fake.count_429 == 1


def test_group_limit_twenty_per_minute(client):
    clock = Clock()
    with make_fake(clock=clock) as fake:
        for _ in range(20):
            assert send(client, fake, chat_id=CHANNEL)["ok"]
            clock.now += 1.0  # well under the per-bot limit
        body = send(client, fake, chat_id=CHANNEL)
        assert_error(body, 429, "Too Many Requests: retry after 40")
        assert body["parameters"] == {"retry_after": 40}  # first send frees at +60 s
        clock.now += 40
        assert send(client, fake, chat_id=CHANNEL)["ok"]
        assert fake.count_429 == 1


def test_no_limits(client):
    with make_fake(enforce_limits=False) as fake:
        assert all(send(client, fake)["ok"] for _ in range(5))
        assert fake.count_429 == 0


# ---------------------------------------------------------------- scripted behaviour

def test_fail_next(fake, client):
    fake.fail_next("sendMessage", 500)
    fake.fail_next("sendMessage", 429, retry_after=7, count=2)
    fake.fail_next("getMe", 502, token=TOKEN2)
    assert_error(send(client, fake), 500, "Internal Server Error")
    for _ in range(2):
        body = send(client, fake, chat_id=USER + 5)
        assert body == {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
                        "parameters": {"retry_after": 7}}
    assert send(client, fake)["ok"]
    assert api(client, fake, "getMe")["ok"]  # failure is scoped to TOKEN2
    assert_error(api(client, fake, "getMe", token=TOKEN2), 502, "Bad Gateway")
    assert fake.count_429 == 0 and fake.count_scripted_429 == 2 and fake.count_scripted == 4
    fake.fail_next("getMe", 400, "Bad Request: custom")
    assert_error(api(client, fake, "getMe", token="1:unknown"), 401, "Unauthorized")  # token first
    assert_error(api(client, fake, "getMe"), 400, "Bad Request: custom")


def test_fail_next_and_sent_log_over_http(fake, client):
    """The control endpoints a benchmark in another process uses: script a 429, read every send."""
    control = fake.base_url + "/_fake"
    assert client.post(control + "/fail_next", json={"method": "sendMessage", "error_code": 429,
                                                     "retry_after": 10, "token": TOKEN}).json() == {"ok": True}
    assert send(client, fake, token=TOKEN2, text="other bot")["ok"]  # scoped to TOKEN
    body = send(client, fake, text="refused")
    assert body["error_code"] == 429 and body["parameters"] == {"retry_after": 10}
    assert send(client, fake, text="first")["ok"] and send(client, fake, chat_id=USER + 1, text="second")["ok"]
    log = client.get(control + "/sent").json()
    assert [(m["token"], m["chat_id"], m["text"]) for m in log["result"]] == [
        (TOKEN2, USER, "other bot"), (TOKEN, USER, "first"), (TOKEN, USER + 1, "second")]
    assert all(m["bot_id"] == int(m["token"].split(":")[0]) for m in log["result"])
    assert [(f["method"], f["token"], f["error_code"], f["retry_after"]) for f in log["scripted"]] == [
        ("sendMessage", TOKEN, 429, 10)]
    assert log["scripted"][0]["at"] <= log["result"][1]["at"] <= log["result"][2]["at"] <= log["now"]
    assert log["wall"] > 0
    assert [m["text"] for m in client.get(control + "/sent", params={"since": 2}).json()["result"]] == ["second"]
    assert fake.count_429 == 0 and fake.count_scripted_429 == 1  # scripted 429s are not the limiter's
    assert client.post(control + "/fail_next", json={"error_code": 500}).status_code == 400  # method missing
    fake.reset()
    assert client.get(control + "/sent").json()["scripted"] == []


def test_hang_next_and_latency(fake):
    fake.hang_next("getMe", 0.5)
    with httpx.Client(timeout=0.1) as short:
        with pytest.raises(httpx.ReadTimeout):
            short.get(f"{fake.base_url}/bot{TOKEN}/getMe")
        assert short.get(f"{fake.base_url}/bot{TOKEN}/getMe").json()["ok"]
    with make_fake(latency=0.05) as slow, httpx.Client() as client:
        start = time.monotonic()
        assert api(client, slow, "getMe")["ok"]
        assert time.monotonic() - start >= 0.05


def test_reset_keeps_bots_and_chats(fake, client):
    send(client, fake)
    send(client, fake)
    fake.fail_next("getMe", 500)
    fake.reset()
    assert fake.calls == [] and fake.sent() == [] and fake.count_429 == 0
    assert api(client, fake, "getMe")["ok"]
    assert send(client, fake, chat_id=CHANNEL)["result"]["message_id"] == 1


# ---------------------------------------------------------------- other methods

def test_get_chat_and_chat_member(fake, client):
    fake.add_chat(-100777, type="supergroup", title="G", admins={654321})
    chat = api(client, fake, "getChat", chat_id=CHANNEL)["result"]
    assert chat["id"] == CHANNEL and chat["type"] == "channel" and chat["title"] == "News"
    assert api(client, fake, "getChat", chat_id=USER)["result"]["type"] == "private"
    assert_error(api(client, fake, "getChat", chat_id=-5), 400, "Bad Request: chat not found")
    admin = api(client, fake, "getChatMember", chat_id=-100777, user_id=654321)["result"]
    assert admin["status"] == "administrator" and admin["can_post_messages"] and admin["user"]["is_bot"]
    left = api(client, fake, "getChatMember", chat_id=-100777, user_id=123456)["result"]
    assert left == {"status": "left", "user": api(client, fake, "getMe")["result"]}
    assert_error(api(client, fake, "getChatMember", chat_id=-5, user_id=1), 400, "Bad Request: chat not found")


def test_webhooks(fake, client):
    def hook(**params):
        return api(client, fake, "setWebhook", **params)

    assert_error(hook(url="http://example.com/hook"), 400,
                 "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
    assert_error(hook(url="https://example.com:9999/hook"), 400, "Bad Request: bad webhook: ")
    assert_error(hook(url="https://example.com/hook", secret_token="bad secret!"), 400,
                 "Bad Request: secret token contains unallowed characters")
    assert_error(hook(url="https://example.com/hook", max_connections=101), 400,
                 "Bad Request: bad webhook: max_connections")
    assert api(client, fake, "getWebhookInfo")["result"] == {
        "url": "", "has_custom_certificate": False, "pending_update_count": 0}
    ok = hook(url="https://example.com/hook", secret_token="s3cr3t_-X", max_connections=10,
              allowed_updates=["message", "callback_query"], drop_pending_updates=True)
    assert ok == {"ok": True, "result": True, "description": "Webhook was set"}
    info = api(client, fake, "getWebhookInfo")["result"]
    assert info["url"] == "https://example.com/hook" and info["max_connections"] == 10
    assert info["allowed_updates"] == ["message", "callback_query"]
    assert "secret_token" not in json.dumps(info) and "s3cr3t" not in json.dumps(info)
    assert fake.webhooks[TOKEN]["secret_token"] == "s3cr3t_-X"
    assert fake.webhooks[TOKEN]["drop_pending_updates"] is True
    assert api(client, fake, "deleteWebhook")["description"] == "Webhook was deleted"
    assert api(client, fake, "deleteWebhook")["description"] == "Webhook is already deleted"
    assert TOKEN not in fake.webhooks
    with make_fake(allow_http_webhooks=True) as local:
        assert api(client, local, "setWebhook", url="http://127.0.0.1:8080/hook")["ok"]


def test_invite_links_bans_and_callbacks(fake, client):
    assert api(client, fake, "answerCallbackQuery", callback_query_id="42")["result"] is True
    assert_error(api(client, fake, "answerCallbackQuery"), 400, "Bad Request: query is too old")
    link = api(client, fake, "createChatInviteLink", chat_id=CHANNEL, member_limit=5, name="promo")["result"]
    assert link["invite_link"].startswith("https://t.me/+") and link["member_limit"] == 5
    assert link["creator"]["id"] == 123456 and link["is_revoked"] is False
    assert_error(api(client, fake, "createChatInviteLink", chat_id=CHANNEL, member_limit=0), 400, "Bad Request")
    assert_error(api(client, fake, "createChatInviteLink", chat_id=CHANNEL, member_limit=100000), 400, "Bad Request")
    assert_error(api(client, fake, "createChatInviteLink", chat_id=CHANNEL, member_limit=3,
                     creates_join_request=True), 400, "Bad Request")
    revoked = api(client, fake, "revokeChatInviteLink", chat_id=CHANNEL, invite_link=link["invite_link"])
    assert revoked["result"]["is_revoked"] is True
    assert api(client, fake, "banChatMember", chat_id=CHANNEL, user_id=USER)["result"] is True
    assert (CHANNEL, USER) in fake.banned
    assert api(client, fake, "unbanChatMember", chat_id=CHANNEL, user_id=USER)["result"] is True
    assert fake.banned == set()


# ---------------------------------------------------------------- transport

def test_form_and_query_params(fake, client):
    url = f"{fake.base_url}/bot{TOKEN}/sendMessage"
    markup = json.dumps({"inline_keyboard": [[{"text": "go", "url": "https://x.y"}]]})
    body = client.post(url, data={"chat_id": str(USER), "text": "{not json}", "reply_markup": markup}).json()
    assert body["ok"] and body["result"]["text"] == "{not json}"
    assert fake.sent()[-1]["reply_markup"] == json.loads(markup)
    body = client.get(url, params={"chat_id": CHANNEL, "text": "via query"}).json()
    assert body["ok"] and fake.sent()[-1]["chat_id"] == CHANNEL
    body = client.post(url + f"?chat_id={USER + 1}", files={"text": (None, "multipart")}).json()
    assert body["ok"] and fake.sent()[-1]["text"] == "multipart"
    assert client.post(f"{fake.base_url}/bot{TOKEN}/setWebhook",
                       data={"url": "https://a.b/h", "allowed_updates": '["message"]'}).json()["ok"]
    assert fake.webhooks[TOKEN]["allowed_updates"] == ["message"]


def test_keep_alive_and_concurrency(client):
    with make_fake(enforce_limits=False) as fake:
        response = client.get(f"{fake.base_url}/bot{TOKEN}/getMe")
        assert response.http_version == "HTTP/1.1"
        assert int(response.headers["content-length"]) == len(response.content)

        def worker(n: int) -> int:
            with httpx.Client(timeout=5) as c:  # each worker reuses one connection
                return sum(send(c, fake, chat_id=10_000 + n * 100 + i)["ok"] for i in range(40))

        with ThreadPoolExecutor(8) as pool:
            assert sum(pool.map(worker, range(8))) == 320
        assert len(fake.sent()) == 320 and fake.stats()["sent"] == 320


def test_stop_closes_kept_alive_connections(client):
    fake = make_fake().start()
    url = f"{fake.base_url}/bot{TOKEN}/getMe"
    assert client.get(url).json()["ok"]  # leaves a kept-alive connection in the pool
    fake.stop()
    with pytest.raises(httpx.TransportError):
        client.get(url)


# ---------------------------------------------------------------- script mode
