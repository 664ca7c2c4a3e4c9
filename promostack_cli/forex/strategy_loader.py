"""Finding strategies: built-ins, installed packages (entry point group ``promostack.strategies``)
and files (``path/to/file.py:ClassName``). Errors name the strategy; a strategy that raises never
takes down the tick or another tenant (callers catch :class:`StrategyError`)."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from promostack_cli.core.errors import ValidationError
from promostack_cli.forex.base_strategy import Strategy, StrategyError

__all__ = ["StrategyError", "StrategyInfo", "available", "load_class"]

ENTRY_POINT_GROUP = "promostack.strategies"
BUILTIN = {"raja_banks": "promostack_cli.forex.strategies.raja_banks:RajaBanksGold"}


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    source: str  # built-in | package <dist> | file <path>
    target: str


def _load_target(name: str, target: str):
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except Exception as exc:  # noqa: BLE001 - third-party code may raise anything
        raise StrategyError(name, f"could not be loaded from {target}: {type(exc).__name__}: {exc}") from None


def _load_file(spec: str):
    path_text, _, class_name = spec.rpartition(":")
    if not path_text or not class_name:
        raise ValidationError(f"'{spec}' is not path/to/file.py:ClassName.")
    path = Path(path_text)
    if not path.is_file():
        raise ValidationError(f"Strategy file {path} does not exist.")
    module_name = f"promostack_user_strategy_{abs(hash(str(path.resolve())))}"
    try:
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        module_spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001
        sys.modules.pop(module_name, None)
        raise StrategyError(path.name, f"could not be imported: {type(exc).__name__}: {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ValidationError(f"{path} has no class {class_name}.")
    return cls


def entry_points() -> dict[str, StrategyInfo]:
    found = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else "?"
        found[ep.name] = StrategyInfo(ep.name, f"package {dist}", ep.value)
    return found


def available() -> list[StrategyInfo]:
    infos = [StrategyInfo(name, "built-in", target) for name, target in BUILTIN.items()]
    infos += [info for name, info in sorted(entry_points().items()) if name not in BUILTIN]
    return infos


def load_class(spec: str):
    """The strategy class for a name or a ``file.py:Class`` spec."""
    if spec.endswith(".py") or ".py:" in spec:
        cls = _load_file(spec)
        label = spec
    elif spec in BUILTIN:
        cls, label = _load_target(spec, BUILTIN[spec]), spec
    else:
        eps = entry_points()
        if spec not in eps:
            names = ", ".join(i.name for i in available())
            raise ValidationError(f"Unknown strategy '{spec}'; available: {names} (or path/to/file.py:ClassName).")
        cls, label = _load_target(spec, eps[spec].target), spec
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ValidationError(f"{label} is not a promostack Strategy subclass.")
    if not cls.name:
        raise ValidationError(f"{label} does not set a strategy name.")
    return cls


def create(spec: str, params: dict | None = None):
    """An instance with ``params`` (validated); construction errors name the strategy."""
    cls = load_class(spec)
    try:
        return cls(**(params or {}))
    except ValidationError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise StrategyError(cls.name, f"could not start: {type(exc).__name__}: {exc}") from None


def run_guarded(strategy, fn, *args):
    """Call strategy code; anything it raises becomes a StrategyError naming the strategy."""
    try:
        return fn(*args)
    except StrategyError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise StrategyError(strategy.name, f"raised {type(exc).__name__}: {exc}") from None
