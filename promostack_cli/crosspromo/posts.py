"""The cross-promo posts: their figures (real data only) and their texts (Jinja, HTML-escaped).

* morning news — gold's price and change since the previous close, the overnight range and the
  day's pivots from 1h candles, plus headlines from the configured feeds;
* teaser — the VIP channel's last 7 days (signals, wins, net pips, best signal), or a neutral
  teaser when there is nothing to show; never invented figures;
* win copy — a VIP signal that reached the win level, with its result; later take-profits reply to it.

Each text is written by the tenant's writer (:mod:`promostack_cli.text`) from facts read beforehand:
built-in templates live in ``crosspromo/templates``; a ``templates_dir`` setting overrides them by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from promostack_cli.core.errors import OperationalError
from promostack_cli.text.facts import Facts, Numbers
from promostack_cli.text.writer import Catalog, Writer, writer_for

BUILTIN_DIR = Path(__file__).parent / "templates"
TEMPLATES = {"morning_news": "morning_news.j2", "teaser": "teaser.j2", "win": "win.j2", "win_update": "win_update.j2"}
TEXTS = Catalog(BUILTIN_DIR, TEMPLATES)
TEASER_DAYS = 7


@dataclass
class Post:
    kind: str
    text: str
    button: dict | None = None          # inline keyboard URL button
    reply_to: str | None = None         # outbox dedupe key of the post this one answers
    signal_id: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def reply_markup(self) -> dict | None:
        return {"inline_keyboard": [[self.button]]} if self.button else None


def writer(runtime, settings) -> Writer:
    """The writer of the tenant's cross-promo posts (its ``templates_dir`` overriding the built-in ones)."""
    return writer_for(runtime, TEXTS, settings.templates_dir)


def write(writer: Writer, settings, kind: str, pip_size: float = 0.1, **values) -> str:
    """The text of a post of ``kind``: ``values`` and the tenant's disclaimer, figures at ``pip_size``."""
    return writer.write(kind, Facts({"disclaimer": settings.disclaimer, **values}, Numbers(pip_size))).text


# -- the call to action -------------------------------------------------------------------------

def cta_link(settings, ref: str | None, message_bot: str | None) -> str:
    """The CTA URL; a deep link to the message bot carries the post's attribution code.

    ``https://t.me/<message bot>?start=vip`` becomes ``...?start=vip__cp1a`` (``?start=cp1a``
    without a payload); other URLs are left as they are. Telegram caps the payload at 64 characters.
    """
    url = settings.cta_url
    if not ref or not message_bot:
        return url
    parts = urlsplit(url)
    name = parts.path.strip("/").split("/")[0].lstrip("@")
    if parts.netloc.lower() not in ("t.me", "telegram.me") or name.lower() != message_bot.lower().lstrip("@"):
        return url
    query = dict(parse_qsl(parts.query))
    base = query.get("start")
    payload = f"{base}__{ref}" if base else ref
    if len(payload) > 64:
        return url
    query["start"] = payload
    return urlunsplit(parts._replace(query=urlencode(query)))


def button(settings, ref: str | None, message_bot: str | None) -> dict:
    return {"text": settings.cta_text, "url": cta_link(settings, ref, message_bot)}


# -- morning news -------------------------------------------------------------------------------

