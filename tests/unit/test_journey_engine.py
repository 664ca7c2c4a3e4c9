"""The journey state machine: what a user would see for each input."""

import pytest

from promostack_cli.journeys.engine import (AWAITING_REPLY, CANCELLED, COMPLETED, WAITING_DELAY, JourneyRunner)
from promostack_cli.journeys.spec.parser import parse_text

WELCOME = """
journey: welcome
name: Welcome
status: active
triggers:
  - deep_link: welcome
steps:
  - id: hello
    type: message
    text: "Hi {{ first_name }}!"
  - id: pause
    type: delay
    duration: 10m
    text: "Free analysis."
  - id: experience
    type: question
    text: "How long have you traded?"
    choices: ["< 1 year", "1-3 years", "3+ years"]
    save_as: experience
    validate: choice
    retry_text: "Please pick a button."
  - id: offer
    type: wait_for_reply
    text: "Reply YES for the VIP link ({{ experience }})."
    timeout: 1h
    on_timeout: end
    timeout_text: "No worries."
    branches:
      - match: "yes"
        goto: vip
  - id: later
    type: message
    text: "Maybe later then."
  - id: vip
    type: message
    text: "Welcome aboard {{ username }}"
"""


def runner(text: str = WELCOME) -> JourneyRunner:
    spec, errors = parse_text(text, "welcome.yaml")
    assert not errors, errors
    return JourneyRunner(spec)


def texts(transition):
    return [m.text for m in transition.messages]


def test_start_sends_until_the_first_wait_and_escapes_variables():
    t = runner().start({"first_name": "<b>Tom & Jerry</b>"}, now=1000.0)
    assert texts(t) == ["Hi &lt;b&gt;Tom &amp; Jerry&lt;/b&gt;!"]
    assert t.state.status == WAITING_DELAY and t.state.step_id == "pause" and t.state.wake_at == 1600.0


def test_delay_wakes_only_when_due_then_asks_with_buttons():
    r = runner()
    t = r.start({"first_name": "Sam"}, 0.0)
    assert r.on_timer(t.state, 599.0).messages == []  # not yet
    t = r.on_timer(t.state, 600.0)
    assert texts(t) == ["Free analysis.", "How long have you traded?"]
    buttons = t.messages[1].reply_markup["inline_keyboard"]
    assert [row[0]["text"] for row in buttons] == ["< 1 year", "1-3 years", "3+ years"]
    assert all(len(row[0]["callback_data"].encode()) <= 64 for row in buttons)
    assert t.state.status == AWAITING_REPLY and t.state.wake_at is None


def _at_question(r):
    t = r.start({"first_name": "Sam"}, 0.0)
    return r.on_timer(t.state, 600.0).state


def test_invalid_answer_gets_retry_text_and_stays():
    r = runner()
    state = _at_question(r)
    t = r.on_reply(state, "no idea", 700.0)
    assert texts(t) == ["Please pick a button."] and t.state == state


def test_button_press_and_typed_choice_both_answer_and_are_saved():
    r = runner()
    t = r.on_callback(_at_question(r), "choice:1", 700.0)
    assert texts(t) == ["Reply YES for the VIP link (1-3 years)."]
    assert t.state.variables["experience"] == "1-3 years" and t.state.wake_at == 700.0 + 3600
    t2 = r.on_reply(_at_question(r), "3+ YEARS", 700.0)
    assert t2.state.variables["experience"] == "3+ years"


def test_branch_matches_whole_words_case_insensitively():
    r = runner()
    offer = r.on_callback(_at_question(r), "choice:0", 700.0).state
    t = r.on_reply(offer, "Yes, please!", 800.0)
    assert texts(t) == ["Welcome aboard "] and t.state.status == COMPLETED  # username unknown renders empty
    t = r.on_reply(offer, "yesterday", 800.0)  # 'yes' inside a word is no match: next step
    assert texts(t) == ["Maybe later then.", "Welcome aboard "]


def test_reply_timeout_sends_timeout_text_and_ends():
    r = runner()
    offer = r.on_callback(_at_question(r), "choice:0", 700.0).state
    assert r.on_timer(offer, 700.0 + 3599).messages == []
    t = r.on_timer(offer, 700.0 + 3600)
    assert texts(t) == ["No worries."] and t.state.status == COMPLETED
    assert t.state.end_reason == "no reply before the timeout"


@pytest.mark.parametrize("on_timeout, expected", [("continue", ["Maybe later then.", "Welcome aboard "]),
                                                  ("{goto: vip}", ["Welcome aboard "])])
def test_reply_timeout_continue_or_goto(on_timeout, expected):
    r = runner(WELCOME.replace("on_timeout: end", f"on_timeout: {on_timeout}").replace('    timeout_text: "No worries."\n', ""))
    offer = r.on_callback(_at_question(r), "choice:2", 700.0).state
    t = r.on_timer(offer, 700.0 + 3600)
    assert texts(t) == expected and t.state.status == COMPLETED


def test_number_and_email_validation():
    r = runner("""
journey: q
name: Q
triggers: [{deep_link: q}]
steps:
  - {id: age, type: question, text: "Age?", validate: number, save_as: age}
  - {id: mail, type: question, text: "Email?", validate: email, save_as: email, retry_text: "A valid email please."}
  - {id: done, type: message, text: "{{ age }} / {{ email }}"}
""")
    t = r.start({}, 0.0)
    assert texts(r.on_reply(t.state, "forty", 1.0)) == ["Sorry, I didn't get that. Please answer again."]
    t = r.on_reply(t.state, "40", 1.0)
    assert texts(r.on_reply(t.state, "not-an-email", 2.0)) == ["A valid email please."]
    t = r.on_reply(t.state, "sam@example.com", 2.0)
    assert texts(t) == ["40 / sam@example.com"] and t.state.status == COMPLETED


def test_stop_cancels_and_replies_after_the_end_do_nothing():
    r = runner()
    t = r.stop(_at_question(r))
    assert t.state.status == CANCELLED and t.state.step_id is None
    assert r.on_reply(t.state, "hello", 1.0).messages == []


def test_simulation_is_driven_by_its_callbacks_alone():
    """The simulator reads and prints only through what it is given (the CLI passes the terminal)."""
    from promostack_cli.journeys.simulate import run_simulation

    lines = iter(["dunno\n", "#2\n", "\n"])
    said: list[tuple[str, str | None]] = []
    status = run_simulation(runner().spec, {"first_name": "Sam"},
                            read_line=lambda: next(lines, ""), say=lambda text, style: said.append((text, style)),
                            echo_input=True)
    texts = [t for t, _ in said]
    assert status == "completed"
    assert "bot › Hi Sam!" in texts and "you › dunno" in texts and "you › (no reply)" in texts
    assert ("── session completed: no reply before the timeout", "dim") == said[-1]

