"""A parsed journey (:class:`JourneySpec`), a problem found in a file (:class:`SpecError`) and the
canonical YAML dump. Nothing here validates: :func:`.parser.parse_text` builds specs from untrusted text."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from promostack_cli.core.clock import parse_duration
from promostack_cli.journeys.spec.rules import DEFAULTS, STEP_KEYS


@dataclass(frozen=True)
class SpecError:
    path: str
    line: int
    message: str
    column: int | None = field(default=None, compare=False)  # 1-based, where the YAML node starts (if known)

    def as_dict(self) -> dict:
        """``{file, line, column, message}`` for ``journeys validate --json`` (no column when unknown)."""
        out: dict[str, Any] = {"file": self.path, "line": self.line}
        if self.column is not None:
            out["column"] = self.column
        out["message"] = self.message
        return out

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class JourneySpec:
    slug: str
    name: str
    status: str
    re_entry: str
    inactivity_timeout: str | None  # the duration as written, e.g. "3d"
    triggers: list[dict]  # each exactly one of {"deep_link": c} | {"keyword": w} | {"event": e}
    steps: list[dict]  # normalized: only the keys the file set, in STEP_KEYS order
    source: str = field(default="", compare=False)  # the path it came from; not part of equality

    def to_dict(self) -> dict:
        """The canonical JSON-able form (see the package docstring)."""
        out: dict[str, Any] = {
            "journey": self.slug,
            "name": self.name,
            "status": self.status,
            "re_entry": self.re_entry,
        }
        if self.inactivity_timeout is not None:
            out["inactivity_timeout"] = self.inactivity_timeout
        out["triggers"] = [copy.deepcopy(dict(t)) for t in self.triggers]
        out["steps"] = [ordered_step(s) for s in self.steps]
        return out

    @classmethod
    def from_dict(cls, data: dict, source: str = "") -> JourneySpec:
        """The inverse of :meth:`to_dict`. No validation: use :func:`.parser.parse_text` for untrusted data."""
        return cls(
            slug=data["journey"],
            name=data["name"],
            status=data.get("status", DEFAULTS["status"]),
            re_entry=data.get("re_entry", DEFAULTS["re_entry"]),
            inactivity_timeout=data.get("inactivity_timeout"),
            triggers=[copy.deepcopy(dict(t)) for t in data.get("triggers", [])],
            steps=[ordered_step(s) for s in data.get("steps", [])],
            source=source,
        )

    def deep_links(self) -> list[str]:
        return [t["deep_link"] for t in self.triggers if "deep_link" in t]

    def keywords(self) -> list[str]:
        """Keywords as written; match them case-insensitively (``str.casefold``)."""
        return [t["keyword"] for t in self.triggers if "keyword" in t]

    def events(self) -> list[str]:
        return [t["event"] for t in self.triggers if "event" in t]

    def step_ids(self) -> list[str]:
        return [s["id"] for s in self.steps]

    def duration_seconds(self, text: str) -> float:
        """``"10m"`` -> 600.0 (for ``inactivity_timeout``, ``duration`` and ``timeout`` values)."""
        return parse_duration(text)


def ordered_step(step: dict) -> dict:
    """A deep copy of the step with its keys in STEP_KEYS order (unknown keys last, as they were)."""
    known = {k: copy.deepcopy(step[k]) for k in STEP_KEYS if k in step}
    extra = {k: copy.deepcopy(v) for k, v in step.items() if k not in known}
    return {**known, **extra}


def dump_yaml(spec: JourneySpec) -> str:
    """The canonical YAML of :meth:`JourneySpec.to_dict` (stable: dump → parse → dump is identical)."""
    import yaml  # only to write a journey out (export, canonical hash): listing one needs none

    return yaml.safe_dump(
        spec.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )
