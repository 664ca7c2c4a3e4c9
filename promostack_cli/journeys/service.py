"""Journeys as data: import YAML atomically (plan first), export canonically, list, show, delete, link.

``import`` validates every file before touching the database, then applies every change in one
transaction: an invalid file or a conflicting deep link leaves the database exactly as it was.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete
from sqlmodel import Session, select

from promostack_cli.core.errors import NotFoundError, ValidationError
from promostack_cli.journeys.models import Journey, JourneyTrigger
from promostack_cli.journeys.spec.model import JourneySpec, SpecError, dump_yaml


class SpecValidationError(ValidationError):
    """One or more ``file:line: message`` problems; nothing was written."""

    def __init__(self, errors: list):
        self.problems = list(errors)  # SpecError objects (``as_dict`` for JSON)
        self.errors = [str(e) for e in errors]
        n = len(self.errors)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} found in the journey files.")


@dataclass
class JourneyChange:
    slug: str
    action: str  # add | change | unchanged | remove
    source: str | None = None
    steps: dict[str, list[str]] = field(default_factory=lambda: {"added": [], "changed": [], "unchanged": [], "removed": []})
    settings_changed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"journey": self.slug, "action": self.action, "source": self.source, "steps": self.steps,
                "settings_changed": self.settings_changed}


@dataclass
class ImportPlan:
    changes: list[JourneyChange]
    specs: dict[str, JourneySpec]

    @property
    def has_changes(self) -> bool:
        return any(c.action != "unchanged" for c in self.changes)

    def as_dict(self) -> list[dict]:
        return [c.as_dict() for c in self.changes]


def content_hash(definition: dict) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def load_specs(paths: list[str]) -> list[JourneySpec]:
    """Parse and validate every file; raises SpecValidationError listing every problem."""
    try:
        from promostack_cli.journeys.spec.files import validate_paths  # the parser: imports and validation only

        specs, errors = validate_paths(paths)
    except FileNotFoundError as exc:
        raise ValidationError(f"No such file or directory: {exc.args[0]}") from None
    if errors:
        raise SpecValidationError(errors)
    if not specs:
        raise ValidationError("No journey files (*.yaml, *.yml) found in " + ", ".join(map(str, paths)) + ".")
    return specs


def _step_diff(old: list[dict], new: list[dict]) -> dict[str, list[str]]:
    old_by_id = {s["id"]: s for s in old}
    new_by_id = {s["id"]: s for s in new}
    return {
        "added": [i for i in new_by_id if i not in old_by_id],
        "changed": [i for i in new_by_id if i in old_by_id and old_by_id[i] != new_by_id[i]],
        "unchanged": [i for i in new_by_id if i in old_by_id and old_by_id[i] == new_by_id[i]],
        "removed": [i for i in old_by_id if i not in new_by_id],
    }


def plan_import(session: Session, tenant_id: int, specs: list[JourneySpec], *, prune: bool = False) -> ImportPlan:
    existing = {j.slug: j for j in session.exec(select(Journey).where(Journey.tenant_id == tenant_id))}
    changes: list[JourneyChange] = []
    for spec in specs:
        new = spec.to_dict()
        current = existing.get(spec.slug)
        if current is None:
            change = JourneyChange(spec.slug, "add", spec.source)
            change.steps["added"] = spec.step_ids()
        else:
            old = current.definition
            change = JourneyChange(spec.slug, "unchanged", spec.source, _step_diff(old.get("steps", []), new["steps"]))
            change.settings_changed = [k for k in new if k != "steps" and old.get(k) != new.get(k)]
            change.settings_changed += [k for k in old if k not in new and k != "steps"]
            if content_hash(new) != current.content_hash:
                change.action = "change"
        changes.append(change)
    if prune:
        imported = {s.slug for s in specs}
        for slug, journey in sorted(existing.items()):
            if slug not in imported:
                change = JourneyChange(slug, "remove", journey.source_path)
                change.steps["removed"] = [s["id"] for s in journey.definition.get("steps", [])]
                changes.append(change)
    plan = ImportPlan(changes, {s.slug: s for s in specs})
    _check_deep_link_conflicts(session, tenant_id, plan)
    return plan


def _check_deep_link_conflicts(session: Session, tenant_id: int, plan: ImportPlan) -> None:
    """A deep-link code may start only one active journey; journeys outside the import keep theirs."""
    touched = {c.slug for c in plan.changes}
    rows = session.exec(
        select(JourneyTrigger.value, Journey.slug)
        .join(Journey, Journey.id == JourneyTrigger.journey_id)
        .where(JourneyTrigger.tenant_id == tenant_id, JourneyTrigger.kind == "deep_link", JourneyTrigger.active)
    ).all()
    taken = {code: slug for code, slug in rows if slug not in touched}
    problems = []
    for spec in plan.specs.values():
        if spec.status != "active":
            continue
        for code in spec.deep_links():
            if code in taken:
                problems.append(SpecError(spec.source or spec.slug, 1, f"deep link '{code}' already starts active journey "
                                          f"'{taken[code]}'; give one of them another code or stop it"))
    if problems:
        raise SpecValidationError(problems)


def apply_import(session: Session, tenant_id: int, plan: ImportPlan, now: datetime) -> None:
    """Write the plan in the caller's transaction.

    Triggers of every touched journey are dropped before any is written, so a deep-link code can
    move from one journey to another within one import without tripping the unique index.
    """
    existing = {j.slug: j for j in session.exec(select(Journey).where(Journey.tenant_id == tenant_id))}
    from promostack_cli.journeys.sessions import end_for_import

    touched = [c for c in plan.changes if c.action in ("change", "remove")]
    ids = [existing[c.slug].id for c in touched]
    if ids:
        session.exec(delete(JourneyTrigger).where(JourneyTrigger.journey_id.in_(ids)))
    for change in touched:
        # live sessions stay on their step if it still exists, else end with a recorded reason
        kept = None if change.action == "remove" else set(plan.specs[change.slug].step_ids())
        end_for_import(session, existing[change.slug], kept, now)
        if change.action == "remove":
            session.delete(existing[change.slug])
    session.flush()
    for change in plan.changes:
        if change.action not in ("add", "change"):
            continue
        spec = plan.specs[change.slug]
        definition = spec.to_dict()
        journey = existing.get(spec.slug) or Journey(tenant_id=tenant_id, slug=spec.slug, created_at=now,
                                                     name=spec.name, status=spec.status, content_hash="")
        journey.name, journey.status, journey.definition = spec.name, spec.status, definition
        journey.content_hash, journey.source_path, journey.updated_at = content_hash(definition), spec.source, now
        session.add(journey)
        session.flush()
        for trigger in spec.triggers:
            (kind, value), = trigger.items()
            session.add(JourneyTrigger(tenant_id=tenant_id, journey_id=journey.id, kind=kind, value=str(value),
                                       active=spec.status == "active"))
    session.flush()


def list_journeys(session: Session, tenant_id: int) -> list[Journey]:
    return list(session.exec(select(Journey).where(Journey.tenant_id == tenant_id).order_by(Journey.slug)))


def get_journey(session: Session, tenant_id: int, slug: str) -> Journey:
    journey = session.exec(select(Journey).where(Journey.tenant_id == tenant_id, Journey.slug == slug)).first()
    if journey is None:
        raise NotFoundError(f"No journey '{slug}'. See: promostack journeys list")
    return journey


def delete_journey(session: Session, tenant_id: int, slug: str, now: datetime) -> int:
    """Delete a journey; its live sessions end as cancelled ("journey removed"). Returns how many."""
    from promostack_cli.journeys.sessions import end_for_import

    journey = get_journey(session, tenant_id, slug)
    ended = end_for_import(session, journey, None, now)
    session.delete(journey)
    return ended


def export_yaml(journey: Journey) -> str:
    return dump_yaml(JourneySpec.from_dict(journey.definition))


def write_exports(journeys: list[Journey], out_dir: Path) -> list[Path]:
    """Write one ``<slug>.yaml`` per journey; each file is replaced atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for journey in journeys:
        target = out_dir / f"{journey.slug}.yaml"
        tmp = target.with_suffix(".yaml.tmp")
        tmp.write_text(export_yaml(journey), encoding="utf-8")
        tmp.replace(target)
        written.append(target)
    return written


