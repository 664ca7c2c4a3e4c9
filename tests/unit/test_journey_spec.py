"""The journey YAML format (promostack_cli.journeys.spec): parsing, line-numbered errors, canonical dump."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from promostack_cli.text import sandbox as templates
from promostack_cli.journeys.spec.files import collect_files, validate_paths
from promostack_cli.journeys.spec.model import JourneySpec, SpecError, dump_yaml
from promostack_cli.journeys.spec.parser import parse_file, parse_text
from promostack_cli.journeys.spec.rules import BASE_VARIABLES, EVENTS
from promostack_cli.journeys.spec.schema import json_schema

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "journeys"

EXAMPLE = """\
journey: welcome                 # slug [a-z0-9][a-z0-9_-]{0,63}; defaults to the file name stem
name: Welcome funnel             # required, non-empty string
status: active                   # draft | active | stopped   (default: draft)
re_entry: restart                # block | restart | allow     (default: block)
inactivity_timeout: 3d           # optional duration
triggers:                        # at least one trigger
  - deep_link: welcome           # [A-Za-z0-9_-]{1,64}
  - keyword: gold                # one word/phrase, 1-64 chars, case-insensitive
  - event: stripe_payment_successful   # one of EVENTS (below)
steps:                           # at least one step
  - id: hello                    # [a-z0-9][a-z0-9_-]{0,63}, unique in the journey
    type: message                # text required
    text: "Hi {{ first_name }}! Welcome to <b>EntryLab</b>."
  - id: pause
    type: delay                  # duration required; text optional
    duration: 10m
    text: "Here is today's free analysis."
  - id: experience
    type: question
    text: "How long have you traded?"
    choices: ["< 1 year", "1-3 years", "3+ years"]
    save_as: experience
    validate: text
    retry_text: "Please pick one of the buttons."
  - id: offer
    type: wait_for_reply         # text required; timeout duration required
    text: "Reply YES for the VIP link."
    timeout: 1h
    on_timeout: end
    timeout_text: "No worries, the offer stands."   # optional
    branches:                    # optional list of {match: str (non-empty), goto: step_id}
      - match: "yes"
        goto: vip
  - id: vip
    type: message
    text: "Welcome aboard: {{ vip_link }}"
"""

# Lines 1-6; the first step starts on line 6.
HEAD = """\
journey: t
name: Test
triggers:
  - deep_link: t
