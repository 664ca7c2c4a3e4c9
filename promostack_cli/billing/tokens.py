"""Linking tokens, signed with the tenant's link secret (HMAC-SHA256), and ``/verify`` codes.

* ``tg_<telegram id>_<issued>_<sig>`` — a payment started for one Telegram user carries it and the
  payment source hands it back, so the payment links itself to that user (Stripe: a Checkout
  Session's ``client_reference_id``, which keeps at most 200 characters of ``[A-Za-z0-9_-]``, this
  is under 60, and ``subscription_data.metadata``; the ``/subscribe`` and manage links carry it too).
  Only payments we started carry a valid one.
* ``v_<subscription>_<issued>_<sig>`` — the ``/start`` payload of ``t.me/<bot>?start=v_...`` for a
  payment made elsewhere (≤ 64 characters, Telegram's limit). It names one subscription; whoever
  opens it first links it (a subscription already linked to someone else is never moved).
* ``/verify`` codes — 8 random characters (no 0/O/1/I), shown as ``ABCD-EFGH``, stored as a hash,
  single-use and expiring.

Pure functions; nothing here reads the clock or the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from promostack_cli.core.codes import base36

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CHECKOUT_TOKEN_DAYS = 7       # a /subscribe link may be opened for a week
DEEP_LINK_DAYS = 30           # a v_ link works for 30 days
_SIG_CHARS = 16



def _sig(secret: str, message: str) -> str:
    mac = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")[:_SIG_CHARS]


def _parse(token: str, prefix: str) -> tuple[int, int, str] | None:
    if not isinstance(token, str) or not TOKEN_RE.match(token) or not token.startswith(prefix + "_"):
        return None
    parts = token[len(prefix) + 1:].split("_", 2)
    if len(parts) != 3:
        return None
    try:
        return int(parts[0], 36), int(parts[1], 36), parts[2]
    except ValueError:
        return None


def _make(prefix: str, secret: str, subject: int, issued: int) -> str:
    body = f"{prefix}_{base36(subject)}_{base36(issued)}"
    return f"{body}_{_sig(secret, body)}"


def _check(prefix: str, secret: str, token: str, now: int, days: int | None) -> int | None:
    parsed = _parse(token, prefix)
    if parsed is None:
        return None
    subject, issued, sig = parsed
    expected = _sig(secret, f"{prefix}_{base36(subject)}_{base36(issued)}")
    if not hmac.compare_digest(sig, expected):
        return None
    if days is not None and not (issued - 300 <= now <= issued + days * 86400):
        return None
    return subject


def checkout_token(secret: str, telegram_user_id: int, issued: int) -> str:
    return _make("tg", secret, telegram_user_id, issued)


def checkout_user(secret: str, token: str | None, now: int | None = None) -> int | None:
    """The Telegram id a checkout token names, or None (forged, malformed; expired when ``now`` is given)."""
    return _check("tg", secret, token or "", now or 0, CHECKOUT_TOKEN_DAYS if now is not None else None)


def deep_link_token(secret: str, subscription_row_id: int, issued: int) -> str:
    return _make("v", secret, subscription_row_id, issued)


def deep_link_subscription(secret: str, payload: str | None, now: int) -> int | None:
    """The subscription row a ``v_`` payload names, or None (forged, malformed or expired)."""
    return _check("v", secret, payload or "", now, DEEP_LINK_DAYS)


def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normalise_code(text: str | None) -> str | None:
    """``abcd efgh`` / ``ABCD-EFGH`` → ``ABCDEFGH``; None when it cannot be a code."""
    raw = re.sub(r"[\s-]", "", (text or "")).upper()[:64]
    if len(raw) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in raw):
        return None
    return raw


def code_hash(secret: str, normalised: str) -> str:
    return hmac.new(secret.encode(), f"code:{normalised}".encode(), hashlib.sha256).hexdigest()