def market_figures(frame, now: datetime, pip_size: float) -> dict:
    """From 1h candles closed by ``now``: price, change since the previous trading day's close, the
    overnight range (since that close) and the day's pivots (from the previous trading day)."""
    from promostack_cli.forex.reports import pivots

    frame = frame[frame.index < now]
    if frame.empty:
        raise OperationalError("No gold candles for the morning post.")
    today = now.date()
    prev_days = sorted({ts.date() for ts in frame.index if ts.date() < today and ts.weekday() < 5})
    if not prev_days:
        raise OperationalError("No previous trading day's candles for the morning post.")
    prev_day: date = prev_days[-1]
    prev = frame[[ts.date() == prev_day for ts in frame.index]]
    after = frame[[ts.date() > prev_day for ts in frame.index]]
    high, low, close = float(prev["high"].max()), float(prev["low"].min()), float(prev["close"].iloc[-1])
    last = float(frame["close"].iloc[-1])
    overnight = after if not after.empty else frame.iloc[-1:]
    return {
        "last": last, "prev_close": close, "change": last - close, "change_pct": 100 * (last - close) / close,
        "change_pips": (last - close) / pip_size,
        "overnight": {"high": float(overnight["high"].max()), "low": float(overnight["low"].min()),
                      "pips": float(overnight["high"].max() - overnight["low"].min()) / pip_size},
        "prev_day": prev_day, "pivots": pivots(high, low, close), "as_of": frame.index[-1] + timedelta(hours=1),
    }


def morning_news(writer: Writer, settings, market, symbol: str, pip_size: float, now: datetime, *, db=None,
                 tenant_id=None, http=None) -> Post:
    from promostack_cli.crosspromo import feeds

    frames = market.frames(["1h"], now, 24 * 6)
    figures = market_figures(frames["1h"], now, pip_size)
    news = (feeds.headlines(db, tenant_id, settings.feeds, now, settings.headlines, http=http)
            if db is not None else feeds.Headlines())
    local = now.astimezone(settings.zone)
    text = write(writer, settings, "morning_news", pip_size, symbol=symbol, day=local, headlines=news.items, **figures)
    return Post("morning_news", text, warnings=news.warnings)


# -- teaser -------------------------------------------------------------------------------------

def vip_figures(session, tenant_id: int, now: datetime, days: int = TEASER_DAYS) -> dict:
    """The VIP channel's signals opened in the last ``days`` days, as they stand at ``now``."""
    from sqlmodel import select

    from promostack_cli.forex.models import ForexSignal

    s = ForexSignal
    rows = list(session.exec(select(s).where(s.tenant_id == tenant_id, s.opened_at >= now - timedelta(days=days),
                                             s.opened_at < now).order_by(s.opened_at)))
    closed = [r for r in rows if r.status == "closed"]
    wins = [r for r in closed if r.pips > 0]
    best = max(wins, key=lambda r: r.pips, default=None)
    return {"signals": len(rows), "closed": len(closed), "wins": len(wins), "open": len(rows) - len(closed),
            "net_pips": sum(r.pips for r in closed), "best": best, "days": days,
            "win_rate": round(100 * len(wins) / len(closed)) if closed else None}


def teaser(writer: Writer, settings, figures: dict, now: datetime) -> Post:
    """The teaser of :func:`vip_figures` (read beforehand: no session is open while it is written)."""
    pip = figures["best"].pip_size if figures["best"] else 0.1
    return Post("teaser", write(writer, settings, "teaser", pip, day=now.astimezone(settings.zone), **figures))


# -- win copies ---------------------------------------------------------------------------------

def win_copy(writer: Writer, settings, signal, level: int, kind: str, banked: float | None = None) -> Post:
    """The FREE copy of ``signal`` at take-profit ``level`` (kind ``win``), or the reply that tells
    a later take-profit (kind ``win_update``). ``banked``: the pips its TP events recorded up to
    ``level`` (the figures the VIP channel was told); computed from the targets otherwise."""
    gained = round(banked, 1) if banked is not None else _pips_at(signal, level)
    text = write(writer, settings, kind, signal.pip_size, s=signal, level=level, gained=gained)
    return Post(kind, text, signal_id=signal.id,
                reply_to=f"crosspromo:win:{signal.id}" if kind == "win_update" else None)


def _pips_at(signal, level: int) -> float:
    """Pips banked once TP ``level`` is hit: each leg's distance weighted by its close percentage."""
    sign = 1 if signal.direction == "BUY" else -1
    total = 0.0
    for i, (target, pct) in enumerate(zip(signal.targets, signal.close_percents), start=1):
        if i > level:
            break
        total += sign * (target - signal.entry) / signal.pip_size * pct / 100
    return round(total, 1)