steps:
"""


def errors_of(text: str, path: str = "j.yaml", default_slug: str | None = None) -> list[str]:
    spec, errors = parse_text(text, path, default_slug)
    assert (spec is None) == bool(errors)
    assert [e.line for e in errors] == sorted(e.line for e in errors)
    return [str(e) for e in errors]


def steps(body: str) -> str:
    return HEAD + textwrap.indent(textwrap.dedent(body), "  ")


def assert_one(text: str, prefix: str, *fragments: str) -> str:
    errors = errors_of(text)
    assert len(errors) == 1, errors
    assert errors[0].startswith(prefix), errors
    for fragment in fragments:
        assert fragment in errors[0], errors
    return errors[0]


# --------------------------------------------------------------------------------------------------
# The example and the canonical form


def test_example_parses_cleanly():
    spec, errors = parse_text(EXAMPLE, "welcome.yaml")
    assert errors == []
    assert spec is not None
    assert spec.slug == "welcome" and spec.name == "Welcome funnel"
    assert (spec.status, spec.re_entry, spec.inactivity_timeout) == ("active", "restart", "3d")
    assert spec.triggers == [{"deep_link": "welcome"}, {"keyword": "gold"}, {"event": "stripe_payment_successful"}]
    assert spec.deep_links() == ["welcome"]
    assert spec.keywords() == ["gold"]
    assert spec.events() == ["stripe_payment_successful"]
    assert spec.step_ids() == ["hello", "pause", "experience", "offer", "vip"]
    assert spec.duration_seconds("10m") == 600.0
    assert spec.duration_seconds(spec.inactivity_timeout) == 3 * 86400
    assert spec.source == "welcome.yaml"
    assert spec.steps[1] == {
        "id": "pause",
        "type": "delay",
        "text": "Here is today's free analysis.",
        "duration": "10m",
    }
    assert list(spec.steps[1]) == ["id", "type", "text", "duration"]  # canonical key order
    assert spec.steps[2]["choices"] == ["< 1 year", "1-3 years", "3+ years"]
    assert spec.steps[3]["branches"] == [{"match": "yes", "goto": "vip"}]
    assert spec.steps[3]["on_timeout"] == "end"


def test_example_round_trips_byte_identically():
    spec, _ = parse_text(EXAMPLE, "welcome.yaml")
    dumped = dump_yaml(spec)
    again, errors = parse_text(dumped, "dumped.yaml")
    assert errors == []
    assert again == spec
    assert dump_yaml(again) == dumped
    assert list(spec.to_dict()) == ["journey", "name", "status", "re_entry", "inactivity_timeout", "triggers", "steps"]
    assert JourneySpec.from_dict(spec.to_dict(), source="x") == spec
    json.dumps(spec.to_dict())  # JSON-able


def test_defaults_are_explicit_but_absent_step_fields_are_not_written():
    spec, errors = parse_text(steps("- {id: a, type: question, text: Hi}\n"), "j.yaml")
    assert errors == []
    data = spec.to_dict()
    assert (data["status"], data["re_entry"]) == ("draft", "block")
    assert "inactivity_timeout" not in data
    assert data["steps"] == [{"id": "a", "type": "question", "text": "Hi"}]
    # a default the user wrote explicitly is kept
    spec, _ = parse_text(steps("- {id: a, type: question, text: Hi, strict: false, validate: text}\n"), "j.yaml")
    assert spec.to_dict()["steps"][0] == {"id": "a", "type": "question", "text": "Hi", "strict": False, "validate": "text"}


def test_round_trip_of_awkward_strings():
    data = {
        "journey": "tricky",
        "name": "Ünïcödé 🚀 «funnel» — \"quotes\" and 'apostrophes': #not-a-comment",
        "status": "stopped",
        "re_entry": "allow",
        "triggers": [{"deep_link": "123"}, {"keyword": "Ouí  señor"}, {"keyword": "yes"}, {"keyword": "007"}],
        "steps": [
            {
                "id": "q",
                "type": "question",
                "text": "Line one {{ first_name }}\n  indented line two\n\nparagraph — ✓ 'single' \"double\"\n",
                "choices": ["yes", "no", "on", "off", "1-3 years", "3", "1.5", "null", "~", "true", "- dash", "é"],
                "strict": True,
                "save_as": "answer",
                "validate": "choice",
                "retry_text": "  leading and trailing spaces  ",
            },
            {
                "id": "w",
                "type": "wait_for_reply",
                "text": "x" * 150 + " " + "word " * 40,
                "timeout": "1.5h",
                "on_timeout": {"goto": "q"},
                "timeout_text": "Tab\there, CR\r and a backslash \\ {{ answer }}",
                "branches": [{"match": "no", "goto": "q"}, {"match": "Y", "goto": "w"}, {"match": "1e3", "goto": "q"}],
            },
        ],
    }
    spec = JourneySpec.from_dict(data)
    dumped = dump_yaml(spec)
    parsed, errors = parse_text(dumped, "tricky.yaml")
    assert errors == []
    assert parsed == spec
    assert parsed.to_dict() == data
    assert dump_yaml(parsed) == dumped
    assert "🚀" in dumped  # allow_unicode


def test_text_fields_take_scalars_as_written():
    text = steps(
        """\
        - id: q
          type: question
          text: Pick
          choices: [yes, 1, 2.50]
        - id: w
          type: wait_for_reply
          text: Reply
          timeout: 1h
          branches:
            - {match: yes, goto: q}
        """
    )
    spec, errors = parse_text(text, "j.yaml")
    assert errors == []
    assert spec.steps[0]["choices"] == ["yes", "1", "2.50"]
    assert spec.steps[1]["branches"] == [{"match": "yes", "goto": "q"}]


def test_examples_directory_is_valid():
    specs, errors = validate_paths([EXAMPLES])
    assert errors == []
    assert {s.slug for s in specs} >= {"welcome", "vip-welcome"}
    for spec in specs:
        again, errs = parse_text(dump_yaml(spec), "x.yaml")
        assert errs == [] and again == spec and dump_yaml(again) == dump_yaml(spec)


# --------------------------------------------------------------------------------------------------
# One test per error class


def test_yaml_syntax_error_reports_the_problem_line():
    text = "journey: t\nname: Test\nsteps:\n  - id: a\n    type: message\n   text: bad indent\n"
    assert_one(text, "j.yaml:6: ", "invalid YAML")
    assert_one("name: [unclosed\n", "j.yaml:2: ", "invalid YAML")
    assert_one("name: a\n---\nname: b\n", "j.yaml:2: ", "expected a single document")


def test_empty_and_non_mapping_files():
    assert_one("", "j.yaml:1: ", "empty")
    assert_one("# only a comment\n", "j.yaml:1: ", "empty")
    assert_one("\n- a\n- b\n", "j.yaml:2: ", "mapping")


def test_unknown_step_type():
    assert_one(
        steps("- id: a\n  type: mesage\n  text: Hi\n"),
        "j.yaml:7: ",
        "unknown step type 'mesage'",
        "did you mean 'message'?",
    )


def test_duplicate_step_id_reports_the_second():
    text = steps(
        """\
        - id: a
          type: message
          text: one
        - id: a
          type: message
          text: two
        """
    )
    assert_one(text, "j.yaml:9: ", "duplicate step id 'a'", "first on line 6")


def test_goto_to_missing_step():
    text = steps(
        """\
        - id: offer
          type: wait_for_reply
          text: Reply YES
          timeout: 1h
          on_timeout: {goto: nowhere}
          branches:
            - match: "yes"
              goto: vpi
        - id: vip
          type: message
          text: Welcome
        """
    )
    errors = errors_of(text)
    assert errors == [
        "j.yaml:10: goto 'nowhere' is not a step id",
        "j.yaml:13: goto 'vpi' is not a step id (did you mean 'vip'?)",
    ]


def test_bad_deep_link_code():
    text = HEAD.replace("deep_link: t", "deep_link: welcome link") + "  - {id: a, type: message, text: Hi}\n"
    assert_one(text, "j.yaml:4: ", "deep_link code 'welcome link' is invalid")
    text = HEAD.replace("deep_link: t", "deep_link: " + "x" * 65) + "  - {id: a, type: message, text: Hi}\n"
    assert_one(text, "j.yaml:4: ", "deep_link code")


def test_undefined_template_variable_reports_the_line_of_that_text():
    text = steps(
        """\
        - id: a
          type: message
          text: Hi {{ first_name }}
        - id: b
          type: message
          text: |
            Dear {{ frist_name }},
            welcome.
        """
    )
    assert_one(text, "j.yaml:11: ", "undefined variable 'frist_name'", "did you mean 'first_name'?")


def test_save_as_variables_are_available_to_every_text():
    text = steps(
        """\
        - id: a
          type: message
          text: "{{ experience }} {{ username }} {{ last_name }}"
        - id: q
          type: question
          text: How long?
          save_as: experience
        """
    )
    assert errors_of(text) == []


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ first_name['__class__'] }}",
        "{{ first_name|attr('__class__') }}",
        "{% set n = '__cla' ~ 'ss__' %}{{ first_name[n] }}",  # only the trial render can see this
    ],
)
def test_jinja_sandbox_escape_attempt(template):
    text = steps(f"- id: a\n  type: message\n  text: {json.dumps(template)}\n")
    assert_one(text, "j.yaml:8: ", "text: template reaches Python internals")


def test_jinja_syntax_error():
    text = steps("- id: a\n  type: message\n  text: 'Hi {{ first_name }'\n")
    assert_one(text, "j.yaml:8: ", "template syntax error")
    text = steps("- id: a\n  type: message\n  text: |\n    line\n    {% if x %}\n")
    assert_one(text, "j.yaml:8: ", "template syntax error (template line")


@pytest.mark.parametrize(
    "template",
    [
        "{% include 'footer.html' %}",
        "{% import 'macros.html' as m %}",
        "{% from 'macros.html' import button %}",
        "{% extends 'base.html' %}",
    ],
)
def test_templates_cannot_include_other_files(template):
    text = steps(f"- id: a\n  type: message\n  text: \"{template}\"\n")
    assert_one(text, "j.yaml:8: ", "templates cannot include other files")


def test_template_that_fails_to_render_or_is_too_long():
    assert_one(
        steps("- id: a\n  type: message\n  text: '{{ first_name.nope }}'\n"),
        "j.yaml:8: ",
        "fails to render with sample values",
    )
    long = "{% for c in 'abcdefghij' %}" + "y" * 410 + "{% endfor %}"
    assert_one(steps(f"- id: a\n  type: message\n  text: \"{long}\"\n"), "j.yaml:8: ", "longer than 4096")
    assert errors_of(steps(f"- id: a\n  type: message\n  text: \"{'y' * 4096}\"\n")) == []
    assert_one(steps("- id: a\n  type: message\n  text: \"{{ 'x' * 1000000000 }}\"\n"), "j.yaml:8: ", "too many times")


def test_slow_template_render_is_cut_off(monkeypatch):
    monkeypatch.setattr(templates, "RENDER_SECONDS", 0.01)
    slow = "{% for a in range(2000) %}{% for b in range(2000) %}{% endfor %}{% endfor %}"
    assert_one(steps(f"- id: a\n  type: message\n  text: \"{slow}\"\n"), "j.yaml:8: ", "longer than 0.01s")


def test_unknown_keys_with_did_you_mean():
    text = HEAD.replace("name: Test", "name: Test\nstatuss: active") + "  - {id: a, type: message, txt: Hi}\n"
    errors = errors_of(text)
    assert errors[0] == "j.yaml:3: unknown key 'statuss' at the top level (did you mean 'status'?)"
    assert "j.yaml:7: unknown step key 'txt' (did you mean 'text'?)" in errors
    assert "j.yaml:7: message step is missing required key 'text'" in errors
    assert_one(
        HEAD.replace("deep_link: t", "deeplink: t") + "  - {id: a, type: message, text: Hi}\n",
        "j.yaml:4: ",
        "unknown key 'deeplink' in a trigger (did you mean 'deep_link'?)",
    )


def test_key_not_allowed_for_the_step_type():
    text = steps("- id: a\n  type: message\n  text: Hi\n  duration: 10m\n")
    assert_one(text, "j.yaml:9: ", "'duration' is not allowed in a message step", "allowed: id, type, text")


def test_missing_required_fields():
    assert_one(steps("- id: a\n  type: delay\n"), "j.yaml:6: ", "delay step is missing required key 'duration'")
    assert_one(steps("- id: a\n  type: wait_for_reply\n  text: Hi\n"), "j.yaml:6: ", "missing required key 'timeout'")
    assert_one(steps("- type: message\n  text: Hi\n"), "j.yaml:6: ", "missing required key 'id'")
    assert_one(steps("- id: a\n  text: Hi\n"), "j.yaml:6: ", "missing required key 'type'")
    assert_one(HEAD.replace("name: Test\n", "") + "  - {id: a, type: message, text: Hi}\n", "j.yaml:1: ", "'name'")
    assert_one("journey: t\nname: T\nsteps:\n  - {id: a, type: message, text: Hi}\n", "j.yaml:1: ", "'triggers'")
    assert_one(HEAD + "  []\n".replace("  []", "") , "j.yaml:5: ", "steps must be a list")
    assert_one(HEAD.rstrip("\n") + " []\n", "j.yaml:5: ", "at least one step")
    assert_one(steps("- id: a\n  type: message\n  text: '   '\n"), "j.yaml:8: ", "text must not be empty")


@pytest.mark.parametrize(
    "duration, message",
    [
        ("10 minutes", "'10 minutes' is not a duration"),
        ("5ms", "milliseconds"),
        ("0m", "greater than zero"),
        ("0.0s", "greater than zero"),
        ("10", "no unit"),
        ("-5m", "is not a duration"),
        ("1 0m", "is not a duration"),
    ],
)
def test_bad_duration(duration, message):
    text = steps(f"- id: a\n  type: delay\n  duration: {duration}\n")
    assert_one(text, "j.yaml:8: duration: ", message)


def test_good_durations():
    for duration in ("30s", "10m", "1.5h", "3d", "10 m"):
        spec, errors = parse_text(steps(f"- id: a\n  type: delay\n  duration: {duration}\n"), "j.yaml")
        assert errors == [], duration
    assert_one(
        HEAD.replace("name: Test", "name: Test\ninactivity_timeout: 3 days") + "  - {id: a, type: message, text: Hi}\n",
        "j.yaml:3: inactivity_timeout: ",
        "not a duration",
    )


def test_strict_without_choices():
    text = steps("- id: a\n  type: question\n  text: Pick\n  strict: true\n")
    assert_one(text, "j.yaml:9: ", "strict: true needs choices")
    text = steps("- id: a\n  type: question\n  text: Pick\n  validate: choice\n")
    assert_one(text, "j.yaml:9: ", "validate: choice needs choices")
    text = steps("- id: a\n  type: question\n  text: Pick\n  strict: 'yes'\n  choices: [a]\n")
    assert_one(text, "j.yaml:9: ", "strict must be true or false")


def test_bad_choices():
    text = steps(
        """\
        - id: a
          type: question
          text: Pick
          choices:
            - fine
            - ""
            - FINE
            - "ééééééééééééééééééééééééééééééééé"
        """
    )
    errors = errors_of(text)
    assert errors == [
        "j.yaml:11: a choice must not be empty",
        "j.yaml:12: duplicate choice 'FINE' (first on line 10)",
        "j.yaml:13: choice 'ééééééééééééééééééééééééééééééééé' is 66 bytes of UTF-8; at most 64",
    ]
    many = "[" + ", ".join(f"c{i}" for i in range(13)) + "]"
    assert_one(steps(f"- id: a\n  type: question\n  text: Pick\n  choices: {many}\n"), "j.yaml:9: ", "1 to 12")


def test_duplicate_yaml_key():
    text = steps("- id: a\n  type: message\n  text: one\n  text: two\n")
    assert_one(text, "j.yaml:9: ", "duplicate key 'text' (first on line 8)")


def test_bad_enum_values_suggest():
    text = HEAD.replace("name: Test", "name: Test\nstatus: Active\nre_entry: never") + "  - {id: a, type: message, text: Hi}\n"
    assert errors_of(text) == [
        "j.yaml:3: status 'Active' is not one of draft, active, stopped (did you mean 'active'?)",
        "j.yaml:4: re_entry 'never' is not one of block, restart, allow",
    ]


def test_event_variables_allowed_only_with_that_event_trigger():
    body = "  - {id: a, type: message, text: 'Your link: {{ vip_link }} ({{ plan }})'}\n"
    # a deep-link journey has neither variable
    errors = errors_of(HEAD + body)
    assert errors == [
        "j.yaml:6: text: variable 'plan' is only available in journeys with an "
        "'stripe_payment_failed' or 'stripe_payment_successful' or 'stripe_sub_cancelled' event trigger",
        "j.yaml:6: text: variable 'vip_link' is only available in journeys with an "
        "'stripe_payment_successful' event trigger",
    ]
    # the cancellation event provides plan but not vip_link
    errors = errors_of(HEAD.replace("deep_link: t", "event: stripe_sub_cancelled") + body)
    assert len(errors) == 1 and "'vip_link' is only available" in errors[0]
    # the payment event provides both
    assert errors_of(HEAD.replace("deep_link: t", "event: stripe_payment_successful") + body) == []
    assert EVENTS["stripe_payment_successful"] == {"vip_link", "plan"}
    assert BASE_VARIABLES == {"first_name", "last_name", "username", "tenant_name"}


def test_bad_triggers():
    text = (
        "journey: t\nname: T\ntriggers:\n"
        "  - {deep_link: a, keyword: b}\n"
        "  - event: stripe_paymnet_successful\n"
        "  - keyword: Gold\n"
        "  - keyword: gold\n"
        "  - just-a-string\n"
        "steps:\n  - {id: a, type: message, text: Hi}\n"
    )
    errors = errors_of(text)
    assert errors[0].startswith("j.yaml:4: a trigger has exactly one key")
    assert errors[1].startswith("j.yaml:5: unknown event 'stripe_paymnet_successful'")
    assert "did you mean 'stripe_payment_successful'?" in errors[1]
    assert errors[2].startswith("j.yaml:7: duplicate trigger keyword: gold")
    assert errors[3].startswith("j.yaml:8: a trigger is one of")
    assert_one("journey: t\nname: T\ntriggers: []\nsteps:\n  - {id: a, type: message, text: Hi}\n", "j.yaml:3: ", "at least one")


def test_multiple_errors_in_one_file_are_all_reported_in_line_order():
    text = """\
