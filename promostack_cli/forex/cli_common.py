"""Helpers the ``promostack forex`` command modules share: option help, --now parsing, the tenant's set-up."""

from datetime import datetime
from pathlib import Path
from typing import Optional

from promostack_cli import context as ctx

CANDLES_HELP = "Offline: read candles from a CSV (datetime, open, high, low, close) instead of Twelve Data"
NOW_HELP = "Pretend it is this UTC time (replays, tests); default: now, or the end of --candles"


def parse_time(value: Optional[str], name: str) -> Optional[datetime]:
    if value is None:
        return None
    from promostack_cli.core.clock import parse_utc
    from promostack_cli.core.errors import ValidationError

    try:
        return parse_utc(value)
    except ValueError:
        raise ValidationError(f"{name} '{value}' is not a date or time like 2025-03-01 or 2025-03-01T07:15.") from None


def setup(candles: Optional[Path], now_opt: Optional[str]):
    """(runtime, config, market, now) for the current tenant."""
    from promostack_cli.core.clock import utcnow
    from promostack_cli.runtime import TenantRuntime
    from promostack_cli.forex.config import load
    from promostack_cli.forex.market import FileMarket, live_market

    db = ctx.open_db()
    tenant = ctx.current_tenant(db)
    runtime = TenantRuntime(tenant.id, db=db)
    with db.session() as session:
        cfg = load(session, tenant.id)
    if candles:
        market = FileMarket.from_csv(candles, note=ctx.info)
        now = parse_time(now_opt, "--now") or market.end
    else:
        market = live_market(runtime, ctx.settings(), cfg.symbol)
        now = parse_time(now_opt, "--now") or utcnow()
    return runtime, cfg, market, now


def print_texts(texts: list[str], heading: str) -> None:
    for text in texts:
        ctx.err.print(ctx.stamped(f"--- {heading} ---"), style="cyan", markup=False)
        ctx.out.print(text, markup=False, highlight=False)