def deep_links(journey: Journey, bot_username: str) -> list[str]:
    spec = JourneySpec.from_dict(journey.definition)
    return [f"https://t.me/{bot_username}?start={code}" for code in spec.deep_links()]


def list_sessions(session: Session, tenant_id: int, slug: str, statuses: list[str], limit: int) -> list[dict]:
    from promostack_cli.journeys.models import JourneySession

    q = select(JourneySession).where(JourneySession.tenant_id == tenant_id, JourneySession.journey_slug == slug)
    if statuses:
        q = q.where(JourneySession.status.in_(statuses))
    rows = session.exec(q.order_by(JourneySession.id.desc()).limit(limit))
    return [{"id": r.id, "chat_id": r.chat_id, "status": r.status, "step": r.step_id, "variables": r.variables,
             "started_at": r.started_at.isoformat(), "last_activity_at": r.last_activity_at.isoformat(),
             "wake_at": r.wake_at.isoformat() if r.wake_at else None, "end_reason": r.end_reason} for r in rows]


def journey_stats(session: Session, tenant_id: int, slug: str) -> dict:
    """Totals by outcome, and per step: users who were sent its message, and sessions waiting there now.

    Counted from typed columns only: sessions' ``status`` and ``end_code`` (never the human
    ``end_reason``), and the journey's step visits (never the outbox's ``source`` text).
    """
    from sqlalchemy import func

    from promostack_cli.journeys.models import JourneySession, JourneyStepVisit
    from promostack_cli.journeys.states import BLOCKED, CANCELLED, COMPLETED, END_INACTIVE, END_REPLY_TIMEOUT, LIVE

    journey = get_journey(session, tenant_id, slug)
    js = JourneySession
    rows = session.exec(select(js.status, js.end_code, func.count()).where(js.tenant_id == tenant_id, js.journey_slug == slug)
                        .group_by(js.status, js.end_code)).all()
    count = {(status, code): n for status, code, n in rows}

    def total(*, status=None, codes=None, not_codes=()) -> int:
        return sum(n for (st, code), n in count.items() if (status is None or st == status)
                   and (codes is None or code in codes) and code not in not_codes)

    timeouts = (END_REPLY_TIMEOUT, END_INACTIVE)
    waiting = dict(session.exec(
        select(js.step_id, func.count()).where(js.tenant_id == tenant_id, js.journey_slug == slug, js.status.in_(LIVE))
        .group_by(js.step_id)).all())
    v = JourneyStepVisit
    reached = dict(session.exec(
        select(v.step_id, func.count(func.distinct(v.chat_id))).where(v.tenant_id == tenant_id, v.journey_slug == slug)
        .group_by(v.step_id)).all())
    steps = [{"step": s["id"], "type": s["type"], "reached": reached.get(s["id"], 0), "waiting_now": waiting.get(s["id"], 0)}
             for s in journey.definition.get("steps", [])]
    # a reply timeout with on_timeout: end completes the session, and inactivity cancels it: both
    # are reported as timed out, not as completed or cancelled
    return {"journey": slug, "started": total(), "completed": total(status=COMPLETED, not_codes=timeouts),
            "timed_out": total(codes=timeouts), "blocked": total(status=BLOCKED),
            "cancelled": total(status=CANCELLED, not_codes=timeouts),
            "in_progress": sum(total(status=st) for st in LIVE), "steps": steps}
