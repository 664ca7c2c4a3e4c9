"""Fitting texts to Telegram: a message holds 4,096 characters, a photo's caption 1,024, counted as
Telegram counts them (the visible text in UTF-16 units: :mod:`promostack_cli.telegram.html` measures,
escapes, splits and checks the HTML; the Bot API's rules stay there).

* :func:`require_fit`: a post's text within its limit, or :class:`TooLong` (a post is one message);
* :func:`refusal`: why Telegram would refuse a text (empty, HTML it cannot parse, too long), for a
  writer whose text is checked before it is used;
* :func:`fit_message`: a journey's sandboxed template as the message(s) Telegram gets: long
  variables cut first, a text too long by itself split into consecutive messages.
"""

from __future__ import annotations

from promostack_cli.core.errors import ValidationError
from promostack_cli.telegram import html
from promostack_cli.telegram.html import MAX_MESSAGE_LENGTH, fits, split_message, visible_length
from promostack_cli.text.template_limits import render_clock

MESSAGE = MAX_MESSAGE_LENGTH  # sendMessage: 1-4096 characters after entity parsing
CAPTION = 1024                # sendPhoto and other media: a caption of 0-1024 characters after entity parsing
MIN_CUT = 64  # a value this short (a name, a choice) is never cut: that could change what the template says
FIT_SECONDS = 1.0  # at most this much CPU time (render_clock) looking for the best cut; the best found so far is used after that


class TooLong(ValidationError):
    """A text over its limit; ``length`` and ``limit`` in Telegram's units."""

    def __init__(self, length: int, limit: int):
        what = "caption" if limit == CAPTION else "message"
        super().__init__(f"The {what} is {length} characters; Telegram allows {limit}.")
        self.length, self.limit = length, limit


def require_fit(text: str, limit: int = MESSAGE) -> str:
    """``text`` when it fits ``limit`` as Telegram counts; :class:`TooLong` otherwise."""
    length = visible_length(text)
    if length > limit:
        raise TooLong(length, limit)
    return text


def refusal(text: str, limit: int = MESSAGE) -> str | None:
    """Why Telegram would refuse ``text`` (HTML parse mode) within ``limit``, in one sentence; None if
    it would take it."""
    if not html.visible_text(text).strip():
        return "The text is empty."
    try:
        html.check_html(text)
    except html.HTMLError as exc:
        return str(exc)
    length = visible_length(text)
    return str(TooLong(length, limit)) if length > limit else None


# -- a journey's template, fitted ---------------------------------------------------------------

def fit_message(template, variables: dict[str, str]) -> list[str]:
    """The message(s) Telegram gets for a compiled template, each within its 4096-character limit.

    When the text is too long, the variables longer than MIN_CUT are cut (each to the same length,
    with an ellipsis, so the longest are cut first) just enough that the template's own text fits
    in as few messages as it can; only a text too long by itself is split into consecutive messages
    (:func:`~promostack_cli.telegram.html.split_message`). Raises TemplateProblem when the template
    fails or renders nothing visible."""
    from promostack_cli.text import sandbox

    started = render_clock()
    text = sandbox.render(template, variables)
    if fits(text):
        parts = split_message(text)  # [text], or [] when nothing is visible
    else:
        parts = _cut_to_fit(template, variables, text, started) or split_message(text)
    if not parts:
        raise sandbox.TemplateProblem("template renders an empty message")
    return parts


def _cut_to_fit(template, variables: dict[str, str], text: str, started: float) -> list[str] | None:
    """The parts with the variables cut as little as possible, or None when cutting does not help."""
    from promostack_cli.text import sandbox

    longest = min(max((len(v) for v in variables.values() if isinstance(v, str)), default=0), sandbox.MAX_VALUE)

    def attempt(cut: int) -> str | None:
        try:
            return sandbox.render(template, variables, cut=cut)
        except Exception:  # noqa: BLE001 - a cut value the template cannot use: try another
            return None

    def within(text: str, target: int) -> bool:  # one message is the usual target: no need to split
        return fits(text) if target == 1 else len(split_message(text)) <= target

    best = attempt(MIN_CUT) if longest > MIN_CUT else None
    if best is None:
        return None
    target = 1 if fits(best) else len(split_message(best))
    if target > 1 and within(text, target):
        return None
    # bisect for the longest cut that still needs only `target` messages; the first guess (the
    # longest value shortened by what the text is over) is usually right at once
    low, high = MIN_CUT + 1, longest - 1
    mid = longest - 1 - (visible_length(text) - MAX_MESSAGE_LENGTH * target)
    mid = mid if low <= mid <= high else (low + high) // 2
    while low <= high and render_clock() - started < FIT_SECONDS:
        got = attempt(mid)
        if got is not None and within(got, target):
            best, low = got, mid + 1
        else:
            high = mid - 1
        mid = (low + high) // 2
    return split_message(best)
