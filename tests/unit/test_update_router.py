"""Updates parsed once into typed updates, routed by kind and command with filters given at
registration, each handler given its context (pure: no database)."""

import pytest

from promostack_cli.telegram.routing import Handled, Router, UpdateContext, waves
from promostack_cli.telegram.updates import BotRef, MalformedUpdate, envelope, parse, parse_command

BOT = BotRef(tenant_id=1, bot_id=42, role="message_bot")
USER = {"id": 5, "is_bot": False, "first_name": "Sam", "username": "sam"}


def msg(text, chat_type="private"):
    return {"update_id": 7, "message": {"message_id": 1, "date": 1, "text": text, "from": USER,
                                        "chat": {"id": 5, "type": chat_type}}}


@pytest.mark.parametrize(("text", "command", "args", "payload"), [
    ("/start welcome", "start", "welcome", "welcome"),
    ("/start vip__cp1a", "start", "vip__cp1a", "vip"),        # the attribution code is split off once
    ("/start@EntryLabBot welcome", "start", "welcome", "welcome"),
    ("/START  welcome ", "start", "welcome", "welcome"),
    ("/start", "start", None, None),
    ("/start two words", "start", "two words", None),      # not a payload Telegram sends
    ("/start " + "a" * 65, "start", "a" * 65, None),       # payloads are 1-64 characters
    ("/startwelcome", "startwelcome", None, None),         # another command, not /start
    ("/stop", "stop", None, None),
    ("hello /start welcome", None, None, None),
])
def test_commands_and_deep_link_payloads(text, command, args, payload):
    update = parse(msg(text), BOT)
    assert (update.command, update.args, update.payload) == (command, args, payload)
    assert parse_command(text) == (command, args)


def test_the_attribution_code_of_a_start_link_is_a_field():
    assert (parse(msg("/start vip__cp1a"), BOT).ref, parse(msg("/start cp9"), BOT).ref) == ("cp1a", "cp9")
    assert parse(msg("/start cp9"), BOT).payload is None and parse(msg("/start vip"), BOT).ref is None
    assert parse(msg("hello cp9"), BOT).ref is None


def test_message_event_carries_chat_user_and_text():
    event = parse(msg("Hi"), BOT)
    assert (event.kind, event.update_id, event.chat_id, event.private, event.text) == ("message", 7, "5", True, "Hi")
    assert event.variables() == {"first_name": "Sam", "last_name": "", "username": "sam"}
    assert event.bot == BOT


def test_callback_member_change_and_join_request():
    cq = parse({"update_id": 8, "callback_query": {"id": "q1", "from": USER, "data": "choice:1"}}, BOT)
    assert (cq.kind, cq.callback_id, cq.callback_data, cq.chat_id) == ("callback_query", "q1", "choice:1", "5")
    kicked = parse({"update_id": 9, "my_chat_member": {
        "chat": {"id": 5, "type": "private"}, "from": USER, "date": 1,
        "old_chat_member": {"status": "member", "user": USER},
        "new_chat_member": {"status": "kicked", "user": USER, "until_date": 0}}}, BOT)
    assert (kicked.member.old_status, kicked.member.new_status, kicked.member.until_date) == ("member", "kicked", 0)
    join = parse({"update_id": 10, "chat_join_request": {"chat": {"id": -100, "type": "channel"}, "from": USER,
                                                         "user_chat_id": 5, "date": 1}}, BOT)
    assert (join.kind, join.chat_id, join.join_user_chat_id, join.user.id) == ("chat_join_request", "-100", "5", 5)


def test_envelope_and_malformed_bodies():
    env = envelope(b'{"update_id": 3, "callback_query": {"id": "abc", "data": "x"}}')
    assert (env.update_id, env.kind, env.callback_query_id) == (3, "callback_query", "abc")
    for bad in (b"{nope", b"[]", b'{"update_id": true}', b'{"update_id": -1}', b'{"update_id": "3"}'):
        with pytest.raises(MalformedUpdate):
            envelope(bad)
    with pytest.raises(MalformedUpdate):
        parse({"update_id": 4, "message": "not an object"}, BOT)


def context(update, **given):
    return UpdateContext(session=None, update=update, now=None, settings=given.get("settings"), box=given.get("box"))


