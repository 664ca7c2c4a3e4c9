"""A tenant's forex config: defaults in code, the keys an operator set in ``forex_settings``.

Keys are the engine's (symbol, guardrails, schedule...) plus the active strategy's parameters as
``<strategy>.<parameter>`` (``raja_banks.sr_distance``). Every value is validated when it is set
and again, together, when the config is loaded, so a bad value never reaches a tick.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from promostack_cli.core.errors import ValidationError
from promostack_cli.forex.base_strategy import Param
from promostack_cli.forex.engine import GuardConfig

if TYPE_CHECKING:
    from sqlmodel import Session

_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_SESSION_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def parse_hhmm(name: str, text: str) -> int:
    """``"06:20"`` -> 380 minutes after midnight UTC."""
    m = _HHMM_RE.match(str(text).strip())
    if not m:
        raise ValidationError(f"{name} must be a UTC time like 06:20, not '{text}'.")
    return int(m[1]) * 60 + int(m[2])


def parse_session(name: str, text: str) -> tuple[int, int]:
    """``"07:00-10:00"`` -> (420, 600) minutes after midnight UTC."""
    m = _SESSION_RE.match(str(text).strip())
    if not m:
        raise ValidationError(f"{name} must look like 07:00-10:00 (UTC), not '{text}'.")
    start, end = int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])
    if end <= start or end > 1440:
        raise ValidationError(f"{name} must end after it starts, within one UTC day ('{text}').")
    return start, end


ENGINE = (
    Param("symbol", "XAU/USD", "instrument (Twelve Data symbol)"),
    Param("pip_size", 0.1, "price units per pip (gold 0.10 USD, EUR/USD 0.0001)", 1e-8, 1000),
    Param("strategy", "raja_banks", "strategy name, entry point or path/to/file.py:Class"),
    Param("timeframes", "15min,1h", "timeframes forex tick checks, comma-separated"),
    Param("expiry_hours", 8.0, "close an open signal at market after this many hours", 0.25, 720),
    Param("max_signals_per_day", 4, "guardrail: signals per UTC day", 1, 100),
    Param("min_minutes_between_signals", 15.0, "guardrail: minutes between two signals", 0, 1440),
    Param("daily_loss_limit_pips", 50.0, "guardrail: no new signal once the day's realised loss reaches this", 1, 100000),
    Param("max_open_signals", 1, "guardrail: signals open at once", 1, 20),
    Param("monitor_every_minutes", 1, "forex tick runs the monitor every N minutes (1 credit each; no wick is missed)", 1, 60),
    Param("history_bars", 1000, "candles per timeframe a check reads (>= 250 for EMA warm-up)", 250, 5000),
    Param("guidance", True, "post guidance messages (progress, secure, warning, halfway)"),
    Param("briefing_time", "06:20", "morning briefing, weekdays (UTC)"),
    Param("daily_recap_time", "06:30", "daily recap of yesterday's signals (UTC)"),
    Param("weekly_recap_time", "18:00", "weekly recap, Sundays (UTC)"),
    Param("asian_session", "00:00-06:00", "the Asian session the briefing measures (UTC)"),
    Param("asian_average_days", 10, "days averaged for the Asian range", 1, 60),
    Param("templates_dir", "", "directory with .j2 templates that override the built-in ones"),
)
ENGINE_BY_NAME = {p.name: p for p in ENGINE}
TIME_KEYS = ("briefing_time", "daily_recap_time", "weekly_recap_time")


@dataclass
class ForexConfig:
    values: dict[str, Any]
    strategy_params: dict[str, Any]
    stored: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def guard(self) -> GuardConfig:
        v = self.values
        return GuardConfig(v["max_signals_per_day"], v["min_minutes_between_signals"], v["daily_loss_limit_pips"],
                           v["max_open_signals"])

    @property
    def expiry(self) -> timedelta:
        return timedelta(hours=self.values["expiry_hours"])

    @property
    def timeframe_list(self) -> list[str]:
        return [t.strip() for t in self.values["timeframes"].split(",") if t.strip()]

    def strategy(self, spec: str | None = None):
        """The configured strategy (or ``spec``) with this tenant's parameters for it."""
        from promostack_cli.forex.strategy_loader import create, load_class

        spec = spec or self.values["strategy"]
        cls = load_class(spec)
        prefix = cls.name + "."
        params = {k[len(prefix):]: v for k, v in self.stored.items() if k.startswith(prefix)}
        return create(spec, params)


