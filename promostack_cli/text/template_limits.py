"""The size limits of a journey template's render: every value an operation builds is measured,
and the operations that could build a large one are checked before they run.

An operation that would build more than :data:`MAX_SIZE` characters or items (or an int over
:data:`MAX_INT_BITS` bits) is refused before it runs; one render builds at most :data:`MAX_WORK`
in all (charged to the :class:`RenderState` of the thread's render, which also holds its
deadline); a block's output stops past :data:`MAX_OUTPUT`. :mod:`.sandbox` wires these checks
into its sandbox; a limit raises :class:`TemplateLimit`, a refused template :class:`TemplateProblem`.
"""

from __future__ import annotations

import functools
import re
import string
import threading
import time
from collections import abc
from typing import Any, Callable

from markupsafe import Markup

from promostack_cli.telegram import html

MAX_SIZE = 100_000        # characters of one text, items of one list, one operation may build
MAX_WORK = 1_000_000      # characters and items all the operations of one render may build together
MAX_INT_BITS = 4096       # about 1,200 digits
MAX_OUTPUT = 65_536       # characters of HTML a render (or a {% set %} block) may produce
_PRINTF_RE = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.)", re.DOTALL)


class TemplateProblem(Exception):
    """A template that cannot be used; ``str()`` is one clause such as "template reaches Python internals"."""

    def __init__(self, message: str, lineno: int | None = None):
        super().__init__(message)
        self.message, self.lineno = message, lineno


class TemplateLimit(TemplateProblem):
    """A render that hit one of the limits (size, work, output, time)."""


# -- per-render accounting (thread-local: the webhook receiver renders in several threads) --------

def render_clock() -> float:
    """The clock a render's time limit runs on: CPU seconds of the rendering thread. A render is stopped
    for the work it does, never because other threads or processes had the CPU: on a busy server a
    clock on the wall would refuse a template at validation, or fail a message at run time, that needs
    a few milliseconds."""
    return time.thread_time()


class RenderState:
    """One render's budget: its deadline (on :func:`render_clock`) and the work done so far."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = render_clock() + seconds
        self.work = 0

    def too_slow(self) -> TemplateLimit:
        return TemplateLimit(f"template takes longer than {self.seconds:g}s to render")


local = threading.local()  # .state: the RenderState of the render running in this thread, if any


def weight(value: Any, limit: int = MAX_SIZE) -> int:
    """About how many characters ``str(value)`` has; stops counting once past ``limit``."""
    if isinstance(value, str):
        return len(value)
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 4
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, dict):
            total += 2
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset, abc.KeysView, abc.ValuesView, abc.ItemsView)):
            total += 2
            stack.extend(item)
        else:
            total += 24
    return total


def made(value: Any) -> Any:
    """Account for a value an operation built: refused past MAX_SIZE, charged to the render's work."""
    if isinstance(value, (str, list, tuple, dict, set, frozenset)):
        size = weight(value)
        if size > MAX_SIZE:
            raise TemplateLimit(f"template builds a text or list longer than {MAX_SIZE} characters")
        state = getattr(local, "state", None)
        if state is not None:
            state.work += size
            if state.work > MAX_WORK:
                raise TemplateLimit(f"template builds more than {MAX_WORK} characters in one render")
            if render_clock() > state.deadline:
                raise state.too_slow()
    return value


def need(size: int, what: str = "builds a text or list longer than") -> None:
    if size > MAX_SIZE:
        raise TemplateLimit(f"template {what} {MAX_SIZE} characters")


# -- prechecks: a result's size, estimated before it is computed ---------------------------------

def check_printf(fmt: str, values: Any) -> None:
    items = list(values.values()) if isinstance(values, dict) else list(values) if isinstance(values, tuple) \
        else [values]
    widest, size = max((weight(v) for v in items), default=0), len(fmt)
    for m in _PRINTF_RE.finditer(fmt):
        width, precision = m.group(1) or "0", m.group(2) or "0"
        if "*" in (width, precision) or len(width) > 6 or len(precision) > 6:
            raise TemplateLimit("template uses a % format width that is too large")
        size += int(width) + int(precision) + widest
    need(size)