def test_router_tries_commands_then_kind_handlers_and_filters_by_role():
    router, seen = Router(), []
    router.before("message", lambda c: seen.append("before"))
    router.command("verify", lambda c: Handled("verified"), roles=("message_bot",))
    router.on("message", lambda c: None)                      # not mine: the next one is tried
    router.on("message", lambda c: Handled(f"text {c.update.text}"))
    assert router.dispatch(context(parse(msg("/verify"), BOT))).result == "verified"
    assert router.dispatch(context(parse(msg("hello"), BOT))).result == "text hello"
    signal = BotRef(1, 43, "signal_bot")
    assert router.dispatch(context(parse(msg("/verify"), signal))).result == "text /verify"
    assert seen == ["before"] * 3
    ignored = router.dispatch(context(parse({"update_id": 1, "poll": {"id": "p"}}, BOT)))
    assert (ignored.status, ignored.result) == ("ignored", "poll")


def test_private_chats_only_is_declared_at_registration():
    router = Router()
    router.command("start", lambda c: Handled(f"start {c.update.payload}"), private=True)
    router.on("message", lambda c: Handled("group text"))
    assert router.dispatch(context(parse(msg("/start vip"), BOT))).result == "start vip"
    assert router.dispatch(context(parse(msg("/start vip", chat_type="group"), BOT))).result == "group text"
    anonymous = {"update_id": 7, "message": {"message_id": 1, "date": 1, "text": "/start vip",
                                             "chat": {"id": 5, "type": "private"}}}   # no "from": no user to answer
    assert router.dispatch(context(parse(anonymous, BOT))).result == "group text"


def test_a_handler_gets_what_the_edge_gave_and_shares_what_it_loads_once():
    router, loads = Router(), []

    def load(c):
        return c.memo("config", lambda: loads.append(c.settings) or {"from": c.settings})

    router.before("message", load)
    router.on("message", lambda c: Handled(f"{load(c)['from']} {c.box} tenant {c.tenant_id}"))
    assert router.dispatch(context(parse(msg("hi"), BOT), settings="S", box="B")).result == "S B tenant 1"
    assert loads == ["S"]   # loaded once for the update, though asked for twice


def user_msg(update_id, text, user, chat=None, chat_type="private"):
    return parse({"update_id": update_id, "message": {
        "message_id": update_id, "date": 1, "text": text, "from": {"id": user, "is_bot": False, "first_name": "U"},
        "chat": {"id": user if chat is None else chat, "type": chat_type}}}, BOT)


def test_waves_never_put_one_users_or_chats_updates_together():
    updates = [user_msg(1, "a", 10), user_msg(2, "b", 11), user_msg(3, "c", 12),
               user_msg(4, "d", 11),                       # user 11 again: a new run, in order
               user_msg(5, "e", 13, chat=-100, chat_type="group"), user_msg(6, "f", 14, chat=-100, chat_type="group"),
               parse({"update_id": 7, "poll": {"id": "p"}}, BOT), parse({"update_id": 8, "poll": {"id": "q"}}, BOT)]
    assert waves(updates) == [[0, 1, 2], [3, 4], [5, 6], [7]]  # one group chat, two users; unknown whom: alone
    assert waves([]) == []


def test_dispatch_many_gives_what_dispatch_gives_each_update_with_batch_forms_called_once():
    """Hooks, commands before kind handlers, "not mine" falling through, filters, the ignored reason: the same
    answers as one update at a time; a route registered with many= is called once per step with its updates."""
    calls = []

    def build(with_many: bool) -> Router:
        router = Router()
        kw = (lambda f: {"many": f}) if with_many else (lambda f: {})
        router.before("message", lambda c: calls.append(("hook", c.update.update_id)), private=True,
                      **kw(lambda cs: calls.append(("hooks", [c.update.update_id for c in cs]))))
        router.command("start", lambda c: None if c.update.payload == "other" else Handled(f"start {c.update.payload}"),
                       private=True, **kw(lambda cs: calls.append(("starts", len(cs))) or
                                          [None if c.update.payload == "other" else Handled(f"start {c.update.payload}")
                                           for c in cs]))
        router.on("message", lambda c: Handled(f"text {c.update.text}") if c.update.private else None)
        return router

    updates = [user_msg(1, "/start a", 10), user_msg(2, "/start other", 11), user_msg(3, "hello", 12),
               user_msg(4, "/start b", 13), user_msg(5, "in a group", 14, chat=-100, chat_type="group"),
               parse({"update_id": 6, "poll": {"id": "p"}}, BOT)]
    one_at_a_time = [build(False).dispatch(context(u)) for u in updates]
    calls.clear()
    together = build(True).dispatch_many([context(u) for u in updates])
    assert together == one_at_a_time
    assert [(h.status, h.result) for h in together] == [
        ("processed", "start a"), ("processed", "text /start other"), ("processed", "text hello"),
        ("processed", "start b"), ("ignored", "not a private text message"), ("ignored", "poll")]
    assert calls == [("hooks", [1, 2, 3, 4]), ("starts", 3)]  # the group message is not private: no hook
