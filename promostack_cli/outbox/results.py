"""A message's parameters as sent: references to earlier outbox rows, resolved at send time.

Two kinds of reference, both by the earlier row's ``dedupe_key``:

* ``REPLY_TO_DEDUPE`` — reply to an earlier message of the same lane (lane order guarantees it is
  final; a parent that was not sent means "no reply", not an error).
* ``RESULT_OF`` — use the recorded ``result`` of an earlier *call* (any lane): every string in the
  parameters, nested ones included, may hold ``{{result.FIELD}}`` (a dotted path into the result),
  replaced by that value (HTML-escaped inside an HTML ``text``). Until the call is sent, the message
  waits in its own lane and keeps its place there (it was claimed once, so it holds the lane; see
  :class:`~promostack_cli.outbox.models.OutboxMessage`); nothing behind it in that chat overtakes it.
  If the call ended failed, cancelled or dry-run, or its result lacks the field, the message fails
  with a sentence that says so. The referenced row is older (:func:`check_reference` at enqueue),
  so waits cannot form a circle.

Filled values may be secrets (an invite link): they exist only in the parameters of the one call
and in the referenced row's ``result``; never log them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from promostack_cli.core.errors import ValidationError
from promostack_cli.outbox.models import REPLY_TO_DEDUPE, RESULT_OF, OutboxMessage, OutboxStatus
from promostack_cli.telegram import html

PLACEHOLDER_RE = re.compile(r"\{\{result\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)\}\}")
WAIT_SECONDS = 0.5           # poll interval while the referenced call is still pending or in flight


def placeholder(path: str) -> str:
    """``{{result.invite_link}}``: the text to put where a field of the referenced result goes."""
    return "{{result." + path + "}}"


@dataclass
class Prepared:
    params: dict | None = None        # the parameters to send (references resolved)
    wait_until: float | None = None   # epoch: the referenced call is not sent yet; try again then
    error: str | None = None          # the message cannot be sent: fail it with this


def check_reference(session, tenant_id: int, dedupe_key: str) -> None:
    """At enqueue: the referenced call must already exist (so it is older than the message)."""
    found = session.scalar(select(OutboxMessage.id).where(OutboxMessage.tenant_id == tenant_id,
                                                          OutboxMessage.dedupe_key == dedupe_key))
    if found is None:
        raise ValidationError(f"result_of: no outbox message with dedupe key {dedupe_key[:80]!r} to take a result from.")


def _field(result: Any, path: str) -> Any:
    value = result
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(path)
        value = value[part]
    return value


def fill(value: Any, result: Any, *, escape: bool = False) -> Any:
    """``value`` with every ``{{result.FIELD}}`` replaced from ``result`` (KeyError: a field is missing)."""
    if isinstance(value, str):
        return PLACEHOLDER_RE.sub(lambda m: (html.escape if escape else str)(str(_field(result, m.group(1)))), value)
    if isinstance(value, dict):
        return {k: fill(v, result) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, result) for v in value]
    return value


def _row(db, tenant_id: int, dedupe_key: str):
    with db.session() as session:
        return session.execute(select(OutboxMessage.id, OutboxMessage.method, OutboxMessage.status,
                                      OutboxMessage.not_before, OutboxMessage.telegram_message_id,
                                      OutboxMessage.result, OutboxMessage.last_error).where(
            OutboxMessage.tenant_id == tenant_id, OutboxMessage.dedupe_key == dedupe_key)).first()


def prepare(db, tenant_id: int, payload: dict, now: float) -> Prepared:
    """The parameters to send for ``payload`` at ``now`` (epoch), or why not (yet)."""
    from promostack_cli.core.clock import to_epoch

    params = dict(payload)
    reply_ref = params.pop(REPLY_TO_DEDUPE, None)
    result_ref = params.pop(RESULT_OF, None)
    if result_ref:
        ref = _row(db, tenant_id, result_ref)
        if ref is None:
            return Prepared(error=f"not sent: the call it takes a result from ({result_ref[:80]}) does not exist")
        if ref.status in (OutboxStatus.pending, OutboxStatus.sending):
            due = to_epoch(ref.not_before) if ref.status == OutboxStatus.pending else now
            return Prepared(wait_until=max(due, now + WAIT_SECONDS))
        if ref.status != OutboxStatus.sent:
            why = f": {ref.last_error[:200]}" if ref.last_error else ""
            return Prepared(error=f"not sent: it needs the result of outbox message {ref.id} ({ref.method}), which "
                                  f"ended {ref.status}{why}. Retry that one first, then this: "
                                  f"promostack outbox retry {ref.id}, then this message's id")
        escape = params.get("parse_mode") == "HTML"
        try:
            params = {k: fill(v, ref.result, escape=escape and k in ("text", "caption")) for k, v in params.items()}
        except KeyError as exc:
            return Prepared(error=f"not sent: the result of outbox message {ref.id} ({ref.method}) has no "
                                  f"{exc.args[0]!r}")
    if reply_ref:
        parent = _row(db, tenant_id, reply_ref)
        if parent is not None and parent.telegram_message_id:
            params["reply_parameters"] = {"message_id": parent.telegram_message_id, "allow_sending_without_reply": True}
    return Prepared(params=params)
