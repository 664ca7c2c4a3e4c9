"""The strategy interface.

A strategy turns closed candles into zero or one :class:`SignalIntent`. It declares its ``name``,
``description``, the ``timeframes`` it needs, the ``signal_timeframes`` it can be checked on, and
its ``parameters``. Two ways to write one:

* implement :meth:`Strategy.generate` only: it receives every closed candle up to now, per timeframe;
* or, for fast backtests, implement :meth:`Strategy.prepare` (vectorised, causal indicators over the
  whole history) and :meth:`Strategy.signal_at` (the decision at one bar). ``generate`` then is
  ``signal_at(prepare(frames), last bar)``, so live checks and backtests run the same code.

"Causal" means a value at bar *i* depends only on bars up to *i*, so the decision at *i* is the same
whether the history stops at *i* or goes on (the backtest benchmark checks this trade for trade).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from promostack_cli.core.errors import OperationalError, ValidationError


class StrategyError(OperationalError):
    """A strategy failed (import, construction or at run time); the message starts with its name."""

    def __init__(self, strategy: str, problem: str):
        self.strategy = strategy
        super().__init__(f"Strategy '{strategy}' {problem}")


BUY, SELL = "BUY", "SELL"


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    help: str = ""
    min: float | None = None
    max: float | None = None

    def coerce(self, value: Any) -> Any:
        kind = type(self.default)
        try:
            if kind is bool:
                if isinstance(value, str):
                    if value.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                        raise ValueError
                    value = value.lower() in ("true", "1", "yes", "on")
                return bool(value)
            value = kind(value)
        except (TypeError, ValueError):
            kinds = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}
            raise ValidationError(f"{self.name} must be {kinds.get(kind, kind.__name__)}, not '{value}'.") from None
        if self.min is not None and value < self.min or self.max is not None and value > self.max:
            raise ValidationError(f"{self.name} must be between {self.min} and {self.max}, not {value}.")
        return value


@dataclass(frozen=True)
class TakeProfit:
    price: float
    close_percent: float


@dataclass(frozen=True)
class SignalIntent:
    direction: str  # BUY | SELL
    entry: float
    stop: float
    take_profits: tuple[TakeProfit, ...]
    indicators: dict[str, float] = field(default_factory=dict)
    reason: str = ""

    def check(self, strategy: str) -> "SignalIntent":
        """Reject an intent whose levels are on the wrong side or whose percentages don't add up."""
        sign = 1 if self.direction == BUY else -1 if self.direction == SELL else 0
        problem = None
        numbers = [self.entry, self.stop, *(x for tp in self.take_profits for x in (tp.price, tp.close_percent))]
        if not sign:
            problem = f"direction '{self.direction}' is neither BUY nor SELL"
        elif not all(isinstance(x, (int, float)) and math.isfinite(x) for x in numbers):
            problem = "a price or percentage is not a finite number"
        elif not self.take_profits:
            problem = "no take-profit"
        elif sign * (self.entry - self.stop) <= 0:
            problem = f"stop {self.stop} is not on the losing side of entry {self.entry}"
        else:
            prices = [self.entry] + [tp.price for tp in self.take_profits]
            if any(sign * (b - a) <= 0 for a, b in zip(prices, prices[1:])):
                problem = "take-profits are not beyond the entry in increasing distance"
            elif abs(sum(tp.close_percent for tp in self.take_profits) - 100) > 1e-6:
                problem = "take-profit close percentages do not add up to 100"
        if problem:
            raise StrategyError(strategy, f"returned an invalid signal: {problem}")
        return self


def validated(strategy, value) -> "SignalIntent | None":
    """A strategy's answer, checked: None or a well-formed SignalIntent (else StrategyError)."""
    if value is None:
        return None
    if not isinstance(value, SignalIntent):

        raise StrategyError(strategy.name, f"returned {type(value).__name__}, not a SignalIntent or None")
    return value.check(strategy.name)


class Strategy:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    timeframes: ClassVar[tuple[str, ...]] = ("15min",)
    signal_timeframes: ClassVar[tuple[str, ...]] = ("15min",)
    parameters: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, **params: Any):
        known = {p.name: p for p in self.parameters}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValidationError(f"Strategy '{self.name}' has no parameter {', '.join(unknown)}.")
        self.params = {name: p.coerce(params[name]) if name in params else p.default for name, p in known.items()}

    def needs(self, timeframe: str) -> set[str]:
        """The candle timeframes a check on ``timeframe`` reads (default: all of ``timeframes``)."""
        return set(self.timeframes) | {timeframe}

    def active(self, timeframe: str, bar_open) -> bool:
        """False when the strategy cannot signal on this candle (forex tick then skips the fetch)."""
        return True

    # --- the two-part form (fast backtests) -------------------------------------------------------
    def prepare(self, frames: Mapping[str, Any], timeframe: str) -> Any:
        """Indicators for the whole history at once. Default: keep the frames for ``generate``."""
        return _Frames(frames, timeframe)

    def signal_at(self, prepared: Any, i: int) -> SignalIntent | None:
        """The decision at bar ``i`` of the signal timeframe. Default: ``generate`` on history up to ``i``."""
        if not isinstance(prepared, _Frames):
            raise NotImplementedError(f"{type(self).__name__} overrides prepare() but not signal_at()")
        return self.generate(prepared.until(i), prepared.timeframe)

    def bars(self, prepared: Any) -> int:
        """Number of signal-timeframe bars in ``prepared``."""
        return len(prepared.frames[prepared.timeframe]) if isinstance(prepared, _Frames) else len(prepared)

    # --- the one-call form --------------------------------------------------------------------------
    def generate(self, frames: Mapping[str, Any], timeframe: str) -> SignalIntent | None:
        """The decision on the last closed bar of ``frames[timeframe]``."""
        if type(self).prepare is Strategy.prepare:
            raise NotImplementedError(f"{type(self).__name__} implements neither generate() nor prepare()/signal_at()")
        prepared = self.prepare(frames, timeframe)
        n = self.bars(prepared)
        return self.signal_at(prepared, n - 1) if n else None


class _Frames:
    """Frames kept whole; ``until(i)`` cuts every timeframe at the close of signal bar ``i``."""

    def __init__(self, frames: Mapping[str, Any], timeframe: str):
        self.frames = dict(frames)
        self.timeframe = timeframe

    def until(self, i: int) -> dict[str, Any]:
        return truncate(self.frames, self.timeframe, i)


def truncate(frames: Mapping[str, Any], timeframe: str, i: int) -> dict[str, Any]:
    """Every frame cut to the bars closed by the close of bar ``i`` of ``frames[timeframe]``."""
    import pandas as pd

    from promostack_cli.forex.intervals import INTERVAL_SECONDS

    signal = frames[timeframe]
    close = signal.index[i] + pd.Timedelta(seconds=INTERVAL_SECONDS[timeframe])
    out = {}
    for tf, frame in frames.items():
        if tf == timeframe:
            out[tf] = frame.iloc[: i + 1]
        else:
            cutoff = close - pd.Timedelta(seconds=INTERVAL_SECONDS[tf])
            out[tf] = frame.iloc[: int(frame.index.searchsorted(cutoff, side="right"))]
    return out