journey: Bad Slug
name: ""
status: live
triggers:
  - deep_link: "no spaces"
steps:
  - id: hello
    type: message
    text: "{{ nobody }}"
    duration: 5m
  - id: hello
    type: delay
    duration: 5ms
  - id: w
    type: wait_for_reply
    text: Reply
    timeout: 1h
    on_timeout: {goto: missing}
"""
    spec, errors = parse_text(text, "bad.yaml")
    assert spec is None
    assert [e.line for e in errors] == [1, 2, 3, 5, 9, 10, 11, 13, 18]
    assert all(isinstance(e, SpecError) and e.path == "bad.yaml" for e in errors)
    rendered = "\n".join(str(e) for e in errors)
    for fragment in (
        "bad.yaml:1: journey slug 'Bad Slug' is invalid",
        "bad.yaml:2: name must not be empty",
        "bad.yaml:3: status 'live'",
        "bad.yaml:5: deep_link code 'no spaces'",
        "bad.yaml:9: text: undefined variable 'nobody'",
        "bad.yaml:10: 'duration' is not allowed in a message step",
        "bad.yaml:11: duplicate step id 'hello'",
        "bad.yaml:13: duration: '5ms' uses milliseconds",
        "bad.yaml:18: goto 'missing' is not a step id",
    ):
        assert fragment in rendered, rendered


# --------------------------------------------------------------------------------------------------
# Files


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def journey(slug: str | None, code: str, status: str = "active") -> str:
    head = f"journey: {slug}\n" if slug else ""
    return f"{head}name: J\nstatus: {status}\ntriggers:\n  - deep_link: {code}\nsteps:\n  - {{id: a, type: message, text: Hi}}\n"


def test_default_slug_from_file_name(tmp_path):
    spec, errors = parse_file(write(tmp_path / "vip-offer.yaml", journey(None, "vip")))
    assert errors == [] and spec.slug == "vip-offer"
    assert spec.source == str(tmp_path / "vip-offer.yaml")
    spec, errors = parse_file(write(tmp_path / "other.yml", journey("explicit", "vip")))
    assert errors == [] and spec.slug == "explicit"
    path = write(tmp_path / "Welcome Funnel.yaml", journey(None, "x"))
    spec, errors = parse_file(path)
    assert spec is None and [str(e) for e in errors] == [
        f"{path}:1: the journey slug defaults to the file name 'Welcome Funnel', which is invalid "
        "(use lowercase letters, digits, '_' and '-', starting with a letter or digit (at most 64)); "
        "add `journey: <slug>`"
    ]
    assert_one(journey(None, "x"), "j.yaml:1: ", "missing required key 'journey'")


def test_unreadable_file_is_an_error_on_line_1(tmp_path):
    spec, errors = parse_file(tmp_path / "missing.yaml")
    assert spec is None and len(errors) == 1
    assert str(errors[0]).startswith(f"{tmp_path / 'missing.yaml'}:1: cannot read the file")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    spec, errors = parse_file(bad)
    assert spec is None and "not UTF-8" in str(errors[0]) and errors[0].line == 1


def test_collect_files(tmp_path):
    b = write(tmp_path / "d" / "b.yaml", "")
    a = write(tmp_path / "d" / "sub" / "a.yml", "")
    write(tmp_path / "d" / "notes.txt", "")
    single = write(tmp_path / "single.yaml", "")
    assert collect_files([single, tmp_path / "d", str(b)]) == [single, b, a]
    with pytest.raises(FileNotFoundError, match="nope"):
        collect_files([tmp_path / "nope"])
    with pytest.raises(FileNotFoundError):
        validate_paths([tmp_path / "nope"])


def test_cross_file_duplicate_slug(tmp_path):
    first = write(tmp_path / "a.yaml", journey("welcome", "one"))
    second = write(tmp_path / "b.yaml", journey("welcome", "two"))
    specs, errors = validate_paths([tmp_path])
    assert [str(e) for e in errors] == [f"{second}:1: journey 'welcome' is already defined in {first}"]
    assert [s.source for s in specs] == [str(first)]


def test_cross_file_duplicate_active_deep_link(tmp_path):
    first = write(tmp_path / "a.yaml", journey("a", "welcome"))
    write(tmp_path / "b.yaml", journey("b", "welcome", status="draft"))  # not active: fine
    third = write(tmp_path / "c.yaml", "# comment\n" + journey("c", "welcome"))
    specs, errors = validate_paths([tmp_path])
    assert [str(e) for e in errors] == [
        f"{third}:6: deep_link 'welcome' is already used by active journey 'a' ({first})"
    ]
    assert sorted(s.slug for s in specs) == ["a", "b"]


def test_validate_paths_orders_errors_by_file_then_line(tmp_path):
    write(tmp_path / "a.yaml", "name: [\n")
    write(tmp_path / "b.yaml", journey("b", "x").replace("type: message", "type: nope"))
    specs, errors = validate_paths([tmp_path])
    assert specs == []
    assert [(Path(e.path).name, e.line) for e in errors] == [("a.yaml", 2), ("b.yaml", 7)]


# --------------------------------------------------------------------------------------------------
# JSON Schema


def test_json_schema_shape():
    schema = json_schema()
    json.dumps(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert set(schema["properties"]) == {"journey", "name", "status", "re_entry", "inactivity_timeout", "triggers", "steps"}
    assert set(schema["required"]) == {"name", "triggers", "steps"}
    assert schema["properties"]["status"]["enum"] == ["draft", "active", "stopped"]
    defs = schema["$defs"]
    step_refs = [ref["$ref"] for ref in defs["step"]["oneOf"]]
    assert len(step_refs) == 4
    for step_type in ("message", "delay", "question", "wait_for_reply"):
        step = defs[f"{step_type}_step"]
        assert f"#/$defs/{step_type}_step" in step_refs
        assert step["properties"]["type"] == {"const": step_type}
        assert step["additionalProperties"] is False
        assert {"id", "type"} <= set(step["required"])
    assert set(defs["wait_for_reply_step"]["required"]) == {"id", "type", "text", "timeout"}
    assert "duration" not in defs["message_step"]["properties"]
    assert defs["trigger"]["oneOf"][0]["properties"]["deep_link"]["pattern"] == "^[A-Za-z0-9_-]{1,64}$"


def test_json_schema_patterns_agree_with_the_parser():
    import re

    defs = json_schema()["$defs"]
    duration = re.compile(defs["duration"]["pattern"])
    for good in ("30s", "10m", "1.5h", "3d", "0.5s", "10 m"):
        assert duration.search(good), good
    for bad in ("0m", "0.0s", "5ms", "10", "10 minutes", "-1m"):
        assert not duration.search(bad), bad
    slug = re.compile(defs["slug"]["pattern"])
    assert slug.search("welcome-2_b") and not slug.search("Welcome") and not slug.search("-a")


def test_a_text_telegram_would_refuse_as_html_is_a_validation_error_naming_the_words():
    """A literal '<' or '&' would fail every send of the step at the tick; validate says so first."""
    bad = steps("""\
        - id: hello
          type: message
          text: "Hi {{ first_name }}, gold < 2650 & rising"
        """)
    assert_one(bad, "j.yaml:8: text: Telegram would refuse this HTML: '<' near 'Hi x, gold < 2650 & rising' "
               "does not start a tag; write it as &lt;.")
    assert_one(steps("""\
        - id: hello
          type: message
          text: "<b>Gold</b> {{ first_name }} <i>rising"
        """), "j.yaml:8: text: Telegram would refuse this HTML: <i>", "is never closed")
    # escaped as Telegram wants, and a variable holding '<' (autoescaped at run time): valid
    assert errors_of(steps("""\
        - id: hello
          type: message
          text: "Hi {{ first_name }}, gold &lt; 2650 &amp; <b>rising</b> &#9650;"
        """)) == []
