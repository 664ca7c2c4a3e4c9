"""Telegram texts of the forex domain, rendered from Jinja templates (HTML parse mode, autoescaped).

Built-in templates live in ``forex/templates``; a tenant's ``templates_dir`` config key names a
directory whose files of the same name (signal.j2, update.j2, briefing.j2, daily_recap.j2,
weekly_recap.j2) replace them.
"""

from __future__ import annotations

from pathlib import Path

from promostack_cli.forex.lifecycle import price_decimals

BUILTIN_DIR = Path(__file__).parent / "templates"
TEMPLATES = ("signal.j2", "update.j2", "briefing.j2", "daily_recap.j2", "weekly_recap.j2")
RESULT_LABELS = {"tp3": "TP3", "stop": "stopped out", "breakeven": "closed at entry after TP1",
                 "locked": "closed at TP1 after TP2", "expired": "closed at market"}


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
    from promostack_cli.core.templates import render as render_template

    return render_template(BUILTIN_DIR, name, templates_dir, **context)


def signal_text(signal, templates_dir: str = "") -> str:
    return render("signal.j2", templates_dir, s=signal, **helpers(signal.pip_size, signal.entry, signal.direction))


def update_text(signal, event, templates_dir: str = "") -> str:
    hours = round((event.at - signal.opened_at).total_seconds() / 3600, 1)
    return render("update.j2", templates_dir, s=signal, e=event, hours=f"{hours:g}",
                  **helpers(signal.pip_size, signal.entry, signal.direction))
