"""The signal lifecycle as pure logic, shared by the live monitor (1min candles) and backtests
(candles of the signal timeframe): one implementation, not two.

Per candle, in this order:

1. the stop: if the candle's low (BUY) / high (SELL) reaches the current stop, the rest of the
   position closes there. When one candle reaches both the stop and a target, the stop is assumed
   to have come first (a candle does not tell which came first; assuming the worse keeps results honest);
2. the targets, nearest first: each one reached closes its percentage. After TP1 the stop moves to
   entry, after TP2 to TP1 (moves apply from the next candle). TP3 closes the signal as won;
3. expiry: still open on the first candle closing at or after ``expires_at`` -> closed at that close;
4. guidance (each at most once): before TP1, 40 % of the way to TP1 ("progress"), 70 % ("secure":
   move the stop to entry), 60 % of the way to the stop ("warning"); after TP1, halfway to TP2.

Pips are weighted by each leg's close percentage: TP1 at +20 pips with 50 %, then the stop at
entry, is +10 pips.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# the quote precision: levels are rounded to it (engine.open_trade) and shown at it (text.facts), one rule
from promostack_cli.text.facts import price_decimals  # noqa: F401 - re-exported for the engine

EPSILON = 1e-9  # progress ratios are compared with this slack: (2000.80 - 2000) / 2 is 0.39999999999997726
GUIDANCE = ("guidance_progress", "guidance_secure", "guidance_warning", "guidance_halfway_tp2")
STOP_RESULT = {0: "stop", 1: "breakeven", 2: "locked"}


def round_price(value: float, decimals: int) -> float:
    """Half-up rounding to the quote precision, immune to binary noise (2368.425 -> 2368.43)."""
    from decimal import ROUND_HALF_UP, Decimal

    return float(Decimal(repr(round(float(value), 9))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


@dataclass
class SignalEvent:
    kind: str  # tp1 | tp2 | tp3 | stop | expired | guidance_*
    at: datetime
    price: float | None = None
    pips: float | None = None  # pips of this leg (for closes: weighted by its percentage)
    data: dict = field(default_factory=dict)


@dataclass
class Trade:
    direction: str
    entry: float
    stop: float
    targets: list[float]
    close_percents: list[float]
    pip_size: float
    opened_at: datetime
    expires_at: datetime
    initial_stop: float | None = None
    stage: int = 0
    remaining: float = 100.0
    pips: float = 0.0
    status: str = "open"
    result: str | None = None
    closed_at: datetime | None = None
    close_price: float | None = None
    guidance: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.initial_stop is None:
            self.initial_stop = self.stop

    @property
    def sign(self) -> float:
        return 1.0 if self.direction == "BUY" else -1.0

    def pips_at(self, price: float) -> float:
        return self.sign * (price - self.entry) / self.pip_size

    def _leg(self, price: float, percent: float) -> float:
        pips = self.pips_at(price) * percent / 100.0
        self.pips = round(self.pips + pips, 4)
        self.remaining = round(self.remaining - percent, 9)
        return round(pips, 2)

    def _close(self, kind: str, result: str, price: float, at: datetime) -> SignalEvent:
        """Close the rest of the position at ``price``; ``kind`` is the event (stop, expired, tpN)."""
        leg = self._leg(price, self.remaining) if self.remaining > 0 else 0.0
        self.status, self.result, self.closed_at, self.close_price = "closed", result, at, price
        self.pips = round(self.pips, 2)
        return SignalEvent(kind, at, price, leg, {"result": result, "total_pips": self.pips, "stage": self.stage})

    def apply(self, at: datetime, high: float, low: float, close: float, *, guidance: bool = True) -> list[SignalEvent]:
        """Advance by one candle that closed at ``at``; returns what happened, in order."""
        if self.status != "open":
            return []
        events: list[SignalEvent] = []
        s = self.sign
        adverse = low if s > 0 else high
        favourable = high if s > 0 else low
        if s * (adverse - self.stop) <= 0:
            events.append(self._close("stop", STOP_RESULT.get(self.stage, "locked"), self.stop, at))
            return events
        new_stop = None
        while self.stage < len(self.targets) and s * (favourable - self.targets[self.stage]) >= 0:
            k = self.stage
            target = self.targets[k]
            self.stage += 1
            if self.stage == len(self.targets):
                events.append(self._close(f"tp{self.stage}", f"tp{self.stage}", target, at))
                return events
            leg = self._leg(target, self.close_percents[k])
            new_stop = self.entry if k == 0 else self.targets[k - 1]
            events.append(SignalEvent(f"tp{k + 1}", at, target, leg, {"new_stop": new_stop, "total_pips": round(self.pips, 2)}))
        if at >= self.expires_at:
            events.append(self._close("expired", "expired", close, at))
            return events
        if new_stop is not None:
            self.stop = new_stop
        if guidance:
            events.extend(self._guidance(at, favourable, adverse, bool(events)))
        return events

    def expire(self, price: float, at: datetime) -> SignalEvent:
        """Close at market ``price`` (expiry when no candle reached ``expires_at``)."""
        if self.status != "open":
            raise ValueError("only an open trade can expire")
        return self._close("expired", "expired", price, at)

    def _guidance(self, at: datetime, favourable: float, adverse: float, hit_this_candle: bool) -> list[SignalEvent]:
        out = []
        s, entry = self.sign, self.entry

        def once(kind: str, price: float, **data):
            if kind not in self.guidance:
                self.guidance.append(kind)
                out.append(SignalEvent(kind, at, price, round(self.pips_at(price), 2), data))

        if self.stage == 0:
            to_tp1 = s * (favourable - entry) / abs(self.targets[0] - entry)
            if to_tp1 >= 0.4 - EPSILON:
                once("guidance_progress", favourable, progress=round(to_tp1, 3))
            if to_tp1 >= 0.7 - EPSILON:
                once("guidance_secure", favourable, progress=round(to_tp1, 3))
            to_stop = s * (entry - adverse) / abs(entry - self.initial_stop)
            if to_stop >= 0.6 - EPSILON:
                once("guidance_warning", adverse, progress=round(to_stop, 3))
        elif self.stage == 1 and not hit_this_candle and len(self.targets) > 1:
            tp1, tp2 = self.targets[0], self.targets[1]
            halfway = s * (favourable - tp1) / abs(tp2 - tp1)
            if halfway >= 0.5 - EPSILON:
                once("guidance_halfway_tp2", favourable, progress=round(halfway, 3))
        return out
