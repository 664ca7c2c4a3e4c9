"""What a post is written from: its facts, and how the figures in it are shown.

:class:`Facts` is the data a post is built from, by name (``s`` the signal, ``e`` the event,
``totals``, ``headlines``...: exactly what its template gets), with the :class:`Numbers` that show
its figures: prices at the instrument's precision, pips, signed figures, percentages, result labels.
Every writer shows a figure the same way, so a figure in a text can be told from the facts as shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

RESULT_LABELS = {"tp3": "TP3", "stop": "stopped out", "breakeven": "closed at entry after TP1",
                 "locked": "closed at TP1 after TP2", "expired": "closed at market"}


def price_decimals(pip_size: float) -> int:
    """Quote precision: one digit finer than a pip (gold 0.1 -> 2, EUR/USD 0.0001 -> 5)."""
    return max(0, int(round(-math.log10(pip_size))) + 1)


@dataclass(frozen=True)
class Numbers:
    """How figures are shown for an instrument of ``pip_size``; ``pips`` counts from ``entry`` in
    the trade's ``direction`` (a SELL gains as the price falls)."""

    pip_size: float = 0.1
    entry: float | None = None
    direction: str | None = None

    def price(self, value: float | None) -> str:
        """``2,412.35`` (gold), ``1.08345`` (EUR/USD); ``—`` for no price."""
        return f"{value:,.{price_decimals(self.pip_size)}f}" if value is not None else "—"

    def pips(self, price: float) -> float:
        sign = 1 if self.direction != "SELL" else -1
        return round(sign * (price - self.entry) / self.pip_size, 1)

    @staticmethod
    def signed(value: float | None) -> str:
        """``+36.5``, ``-73.5``, ``0.0`` (never ``+0.0``), ``—`` for none."""
        return "—" if value is None else f"{value:+,.1f}".replace("+0.0", "0.0").replace("-0.0", "0.0")

    @staticmethod
    def pct(value: float) -> str:
        return f"{value:g}"

    @staticmethod
    def result_label(signal) -> str:
        return RESULT_LABELS.get(signal.result or "", "open")

    def helpers(self) -> dict[str, Any]:
        """The names templates call them by."""
        return {"price": self.price, "pips": self.pips, "signed": self.signed, "pct": self.pct,
                "result_label": self.result_label}


@dataclass(frozen=True)
class Facts:
    """The data of one post (``values``, by the names its template uses) and how its figures show."""

    values: Mapping[str, Any]
    numbers: Numbers = field(default_factory=Numbers)

    def context(self) -> dict[str, Any]:
        """What a template renders with: the values and the number helpers."""
        return {**self.numbers.helpers(), **self.values}
