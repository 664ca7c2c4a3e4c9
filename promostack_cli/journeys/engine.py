"""The journey state machine, as pure logic: a state and an input in, a new state and messages out.

No database, clock or Telegram here. ``journeys simulate`` drives it in the terminal; the persisted
engine (sessions table, outbox, scheduler timers, webhook replies) wraps the same transitions, so a
journey behaves the same in both.

Step semantics (the YAML contract is in :mod:`promostack_cli.journeys.spec`):

* ``message`` sends its text and goes on at once.
* ``delay`` waits ``duration`` (state ``waiting_delay``), then sends its text, if any, and goes on.
* ``question`` sends its text (choices become buttons) and waits without a time limit. An answer
  is checked by ``validate`` (text, number, email, choice) and by ``strict``; an invalid one gets
  ``retry_text`` and the question waits again. A valid one is stored under ``save_as``.
* ``wait_for_reply`` sends its text and waits up to ``timeout``. The first branch whose ``match``
  appears in the reply as a whole word (case-insensitive) jumps to its ``goto``; no match goes on
  with the next step. A ``message`` may have a ``goto`` too (forward only). ``goto: end`` finishes. On timeout it sends ``timeout_text``, if any, then ends, continues, or jumps.
* Running past the last step completes the session.

A text is rendered by the sandbox of :mod:`promostack_cli.text` and always fits Telegram: long
variables are cut, and a text too long by itself becomes several messages (buttons on the last).
A text that cannot be built (a template error or limit at run time) becomes an :class:`Outgoing`
with ``error`` set, recorded as a failed message, and the session goes on to its next step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from promostack_cli.core.clock import parse_duration
from promostack_cli.journeys.spec.model import JourneySpec
from promostack_cli.journeys.spec.rules import BASE_VARIABLES, EVENTS
from promostack_cli.journeys.states import (ACTIVE, AWAITING_REPLY, BLOCKED, CANCELLED, COMPLETED, FINAL,  # noqa: F401
                                            END_COMPLETED, END_REPLY_TIMEOUT, END_STOPPED, END_TOO_MANY_STEPS,
                                            WAITING_DELAY)
from promostack_cli.text import sandbox
from promostack_cli.text.fit import fit_message

CHOICE_PREFIX = "choice:"  # callback_data of a choice button: "choice:<index>" (well under 64 bytes)
MAX_STEPS_PER_INPUT = 200  # a safety net; gotos need an input, so a journey cannot loop on its own
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DEFAULT_RETRY_TEXT = "Sorry, I didn't get that. Please answer again."


@dataclass(frozen=True)
class SessionState:
    step_id: str | None           # the step being waited on (or next to run); None when final
    status: str
    variables: dict[str, str] = field(default_factory=dict)
    wake_at: float | None = None  # epoch: when the delay ends or the reply times out
    end_reason: str | None = None  # for people; may be reworded
    end_code: str | None = None    # for stats: one of journeys.states.END_*

    @property
    def is_final(self) -> bool:
        return self.status in FINAL


@dataclass(frozen=True)
class Outgoing:
    step_id: str
    text: str                      # HTML (parse_mode=HTML); variables are escaped
    reply_markup: dict | None = None
    kind: str = "step"             # step | retry | timeout
    error: str | None = None       # the message could not be built: why (it is recorded as failed)


@dataclass(frozen=True)
class Transition:
    state: SessionState
    messages: list[Outgoing]


class JourneyRunner:
    """Transitions for one journey definition."""

    def __init__(self, spec: JourneySpec):
        self.spec = spec
        self.steps = spec.steps
        self.index = {s["id"]: i for i, s in enumerate(self.steps)}
        self._templates: dict[str, object] = {}  # a compiled template, or the TemplateProblem it raised
        # Every variable the journey may use renders as "" until known: a user without a username,
        # or a goto that skipped the question behind a save_as, must never break a message.
        known = set(BASE_VARIABLES) | {s["save_as"] for s in self.steps if s.get("save_as")}
        for event in spec.events():
            known |= set(EVENTS.get(event, ()))
        self.defaults = {name: "" for name in known}

    # -- inputs --------------------------------------------------------------------------------
    def start(self, variables: dict[str, str], now: float) -> Transition:
        """A user entered the journey (deep link, keyword or event)."""
        state = SessionState(step_id=self.steps[0]["id"], status=ACTIVE, variables=dict(variables))
        return self._run(state, 0, now, [])

    def on_reply(self, state: SessionState, text: str, now: float) -> Transition:
        """The user wrote (or pressed a reply-keyboard button) while the session waits for a reply."""
        if state.status != AWAITING_REPLY:
            return Transition(state, [])
        step = self._step(state.step_id)
        if step["type"] == "question":
            return self._answer_question(state, step, text.strip(), now)
        target = self._branch_target(step, text)
        if target is not None:
            return self._run(self._clear(state), self._target(target), now, [])
        return self._run(self._clear(state), self.index[step["id"]] + 1, now, [])

    def on_callback(self, state: SessionState, data: str, now: float) -> Transition:
        """An inline button was pressed: ``choice:<i>`` answers with the i-th choice."""
        if state.status != AWAITING_REPLY or not data.startswith(CHOICE_PREFIX):
            return Transition(state, [])
        step = self._step(state.step_id)
        choices = step.get("choices") or []
        try:
            choice = choices[int(data[len(CHOICE_PREFIX):])]
        except (ValueError, IndexError):
            return Transition(state, [])
        return self.on_reply(state, choice, now)

    def on_timer(self, state: SessionState, now: float) -> Transition:
        """``wake_at`` has passed: a delay ended or a reply timed out."""
        if state.wake_at is None or now < state.wake_at:
            return Transition(state, [])
        step = self._step(state.step_id)
        i = self.index[step["id"]]
        if state.status == WAITING_DELAY:
            messages = self._message(step, "text", state) if step.get("text") else []
            return self._run(self._clear(state), i + 1, now, messages)
        if state.status == AWAITING_REPLY and step["type"] == "wait_for_reply":
            messages = self._message(step, "timeout_text", state, kind="timeout") if step.get("timeout_text") else []
            action = step.get("on_timeout", "end")
            if action == "end":
                return Transition(self._final(state, COMPLETED, "no reply before the timeout", END_REPLY_TIMEOUT), messages)
            target = i + 1 if action == "continue" else self._target(action["goto"])
            return self._run(self._clear(state), target, now, messages)
        return Transition(state, [])

    def stop(self, state: SessionState, reason: str = "stopped by the user (/stop)") -> Transition:
        return Transition(self._final(state, CANCELLED, reason, END_STOPPED), [])

    # -- running steps -------------------------------------------------------------------------
    def _run(self, state: SessionState, i: int, now: float, messages: list[Outgoing]) -> Transition:
        for _ in range(MAX_STEPS_PER_INPUT):
            if i >= len(self.steps):
                return Transition(self._final(state, COMPLETED, None, END_COMPLETED), messages)
            step = self.steps[i]
            state = replace(state, step_id=step["id"])
            kind = step["type"]
            if kind == "message":
                messages.extend(self._message(step, "text", state))
                i = self._target(step["goto"]) if step.get("goto") else i + 1
            elif kind == "delay":
                return Transition(replace(state, status=WAITING_DELAY,
                                          wake_at=now + parse_duration(step["duration"])), messages)
            elif kind == "question":
                messages.extend(self._message(step, "text", state, markup=self._buttons(step)))
                return Transition(replace(state, status=AWAITING_REPLY, wake_at=None), messages)
            else:  # wait_for_reply
                messages.extend(self._message(step, "text", state))
                return Transition(replace(state, status=AWAITING_REPLY,
                                          wake_at=now + parse_duration(step["timeout"])), messages)
        return Transition(self._final(state, CANCELLED, "too many steps without an input", END_TOO_MANY_STEPS), messages)

    def _answer_question(self, state: SessionState, step: dict, answer: str, now: float) -> Transition:
        value = self._valid_answer(step, answer)
        if value is None:
            retry = self._message(step, "retry_text", state, kind="retry", markup=self._buttons(step)) \
                if step.get("retry_text") else [Outgoing(step["id"], DEFAULT_RETRY_TEXT, self._buttons(step), "retry")]
            return Transition(state, retry)
        variables = dict(state.variables)
        if step.get("save_as"):
            variables[step["save_as"]] = value
        return self._run(replace(self._clear(state), variables=variables), self.index[step["id"]] + 1, now, [])

    @staticmethod
    def _valid_answer(step: dict, answer: str) -> str | None:
        if not answer:
            return None
        choices = step.get("choices") or []
        matched = next((c for c in choices if c.casefold() == answer.casefold()), None)
        kind = step.get("validate", "text")
        if kind == "choice" or step.get("strict"):
            return matched
        if kind == "number":
            try:
                float(answer.replace(",", "."))
            except ValueError:
                return None
        if kind == "email" and not _EMAIL_RE.match(answer):
            return None
        return matched or answer

    @staticmethod
    def _branch_target(step: dict, reply: str) -> str | None:
        for branch in step.get("branches") or []:
            if re.search(rf"(?<!\w){re.escape(branch['match'])}(?!\w)", reply, re.IGNORECASE):
                return branch["goto"]
        return None

    # -- helpers ---------------------------------------------------------------------------------
    def _target(self, goto: str) -> int:
        """The index a goto jumps to; ``end`` (when no step has that id) is past the last step."""
        return self.index.get(goto, len(self.steps))

    def _step(self, step_id: str | None) -> dict:
        return self.steps[self.index[step_id]]

    @staticmethod
    def _buttons(step: dict) -> dict | None:
        choices = step.get("choices")
        if not choices:
            return None
        return {"inline_keyboard": [[{"text": c, "callback_data": f"{CHOICE_PREFIX}{i}"}] for i, c in enumerate(choices)]}

    def _message(self, step: dict, key: str, state: SessionState, *, kind: str = "step",
                 markup: dict | None = None) -> list[Outgoing]:
        """The step's text as Telegram message(s) (buttons on the last), or one failed message saying
        why it could not be built: a template error never stops the session."""
        try:
            parts = self.render(step[key], state.variables)
        except Exception as exc:  # noqa: BLE001 - recorded on the failed message
            detail = exc.message if isinstance(exc, sandbox.TemplateProblem) else f"{type(exc).__name__}: {exc}"
            return [Outgoing(step["id"], "", None, kind, error=f"{key} of step '{step['id']}' not sent: {detail}")]
        return [Outgoing(step["id"], text, markup if i == len(parts) - 1 else None, kind)
                for i, text in enumerate(parts)]

    def render(self, template: str, variables: dict[str, str]) -> list[str]:
        """The message(s) for one template (see :func:`~promostack_cli.text.fit.fit_message`); raises when it fails."""
        compiled = self._templates.get(template)
        if compiled is None:
            try:
                compiled = sandbox.compile_template(template)
            except sandbox.TemplateProblem as exc:
                compiled = exc
            self._templates[template] = compiled
        if isinstance(compiled, sandbox.TemplateProblem):
            raise compiled
        return fit_message(compiled, {**self.defaults, **variables})

    @staticmethod
    def _clear(state: SessionState) -> SessionState:
        return replace(state, status=ACTIVE, wake_at=None)

    @staticmethod
    def _final(state: SessionState, status: str, reason: str | None, code: str) -> SessionState:
        return replace(state, status=status, step_id=None, wake_at=None, end_reason=reason, end_code=code)