def check_format(fmt: str, args: tuple, kwargs: dict) -> None:
    widest, size = max((weight(v) for v in (*args, *kwargs.values())), default=0), 0
    for literal, field, spec, _conversion in string.Formatter().parse(fmt):
        numbers = re.findall(r"\d+", spec or "")
        if field is not None and ("{" in (spec or "") or any(len(n) > 6 for n in numbers)):
            raise TemplateLimit("template uses a format width that is too large")
        size += len(literal) + (widest + sum(map(int, numbers)) if field is not None else 0)
    need(size)


def _check_replace(s: Any, old: Any, new: Any, count: Any = None) -> None:
    s, old, new = str(s), str(old), str(html.escape(new) if isinstance(s, Markup) else new)
    n = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        n = min(n, count)
    need(len(s) + n * max(0, len(new) - len(old)))


def check_join(items: Any, separator: Any) -> list:
    items = list(items)  # measured once, joined once
    need(len(items), "joins more than")
    total = len(str(separator)) * max(0, len(items) - 1)
    for item in items:
        total += len(item) if isinstance(item, str) else item.bit_length() // 3 + 2 if isinstance(item, int) \
            else weight(item)
        if total > MAX_SIZE:
            break
    need(total)
    return items


def _int(value: Any) -> int:
    return value if isinstance(value, int) else len(value) if isinstance(value, str) else 0


def precheck(name: str, args: list, kwargs: dict) -> None:
    """For a filter (``args[0]`` is its value) or a str method (``args[0]`` is the string)."""
    def arg(i: int, key: str, default: Any = None) -> Any:
        return args[i] if len(args) > i else kwargs.get(key, default)

    if name in ("center", "ljust", "rjust", "zfill"):
        need(_int(arg(1, "width", 80)), "pads a text to more than")
        return
    text = str(args[0]) if name in ("wordwrap", "indent", "format") else ""
    if name == "wordwrap":
        lines = len(text) // max(_int(arg(1, "width", 79)), 1) + 1
        need(len(text) + lines * len(str(arg(3, "wrapstring") or "\n")))
    elif name == "indent":
        need(len(text) + (text.count("\n") + 1) * _int(arg(1, "width", 4)))
    elif name == "replace" and len(args) >= 3:
        _check_replace(args[0], args[1], args[2], arg(3, "count"))
    elif name == "format":
        check_printf(text, kwargs or tuple(args[1:]))


def guarded(name: str, func: Callable) -> Callable:
    """Jinja's own filter, behind the size checks."""
    passes = getattr(func, "jinja_pass_arg", None) is not None

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        head, rest = (args[:1], list(args[1:])) if passes else ((), list(args))
        if any(weight(value) > MAX_SIZE for value in (*rest, *kwargs.values())):
            raise TemplateLimit(f"template passes a value longer than {MAX_SIZE} characters to {name}")
        if name == "join" and rest:
            rest[0] = check_join(rest[0], rest[1] if len(rest) > 1 else kwargs.get("d", ""))
        elif rest:
            precheck(name, rest, kwargs)
        return made(func(*head, *rest, **kwargs))

    return wrapper


# -- block buffers -----------------------------------------------------------------------------

class CappedBuffer(list):
    """The buffer of a ``{% set %}...{% endset %}`` or ``{% filter %}`` block, cut off past MAX_OUTPUT."""

    size = 0

    def append(self, item: Any) -> None:
        self._count(item)
        super().append(item)

    def extend(self, items: Any) -> None:
        items = tuple(items)
        for item in items:
            self._count(item)
        super().extend(items)

    def _count(self, item: Any) -> None:
        self.size += len(item) if isinstance(item, str) else weight(item)
        if self.size > MAX_OUTPUT:
            raise TemplateLimit(f"template output is longer than {MAX_OUTPUT} characters")
