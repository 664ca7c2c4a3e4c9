"""Journey templates (promostack_cli.text.sandbox): one sandbox with the same rules and limits at
validation and at run time, so a template that validated cannot cost gigabytes or seconds later."""

from __future__ import annotations

import json
import sys

import pytest

from promostack_cli.journeys.engine import JourneyRunner
from promostack_cli.journeys.spec.model import JourneySpec
from promostack_cli.journeys.spec.parser import parse_text

HEAD = "journey: t\nname: Test\nstatus: active\ntriggers:\n  - deep_link: t\nsteps:\n"
# Validation renders with every variable set to "x", so these branches are never taken there.
HOSTILE = {
    "repeat": "{{ ('x' * 10**9) if first_name == 'never-zz' else 'Hello' }}",
    "replace": "{% if first_name == 'never-zz' %}{{ ('x' * 50000)|replace('', 'y' * 50000) }}{% endif %}Hello",
    "center": "{% if first_name == 'never-zz' %}{{ first_name|center(10**9) }}{% endif %}Hello",
    "nested lists": "{% if first_name == 'never-zz' %}{% set a = [first_name * 1000] * 100 %}{% set b = [a, a, a, a] %}"
                    "{% set c = [b, b, b, b] %}{% set d = [c, c, c, c] %}{{ d }}{% endif %}Hello",
    "block capture": "{% if first_name == 'never-zz' %}{% set s %}{% for i in range(100000) %}{{ first_name * 1000 }}"
                     "{% endfor %}{% endset %}{{ s|length }}{% endif %}Hello",
    "silent loop": "{% if first_name == 'never-zz' %}{% for a in range(100000) %}{% for b in range(100000) %}"
                   "{% endfor %}{% endfor %}{% endif %}Hello",
}


def journey(text: str) -> str:
    return HEAD + f"  - id: a\n    type: message\n    text: {json.dumps(text)}\n  - id: b\n    type: question\n" \
                  "    text: Next?\n"


def errors_of(text: str) -> list[str]:
    spec, errors = parse_text(text, "j.yaml")
    assert (spec is None) == bool(errors)
    return [str(e) for e in errors]


def runner_for(text: str) -> JourneyRunner:
    """A journey as stored, without validation (as an older release may have imported it)."""
    return JourneyRunner(JourneySpec.from_dict({"journey": "t", "name": "T", "triggers": [{"deep_link": "t"}],
                                                "steps": [{"id": "a", "type": "message", "text": text},
                                                          {"id": "b", "type": "question", "text": "Next?"}]}))


# --------------------------------------------------------------------------------------------------
# Run time: bounded in memory and time, and the message fails with a reason instead of the session


def test_a_failing_message_does_not_stop_the_session():
    runner = runner_for(HOSTILE["repeat"])
    transition = runner.start({"first_name": "never-zz"}, 0.0)
    first, question = transition.messages
    assert "repeats a value too many times" in first.error
    assert question.text == "Next?" and question.error is None
    assert transition.state.status == "awaiting_reply" and transition.state.step_id == "b"


def test_run_time_applies_the_validation_rules_to_journeys_stored_earlier():
    for text, reason in [("{{ first_name|tojson }}", "filter 'tojson' is not allowed"),
                         ("{% macro m() %}x{% endmacro %}{{ m() }}", "templates cannot define macros"),
                         ("{{ first_name.encode() }}", "method 'encode' is not allowed")]:
        first, question = runner_for(text).start({"first_name": "Sam"}, 0.0).messages
        assert reason in first.error and question.text == "Next?"


def test_the_render_tracer_restores_a_tracer_that_was_there():
    from promostack_cli.text import sandbox as templates

    seen = []

    def outer(frame, event, arg):
        seen.append(event)
        return None

    sys.settrace(outer)
    try:
        assert templates.render(templates.compile_template("Hi {{ n }}"), {"n": "Sam"}) == "Hi Sam"
        assert sys.gettrace() is outer
    finally:
        sys.settrace(None)


def test_variables_are_cut_to_what_telegram_can_show_before_rendering():
    from promostack_cli.text import sandbox as templates

    compiled = templates.compile_template("{{ n|length }}")
    assert templates.render(compiled, {"n": "x" * 100_000}) == "4096"
    assert templates.render(compiled, {"n": "x" * 4096}) == "4096"


# --------------------------------------------------------------------------------------------------
# Validation: the same limits, and one clear line per problem


