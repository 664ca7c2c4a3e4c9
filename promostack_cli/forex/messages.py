"""Telegram texts of the forex domain, rendered from Jinja templates (HTML parse mode, autoescaped).

Built-in templates live in ``forex/templates``; a tenant's ``templates_dir`` config key names a
directory whose files of the same name (signal.j2, update.j2, briefing.j2, daily_recap.j2,
weekly_recap.j2) replace them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from promostack_cli.core.errors import ValidationError
from promostack_cli.forex.lifecycle import price_decimals

BUILTIN_DIR = Path(__file__).parent / "templates"
TEMPLATES = ("signal.j2", "update.j2", "briefing.j2", "daily_recap.j2", "weekly_recap.j2")
RESULT_LABELS = {"tp3": "TP3", "stop": "stopped out", "breakeven": "closed at entry after TP1",
                 "locked": "closed at TP1 after TP2", "expired": "closed at market"}


@lru_cache(maxsize=16)
def _environment(templates_dir: str):
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

    loaders = []
    if templates_dir:
        if not Path(templates_dir).is_dir():
            raise ValidationError(f"templates_dir {templates_dir} is not a directory.")
        loaders.append(FileSystemLoader(templates_dir))
    loaders.append(FileSystemLoader(str(BUILTIN_DIR)))
    return Environment(loader=ChoiceLoader(loaders), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=False, keep_trailing_newline=False)


def helpers(pip_size: float, entry: float | None = None, direction: str | None = None) -> dict:
    decimals = price_decimals(pip_size)
    sign = 1 if direction != "SELL" else -1

    def pips(price: float) -> float:
        return round(sign * (price - entry) / pip_size, 1)

    return {
        "price": lambda v: f"{v:,.{decimals}f}" if v is not None else "—",
        "pips": pips,
        "signed": lambda v: "—" if v is None else f"{v:+,.1f}".replace("+0.0", "0.0").replace("-0.0", "0.0"),
        "pct": lambda v: f"{v:g}",
        "result_label": lambda s: RESULT_LABELS.get(s.result or "", "open"),
    }


def render(name: str, templates_dir: str = "", **context) -> str:
    from jinja2 import TemplateError

    env = _environment(templates_dir or "")
    try:
        text = env.get_template(name).render(**context)
    except TemplateError as exc:
        raise ValidationError(f"Template {name} failed: {exc}") from None
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def signal_text(signal, templates_dir: str = "") -> str:
    return render("signal.j2", templates_dir, s=signal, **helpers(signal.pip_size, signal.entry, signal.direction))


def update_text(signal, event, templates_dir: str = "") -> str:
    hours = round((event.at - signal.opened_at).total_seconds() / 3600, 1)
    return render("update.j2", templates_dir, s=signal, e=event, hours=f"{hours:g}",
                  **helpers(signal.pip_size, signal.entry, signal.direction))
