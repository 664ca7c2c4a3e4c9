"""HTML for ``parse_mode=HTML``: Telegram accepts a few tags; every other ``<``, ``>``, ``&`` must be escaped."""

from __future__ import annotations

import html

MAX_MESSAGE_LENGTH = 4096


def escape(text: object) -> str:
    """Escape user-supplied text (names, answers) for an HTML message or an href attribute."""
    return html.escape("" if text is None else str(text), quote=True)