def resolve(stored: dict[str, Any]) -> ForexConfig:
    """Defaults + ``stored``, every value validated; the error names the key."""
    values = {p.name: p.default for p in ENGINE}
    for key, raw in stored.items():
        if "." in key:
            continue
        if key not in ENGINE_BY_NAME:
            raise ValidationError(f"Unknown forex config key '{key}'. See: promostack forex config show")
        values[key] = ENGINE_BY_NAME[key].coerce(raw)
    for key in TIME_KEYS:
        parse_hhmm(key, values[key])
    parse_session("asian_session", values["asian_session"])
    cfg = ForexConfig(values, {}, dict(stored))
    from promostack_cli.forex.intervals import INTERVAL_SECONDS

    tfs = cfg.timeframe_list
    if not tfs or any(t not in INTERVAL_SECONDS for t in tfs):
        raise ValidationError(f"timeframes must list intervals such as 15min,1h, not '{values['timeframes']}'.")
    strategy = cfg.strategy()
    wrong = [t for t in tfs if t not in strategy.signal_timeframes]
    if wrong:
        raise ValidationError(f"Strategy '{strategy.name}' cannot be checked on {', '.join(wrong)}; it supports {', '.join(strategy.signal_timeframes)}.")
    for key in stored:
        if "." in key and not key.startswith(strategy.name + "."):
            raise ValidationError(f"'{key}' is not a parameter of the active strategy '{strategy.name}'.")
    cfg.strategy_params = dict(strategy.params)
    return cfg


def load(session: Session, tenant_id: int) -> ForexConfig:
    from promostack_cli.forex.models import ForexSettings

    row = session.get(ForexSettings, tenant_id)
    return resolve(dict(row.values) if row else {})


def describe(cfg: ForexConfig) -> list[tuple[str, Any, str, str]]:
    """(key, value, source, help) for every key, the strategy's parameters included."""
    from promostack_cli.forex.strategy_loader import load_class

    rows = [(p.name, cfg.values[p.name], "set" if p.name in cfg.stored else "default", p.help) for p in ENGINE]
    cls = load_class(cfg.values["strategy"])
    for p in cls.parameters:
        key = f"{cls.name}.{p.name}"
        rows.append((key, cfg.strategy_params.get(p.name, p.default), "set" if key in cfg.stored else "default", p.help))
    return rows


def update(session: Session, tenant_id: int, changes: dict[str, str | None], now: datetime) -> ForexConfig:
    """Set (or, with None, unset) keys; everything is validated together before anything is written."""
    from promostack_cli.forex.models import ForexSettings

    row = session.get(ForexSettings, tenant_id)
    stored = dict(row.values) if row else {}
    for key, raw in changes.items():
        if raw is None:
            _known_key(key, stored.get("strategy") if "strategy" not in changes else changes["strategy"])
            stored.pop(key, None)
            continue
        if "." in key:
            strategy_name, _, param_name = key.partition(".")
            cls = _strategy_class(stored.get("strategy") if "strategy" not in changes else changes["strategy"])
            if strategy_name != cls.name:
                raise ValidationError(f"'{key}' is not a parameter of the active strategy '{cls.name}'.")
            param = {p.name: p for p in cls.parameters}.get(param_name)
            if param is None:
                names = ", ".join(p.name for p in cls.parameters)
                raise ValidationError(f"Strategy '{cls.name}' has no parameter '{param_name}'; it has {names}.")
            stored[key] = param.coerce(raw)
        elif key == "templates_dir":
            stored[key] = _templates_dir(ENGINE_BY_NAME[key].coerce(raw))
        elif key in ENGINE_BY_NAME:
            stored[key] = ENGINE_BY_NAME[key].coerce(raw)
        else:
            raise ValidationError(f"Unknown forex config key '{key}'. See: promostack forex config show")
    cfg = resolve(stored)
    before = resolve(dict(row.values) if row else {})
    moved = [k for k in ("symbol", "pip_size") if cfg.values[k] != before.values[k]]
    if moved and _open_signals(session, tenant_id):
        raise ValidationError(f"{' and '.join(moved)} cannot change while signals are open (the monitor follows "
                              "them on their instrument); wait until they close.")
    if row is None:
        row = ForexSettings(tenant_id=tenant_id, values=stored)
    else:
        row.values = stored
        row.updated_at = now
    session.add(row)
    return cfg


