"""The forex domain's texts: their kinds, built-in templates and facts (written by :mod:`promostack_cli.text`).

Built-in templates live in ``forex/templates``; a tenant's ``templates_dir`` config key names a
directory whose files of the same name (signal.j2, update.j2, briefing.j2, daily_recap.j2,
weekly_recap.j2) replace them.
"""

from __future__ import annotations

from pathlib import Path

from promostack_cli.text.facts import Facts, Numbers
from promostack_cli.text.writer import Catalog, Writer, writer_for

BUILTIN_DIR = Path(__file__).parent / "templates"
TEXTS = Catalog(BUILTIN_DIR, {"signal": "signal.j2", "update": "update.j2", "briefing": "briefing.j2",
                              "daily_recap": "daily_recap.j2", "weekly_recap": "weekly_recap.j2"})
TEMPLATES = TEXTS.names


def writer(runtime, cfg) -> Writer:
    """The writer of the tenant's forex posts (its ``templates_dir`` overriding the built-in ones)."""
    return writer_for(runtime, TEXTS, cfg.templates_dir)


def signal_facts(signal) -> Facts:
    return Facts({"s": signal}, Numbers(signal.pip_size, signal.entry, signal.direction))


def update_facts(signal, event) -> Facts:
    """``signal`` as it stands after ``event``; ``hours`` since it opened."""
    hours = round((event.at - signal.opened_at).total_seconds() / 3600, 1)
    return Facts({"s": signal, "e": event, "hours": f"{hours:g}"}, Numbers(signal.pip_size, signal.entry, signal.direction))


def check_templates(directory: Path) -> list[str]:
    """The template files in ``directory`` that replace built-in ones, each compiled: a
    ValidationError names the first broken one with its line and column."""
    from promostack_cli.text.templates import check_overrides

    return check_overrides(BUILTIN_DIR, directory, TEMPLATES)
