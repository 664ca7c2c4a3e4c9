"""One journey file or text to a :class:`.model.JourneySpec`, or every problem in it sorted by line.

See the package docstring for the format and :mod:`.rules` for its tables. Cross-file checks
(slugs, active deep links) are in :mod:`.files`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode

from promostack_cli.journeys.spec import read
from promostack_cli.journeys.spec.loading import compose, read_file
from promostack_cli.journeys.spec.model import JourneySpec, SpecError, ordered_step
from promostack_cli.journeys.spec.read import Ctx, Fields
from promostack_cli.journeys.spec.rules import (
    DEFAULTS,
    END_TARGET,
    JOURNEY_STATUSES,
    MAX_STEPS,
    RE_ENTRY,
    SLUG_HELP,
    SLUG_RE,
    TOO_MANY_STEPS,
    TOP_KEYS,
)
from promostack_cli.journeys.spec.steps import Gotos, Template, parse_step, parse_trigger
from promostack_cli.journeys.spec.template_check import check_templates


@dataclass
class Parsed:
    """A parse's result, with the lines :func:`.files.validate_paths` reports cross-file problems at."""

    spec: JourneySpec | None
    errors: list[SpecError]
    slug_line: int = 1
    deep_link_lines: dict[str, int] = field(default_factory=dict)


def parse_text(text: str, path: str, default_slug: str | None = None) -> tuple[JourneySpec | None, list[SpecError]]:
    """Parse and validate one journey. The spec is None exactly when there are errors (sorted by line)."""
    parsed = parse(text, str(path), default_slug)
    return parsed.spec, parsed.errors


def parse_file(path: str | Path) -> tuple[JourneySpec | None, list[SpecError]]:
    """Parse one file; the slug defaults to the file name without its extension."""
    parsed = parse_path(path)
    return parsed.spec, parsed.errors


def parse_path(path: str | Path) -> Parsed:
    text, error = read_file(path)
    if error is not None:
        return Parsed(None, [error])
    return parse(text or "", str(path), Path(path).stem)


def parse(text: str, path: str, default_slug: str | None) -> Parsed:
    root, error = compose(text, path)
    if error is not None:
        return Parsed(None, [error])
    if root is None or (isinstance(root, ScalarNode) and root.tag == read.NULL_TAG):
        return Parsed(None, [SpecError(path, 1, "the file is empty; expected a journey (name, triggers, steps)")])
    if not isinstance(root, MappingNode):
        return Parsed(None, [SpecError(path, read.line(root), f"a journey file is a mapping, not {read.kind(root)}")])

    ctx = Ctx(path)
    top = read.items(ctx, root)
    read.unknown_keys(ctx, top, TOP_KEYS, "at the top level")
    result = Parsed(None, ctx.errors)
    slug = _slug(ctx, root, top, default_slug, result)

    name = None
    if "name" in top:
        name = read.text(ctx, top["name"][1], "name")
    else:
        ctx.error(root, "missing required key 'name'")
    status = read.enum(ctx, top["status"][1], "status", JOURNEY_STATUSES) if "status" in top else DEFAULTS["status"]
    re_entry = read.enum(ctx, top["re_entry"][1], "re_entry", RE_ENTRY) if "re_entry" in top else DEFAULTS["re_entry"]
    inactivity = None
    if "inactivity_timeout" in top:
        inactivity = read.duration(ctx, top["inactivity_timeout"][1], "inactivity_timeout")

    triggers = _triggers(ctx, root, top, result.deep_link_lines)
    texts: list[Template] = []
    steps = _steps(ctx, root, top, texts)
    if steps is None:  # a steps list reached through an alias escapes the scan's count
        return Parsed(None, [ctx.errors.pop()])
    check_templates(ctx, texts, triggers, steps)

    ctx.errors.sort(key=lambda e: e.line)
    if not ctx.errors:
        result.spec = JourneySpec(
            slug=slug or "",
            name=name or "",
            status=status or DEFAULTS["status"],
            re_entry=re_entry or DEFAULTS["re_entry"],
            inactivity_timeout=inactivity,
            triggers=triggers,
            steps=[ordered_step(s) for s in steps],
            source=path,
        )
    return result


def _slug(ctx: Ctx, root: Node, top: Fields, default_slug: str | None, result: Parsed) -> str | None:
    if "journey" in top:
        result.slug_line = read.line(top["journey"][1])
        return read.slug(ctx, top["journey"][1], "journey slug")
    if default_slug is None:
        ctx.error(root, "missing required key 'journey'")
    elif SLUG_RE.fullmatch(default_slug):
        return default_slug
    else:
        ctx.error(
            root,
            f"the journey slug defaults to the file name '{default_slug}', which is invalid ({SLUG_HELP}); "
            "add `journey: <slug>`",
        )
    return None


def _triggers(ctx: Ctx, root: Node, top: Fields, deep_link_lines: dict[str, int]) -> list[dict]:
    triggers: list[dict] = []
    if "triggers" not in top:
        ctx.error(root, "missing required key 'triggers' (at least one deep_link, keyword or event)")
    elif (entries := read.sequence(ctx, top["triggers"][1], "triggers")) is not None:
        if not entries:
            ctx.error(top["triggers"][1], "triggers must list at least one trigger")
        seen: dict[tuple[str, str], int] = {}
        for item in entries:
            trigger = parse_trigger(ctx, item, seen, deep_link_lines)
            if trigger is not None:
                triggers.append(trigger)
    return triggers


def _steps(ctx: Ctx, root: Node, top: Fields, texts: list[Template]) -> list[dict] | None:
    """The steps, their ids unique and every goto a step id; None (with the one error last in
    ctx.errors) for more than MAX_STEPS steps."""
    steps: list[dict] = []
    if "steps" not in top:
        ctx.error(root, "missing required key 'steps' (at least one step)")
        return steps
    entries = read.sequence(ctx, top["steps"][1], "steps")
    if entries is None:
        return steps
    if not entries:
        ctx.error(top["steps"][1], "steps must list at least one step")
    if len(entries) > MAX_STEPS:
        ctx.errors.append(SpecError(ctx.path, read.line(entries[MAX_STEPS]), TOO_MANY_STEPS))
        return None
    gotos: Gotos = []
    id_lines: dict[str, int] = {}
    for item in entries:
        step, id_node = parse_step(ctx, item, texts, gotos)
        if step is None:
            continue
        if "id" in step and id_node is not None:
            if step["id"] in id_lines:
                ctx.error(id_node, f"duplicate step id '{step['id']}' (first on line {id_lines[step['id']]})")
            else:
                id_lines[step["id"]] = read.line(id_node)
        steps.append(step)
    for target_node, target in gotos:
        if target not in id_lines and target != END_TARGET:
            ctx.error(target_node, f"goto '{target}' is not a step id{read.suggest(target, tuple(id_lines))}")
    _message_gotos_go_forward(ctx, steps, id_lines)
    return steps


def _message_gotos_go_forward(ctx: Ctx, steps: list[dict], id_lines: dict[str, int]) -> None:
    """A message's goto jumps to a later step (or end): it needs no input, so jumping back could
    loop without the user ever answering."""
    order = {s["id"]: i for i, s in enumerate(steps) if "id" in s}
    for i, step in enumerate(steps):
        target = step.get("goto") if step.get("type") == "message" else None
        if target in order and order[target] <= i:
            ctx.error(id_lines.get(step.get("id"), 1), f"message step '{step.get('id')}' has goto '{target}', "
                      "which is not after it; a message can only jump forward or to end (a loop needs a "
                      "question or wait_for_reply)")

