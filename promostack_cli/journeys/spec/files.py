"""Several journey files at once: which files a path names, and the checks between journeys
(a slug used by two files, a deep-link code used by two *active* journeys)."""

from __future__ import annotations

from pathlib import Path

from promostack_cli.journeys.spec.model import JourneySpec, SpecError
from promostack_cli.journeys.spec.parser import parse_path


def collect_files(paths: list[str | Path]) -> list[Path]:
    """Files as given, directories as their ``*.yaml``/``*.yml`` files (recursive, sorted).
    A path given twice is listed once. Raises FileNotFoundError for a path that does not exist."""
    out: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(str(raw))
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            found = [path]
        for file in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                out.append(file)
    return out


def validate_paths(paths: list[str | Path]) -> tuple[list[JourneySpec], list[SpecError]]:
    """Parse every file (see :func:`collect_files`) and check them against each other.

    Returns the journeys that are valid on their own and against the others, and every error,
    ordered by file (in collect_files order) and then by line. Raises FileNotFoundError like
    :func:`collect_files`."""
    files = collect_files(paths)
    parsed = [parse_path(f) for f in files]
    extra: list[list[SpecError]] = [[] for _ in files]
    slugs: dict[str, str] = {}
    active_links: dict[str, tuple[str, str]] = {}
    for i, item in enumerate(parsed):
        spec = item.spec
        if spec is None:
            continue
        if spec.slug in slugs:
            extra[i].append(
                SpecError(spec.source, item.slug_line, f"journey '{spec.slug}' is already defined in {slugs[spec.slug]}")
            )
        else:
            slugs[spec.slug] = spec.source
        if spec.status == "active":
            for code in spec.deep_links():
                if code in active_links:
                    other_slug, other_path = active_links[code]
                    extra[i].append(
                        SpecError(
                            spec.source,
                            item.deep_link_lines.get(code, 1),
                            f"deep_link '{code}' is already used by active journey '{other_slug}' ({other_path})",
                        )
                    )
                else:
                    active_links[code] = (spec.slug, spec.source)
    specs: list[JourneySpec] = []
    errors: list[SpecError] = []
    for item, more in zip(parsed, extra):
        errors.extend(sorted(item.errors + more, key=lambda e: e.line))
        if item.spec is not None and not more:
            specs.append(item.spec)
    return specs, errors