def test_validation_refuses_constant_blow_ups_even_in_a_branch_the_sample_render_skips():
    errors = errors_of(journey(HOSTILE["repeat"]))
    assert errors == ["j.yaml:9: text: template repeats a value too many times"]
    errors = errors_of(journey("{% if first_name == 'zz' %}{{ 2 ** 100000 }}{% endif %}Hi"))
    assert errors == ["j.yaml:9: text: template raises a number to too large a power"]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{% macro m() %}x{% endmacro %}{{ m() }}", "templates cannot define macros"),
        ("{% call range(1) %}x{% endcall %}", "templates cannot use call blocks"),
        ("{% for x in [[1]] recursive %}{{ loop(x) }}{% endfor %}", "templates cannot use recursive for loops"),
        ("{% block b %}x{% endblock %}", "templates cannot use blocks"),
        ("{% autoescape false %}{{ first_name }}{% endautoescape %}", "templates cannot switch autoescape off"),
        ("{{ first_name|tojson }}", "filter 'tojson' is not allowed; allowed filters: abs, capitalize, center"),
        ("{{ first_name|attr('upper') }}", "filter 'attr' is not allowed"),
        ("{{ first_name|safe }}", "filter 'safe' is not allowed"),
        ("{{ first_name.encode() }}", "method 'encode' is not allowed; allowed methods: capitalize, casefold"),
        ("{{ first_name.format_map({}) }}", "method 'format_map' is not allowed"),
        ("{{ lipsum(1) }}", "undefined variable 'lipsum'"),
        ("{{ cycler(1, 2) }}", "undefined variable 'cycler'"),
    ],
)
def test_rules_are_reported_on_one_line_with_file_and_line(template, message):
    errors = errors_of(journey(template))
    assert len(errors) == 1 and errors[0].startswith("j.yaml:9: text: ") and message in errors[0], errors
    assert "\n" not in errors[0]


def test_multi_line_template_problems_name_the_template_line():
    from promostack_cli.text import sandbox as templates

    text = HEAD + "  - id: a\n    type: message\n    text: |\n      Hi\n      {{ first_name|tojson }}\n"
    assert errors_of(text) == [f"j.yaml:9: text: filter 'tojson' is not allowed (template line 2); allowed filters: "
                               f"{', '.join(templates.FILTERS)}"]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ first_name * 100001 }}", "template repeats a value too many times"),
        ("{{ first_name|center(200000) }}", "template pads a text to more than 100000 characters"),
        ("{{ first_name.rjust(200000) }}", "template pads a text to more than 100000 characters"),
        ("{{ ('x' * 1000)|replace('', first_name * 1000) }}", "template builds a text or list longer than"),
        ("{{ '%999999999s' % first_name }}", "template uses a % format width that is too large"),
        ("{{ '{:>999999999}'.format(first_name) }}", "template uses a format width that is too large"),
        ("{{ (first_name * 60000) ~ (first_name * 60000) }}", "template builds a text or list longer than"),
        ("{{ range(100000)|join(',') }}", "template builds a text or list longer than"),
        ("{% for i in range(20) %}{% set x = first_name * 99999 %}{% endfor %}x", "builds more than 1000000"),
    ],
)
def test_size_limits_are_hit_before_the_value_is_built(template, message):
    errors = errors_of(journey(template))
    assert len(errors) == 1 and message in errors[0], errors


def test_everyday_templates_still_work():
    text = ("{{ first_name|default('friend')|title }}, {{ '%s pips' % 20 }} {{ '{} of {}'.format(1, 3) }} "
            "{% for c in ['a', 'b'] %}{{ loop.index }}{{ c|upper }}{% endfor %} "
            "{{ [first_name, last_name]|join(' ') }} "
            "{{ username|truncate(5, leeway=0) }} {{ (first_name ~ '!')|replace('!', '?') }} {{ dict(a=1).get('a') }} "
            "{{ first_name.startswith('S') }} {{ 2 ** 10 }} <b>{{ first_name|e }}</b>")
    assert errors_of(journey(text)) == []
    [first, _question] = runner_for(text).start({"first_name": "sam", "last_name": "<Lee>", "username": "samuel_l"},
                                                0.0).messages
    assert first.text == ("Sam, 20 pips 1 of 3 1A2B sam &lt;Lee&gt; sa... sam? 1 False 1024 <b>sam</b>")


def test_a_busy_machine_does_not_cut_a_render_off(monkeypatch):
    """The render's time limit counts the rendering thread's CPU time. Here every look at a clock on the
    wall finds it 10 s later (the thread waited for the CPU while other jobs ran): a template that needs
    little CPU still validates and renders; one that burns CPU is still stopped."""
    import itertools
    import time

    from promostack_cli.text import sandbox as templates

    later = itertools.count(time.time(), 10.0)
    for name in ("time", "monotonic", "perf_counter"):
        monkeypatch.setattr(time, name, lambda: next(later))
    text = "{% for c in ['a', 'b', 'c'] %}{{ loop.index }}{{ c|upper }}{% endfor %} {{ first_name|title }}"
    assert errors_of(journey(text)) == []
    [first, _question] = runner_for(text).start({"first_name": "sam"}, 0.0).messages
    assert first.text == "1A2B3C Sam"
    monkeypatch.setattr(templates, "RENDER_SECONDS", 0.01)
    [stopped, _question] = runner_for(HOSTILE["silent loop"]).start({"first_name": "never-zz"}, 0.0).messages
    assert stopped.text == "" and "template takes longer than 0.01s" in stopped.error, stopped
