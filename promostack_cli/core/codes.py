"""Short codes for deep-link payloads (Telegram's ``start`` parameter allows ``A-Za-z0-9_-``, 64 at most)."""

from __future__ import annotations

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(n: int) -> str:
    """``n`` (>= 0) in lower-case base 36: ``base36(1295) == "zz"``."""
    if n < 0:
        raise ValueError("base36 takes a number >= 0")
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
        if n == 0:
            return out
