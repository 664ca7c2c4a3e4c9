"""Headlines for the morning post from RSS/Atom feeds: fetched with httpx and a timeout, parsed with
feedparser, cached per tenant, feed and UTC hour in the database (the runs of that hour share a fetch).

A feed that times out, answers an error, returns HTML or is malformed gives no headlines and a
warning; it never stops the post. Titles are plain text (tags dropped); the template escapes them.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import datetime

from promostack_cli.core.secrets import redact

TIMEOUT_SECONDS = 5.0
MAX_BYTES = 2_000_000
MAX_TITLE = 200
_TAG_RE = re.compile(r"<[^>]*>")
_SPACE_RE = re.compile(r"\s+")


@dataclass
class Headlines:
    items: list[dict] = field(default_factory=list)   # {"title", "link", "feed"}
    warnings: list[str] = field(default_factory=list)


def _plain(text: str) -> str:
    text = html.unescape(_TAG_RE.sub(" ", text or ""))
    text = _SPACE_RE.sub(" ", text).strip()
    return text if len(text) <= MAX_TITLE else text[:MAX_TITLE - 1].rstrip() + "…"


def _safe_link(link: str | None) -> str | None:
    link = (link or "").strip()
    return link if link.startswith(("https://", "http://")) and not any(c.isspace() for c in link) else None


def parse(content: bytes, url: str) -> tuple[list[dict], str | None]:
    """(entries, error) from a feed body."""
    import feedparser

    parsed = feedparser.parse(content)
    entries = []
    for entry in parsed.entries:
        title = _plain(entry.get("title", ""))
        if title:
            entries.append({"title": title, "link": _safe_link(entry.get("link"))})
    if not entries:
        why = "not an RSS or Atom feed" if parsed.get("bozo") or not parsed.get("version") else "no entries"
        return [], f"feed {url}: {why}"
    return entries, None


def fetch(url: str, *, http=None, timeout: float | None = None) -> tuple[list[dict], str | None]:
    import httpx

    timeout = TIMEOUT_SECONDS if timeout is None else timeout
    client = http or httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=True)
    try:
        with client.stream("GET", url, headers={"Accept": "application/rss+xml, application/atom+xml, */*"}) as r:
            if r.status_code >= 400:
                return [], f"feed {url}: HTTP {r.status_code}"
            body = b""
            for chunk in r.iter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    return [], f"feed {url}: larger than {MAX_BYTES // 1_000_000} MB"
    except httpx.TimeoutException:
        return [], f"feed {url}: timed out after {timeout:g} s"
    except httpx.HTTPError as exc:
        return [], f"feed {url}: {redact(str(exc))[:200]}"
    finally:
        if http is None:
            client.close()
    return parse(body, url)


def headlines(db, tenant_id: int, urls: list[str], now: datetime, limit: int, *, http=None) -> Headlines:
    """Up to ``limit`` headlines, newest feed order, at most one fetch per feed and hour."""
    from promostack_cli.core.upsert import upsert
    from promostack_cli.crosspromo.models import FeedCache

    out = Headlines()
    if limit <= 0 or not urls:
        return out
    hour = now.replace(minute=0, second=0, microsecond=0)
    per_feed: list[list[dict]] = []
    for url in urls:
        key = hashlib.sha256(url.encode()).hexdigest()
        with db.session() as session:
            cached = session.get(FeedCache, (tenant_id, key, hour))
        if cached is None:
            entries, error = fetch(url, http=http)
            with db.transaction() as session:
                upsert(session, FeedCache, {"tenant_id": tenant_id, "url_hash": key, "hour": hour, "url": url, "entries": entries,
                                            "error": error, "fetched_at": now}, ["tenant_id", "url_hash", "hour"])
        else:
            entries, error = cached.entries, cached.error
        if error:
            out.warnings.append(error)
        per_feed.append([{**e, "feed": url} for e in entries])
    # one from each feed in turn, so one busy feed does not crowd out the others
    seen = set()
    while len(out.items) < limit and any(per_feed):
        for entries in per_feed:
            if entries and len(out.items) < limit:
                item = entries.pop(0)
                if item["title"].lower() not in seen:
                    seen.add(item["title"].lower())
                    out.items.append(item)
    return out