def _templates_dir(value: str) -> str:
    """An existing directory, given as an absolute path (the CLI makes a typed path absolute), whose
    templates compile; ``""`` is the built-in templates."""
    from pathlib import Path

    from promostack_cli.forex.messages import check_templates

    if not value:
        return value
    path = Path(value)
    if not path.is_absolute():
        raise ValidationError(f"templates_dir must be an absolute path, not '{value}'.")
    if not path.exists():
        raise ValidationError(f"templates_dir {value} does not exist. Write the built-in templates there to edit: "
                              f"promostack forex templates {value}")
    if not path.is_dir():
        raise ValidationError(f"templates_dir {value} is not a directory.")
    check_templates(path)
    return value


def suggested_pip_size(symbol: str) -> float | None:
    """The usual pip of ``symbol``: gold 0.1, silver 0.01, yen pairs 0.01, other currency pairs
    0.0001; None when it cannot be told from the symbol (indices, crypto...)."""
    text = symbol.strip().upper()
    base, _, quote = text.partition("/")
    if not quote and len(text) == 6 and text.isalpha():
        base, quote = text[:3], text[3:]
    if base == "XAU":
        return 0.1
    if base == "XAG":
        return 0.01
    if base in _FIAT and quote in _FIAT:
        return 0.01 if quote == "JPY" else 0.0001
    return None


_FIAT = frozenset("USD EUR GBP JPY CHF AUD NZD CAD SEK NOK DKK PLN CZK HUF TRY ZAR MXN SGD HKD CNH CNY ILS THB".split())


def pip_size_warning(before: ForexConfig, after: ForexConfig, changes: dict) -> str | None:
    """When ``changes`` moved the symbol but left pip_size as it was, and that pip does not suit the
    new symbol: what to set (the change itself stands)."""
    if "symbol" not in changes or "pip_size" in changes or before.values["symbol"] == after.values["symbol"]:
        return None
    symbol, pip = after.values["symbol"], after.values["pip_size"]
    usual = suggested_pip_size(symbol)
    if usual is None:
        return f"pip_size is still {pip:g} (price units per pip); check that it suits {symbol}."
    if abs(usual - pip) < 1e-12:
        return None
    return f"pip_size is still {pip:g}, which does not suit {symbol} (usually {usual:g}). Set it: forex config set pip_size {usual:g}"


def _open_signals(session: Session, tenant_id: int) -> int:
    from sqlalchemy import func
    from sqlmodel import select

    from promostack_cli.forex.models import ForexSignal as S

    return session.exec(select(func.count()).select_from(S).where(S.tenant_id == tenant_id, S.status == "open")).one()


def _known_key(key: str, strategy: str | None) -> None:
    """ValidationError unless ``key`` is an engine key or a parameter of the active strategy."""
    if "." in key:
        cls = _strategy_class(strategy)
        name, _, param = key.partition(".")
        if name == cls.name and param in {p.name for p in cls.parameters}:
            return
    elif key in ENGINE_BY_NAME:
        return
    raise ValidationError(f"Unknown forex config key '{key}'. See: promostack forex config show")


def _strategy_class(spec: str | None):
    from promostack_cli.forex.strategy_loader import load_class

    return load_class(spec or ENGINE_BY_NAME["strategy"].default)
