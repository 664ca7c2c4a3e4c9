"""Journey templates: one Jinja sandbox, with the same rules and limits at validation and at run time.

Texts render with autoescape (``parse_mode=HTML``) and strict undefined variables. :func:`parse`
refuses what a message never needs (other files, macros, call blocks, blocks, recursive loops,
autoescape off, Python internals, filters and methods outside :data:`FILTERS` / :data:`METHODS`).
:func:`render` keeps a render small and short: nothing is evaluated at compile time; an operation
that would build more than :data:`MAX_SIZE` characters or items (or an int over
:data:`MAX_INT_BITS` bits) is refused before it runs, and one render builds at most
:data:`MAX_WORK` in all; output stops past :data:`MAX_OUTPUT`; a tracer in the rendering thread
stops it after :data:`RENDER_SECONDS`, so nothing runs on afterwards; every variable is cut to
:data:`MAX_VALUE` characters first (stored values are not touched). A limit raises
:class:`TemplateLimit`, a refused template :class:`TemplateProblem`.
"""

from __future__ import annotations

import contextlib
import functools
import re
import string
import sys
import threading
import time
from collections import abc
from typing import Any, Callable, Iterator

import jinja2
import jinja2.meta
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.filters import FILTERS as JINJA_FILTERS
from jinja2.runtime import LoopContext, Undefined, markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment, safe_range
from jinja2.utils import pass_context
from markupsafe import Markup

from promostack_cli.telegram import html

MAX_SIZE = 100_000        # characters of one text, items of one list, one operation may build
MAX_WORK = 1_000_000      # characters and items all the operations of one render may build together
MAX_INT_BITS = 4096       # about 1,200 digits
MAX_OUTPUT = 65_536       # characters of HTML a render (or a {% set %} block) may produce
MAX_VALUE = html.MAX_MESSAGE_LENGTH  # a variable is cut to this many characters before rendering
RENDER_SECONDS = 0.5
ELLIPSIS = "…"

FILTERS = ("abs", "capitalize", "center", "count", "d", "default", "e", "escape", "first", "float", "format",
           "indent", "int", "join", "last", "length", "lower", "replace", "reverse", "round", "string",
           "striptags", "title", "trim", "truncate", "upper", "urlencode", "wordcount", "wordwrap")
_STR_METHODS = frozenset({
    "capitalize", "casefold", "center", "count", "endswith", "find", "format", "index", "isalnum", "isalpha",
    "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "join", "ljust", "lower",
    "lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition",
    "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper", "zfill"})
_LOOP_ATTRIBUTES = frozenset({"changed", "cycle", "depth", "depth0", "first", "index", "index0", "last", "length",
                              "nextitem", "previtem", "revindex", "revindex0"})
_SAFE_ATTRIBUTES: tuple[tuple[type | tuple[type, ...], frozenset[str]], ...] = (
    (str, _STR_METHODS),
    (dict, frozenset({"get", "items", "keys", "values"})),
    ((list, tuple), frozenset({"count", "index"})),
    (LoopContext, _LOOP_ATTRIBUTES),
)
METHODS = tuple(sorted(_STR_METHODS | {"get", "items", "keys", "values", "cycle", "changed"}))
_LOADER_NODES = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)
_FORBIDDEN = (
    (_LOADER_NODES, "templates cannot include other files (include, import, from, extends)"),
    ((nodes.Macro,), "templates cannot define macros"),
    ((nodes.CallBlock,), "templates cannot use call blocks"),
    ((nodes.Block,), "templates cannot use blocks"),
    ((nodes.EvalContextModifier,), "templates cannot switch autoescape off"),
)
_PRINTF_RE = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.)", re.DOTALL)


class TemplateProblem(Exception):
    """A template that cannot be used; ``str()`` is one clause such as "template reaches Python internals"."""

    def __init__(self, message: str, lineno: int | None = None):
        super().__init__(message)
        self.message, self.lineno = message, lineno


class TemplateLimit(TemplateProblem):
    """A render that hit one of the limits (size, work, output, time)."""


# -- per-render accounting (thread-local: the webhook receiver renders in several threads) --------

class _State:
    def __init__(self) -> None:
        self.deadline = time.monotonic() + RENDER_SECONDS
        self.work = 0


_local = threading.local()


def _too_slow() -> TemplateLimit:
    return TemplateLimit(f"template takes longer than {RENDER_SECONDS:g}s to render")


def _weight(value: Any, limit: int = MAX_SIZE) -> int:
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


def _made(value: Any) -> Any:
    """Account for a value an operation built: refused past MAX_SIZE, charged to the render's work."""
    if isinstance(value, (str, list, tuple, dict, set, frozenset)):
        size = _weight(value)
        if size > MAX_SIZE:
            raise TemplateLimit(f"template builds a text or list longer than {MAX_SIZE} characters")
        state = getattr(_local, "state", None)
        if state is not None:
            state.work += size
            if state.work > MAX_WORK:
                raise TemplateLimit(f"template builds more than {MAX_WORK} characters in one render")
            if time.monotonic() > state.deadline:
                raise _too_slow()
    return value


def _need(size: int, what: str = "builds a text or list longer than") -> None:
    if size > MAX_SIZE:
        raise TemplateLimit(f"template {what} {MAX_SIZE} characters")


# -- prechecks: a result's size, estimated before it is computed ---------------------------------

def _check_printf(fmt: str, values: Any) -> None:
    items = list(values.values()) if isinstance(values, dict) else list(values) if isinstance(values, tuple) \
        else [values]
    widest, size = max((_weight(v) for v in items), default=0), len(fmt)
    for m in _PRINTF_RE.finditer(fmt):
        width, precision = m.group(1) or "0", m.group(2) or "0"
        if "*" in (width, precision) or len(width) > 6 or len(precision) > 6:
            raise TemplateLimit("template uses a % format width that is too large")
        size += int(width) + int(precision) + widest
    _need(size)


def _check_format(fmt: str, args: tuple, kwargs: dict) -> None:
    widest, size = max((_weight(v) for v in (*args, *kwargs.values())), default=0), 0
    for literal, field, spec, _conversion in string.Formatter().parse(fmt):
        numbers = re.findall(r"\d+", spec or "")
        if field is not None and ("{" in (spec or "") or any(len(n) > 6 for n in numbers)):
            raise TemplateLimit("template uses a format width that is too large")
        size += len(literal) + (widest + sum(map(int, numbers)) if field is not None else 0)
    _need(size)


def _check_replace(s: Any, old: Any, new: Any, count: Any = None) -> None:
    s, old, new = str(s), str(old), str(html.escape(new) if isinstance(s, Markup) else new)
    n = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        n = min(n, count)
    _need(len(s) + n * max(0, len(new) - len(old)))


def _check_join(items: Any, separator: Any) -> list:
    items = list(items)  # measured once, joined once
    _need(len(items), "joins more than")
    total = len(str(separator)) * max(0, len(items) - 1)
    for item in items:
        total += len(item) if isinstance(item, str) else item.bit_length() // 3 + 2 if isinstance(item, int) \
            else _weight(item)
        if total > MAX_SIZE:
            break
    _need(total)
    return items


def _int(value: Any) -> int:
    return value if isinstance(value, int) else len(value) if isinstance(value, str) else 0


def _precheck(name: str, args: list, kwargs: dict) -> None:
    """For a filter (``args[0]`` is its value) or a str method (``args[0]`` is the string)."""
    def arg(i: int, key: str, default: Any = None) -> Any:
        return args[i] if len(args) > i else kwargs.get(key, default)

    if name in ("center", "ljust", "rjust", "zfill"):
        _need(_int(arg(1, "width", 80)), "pads a text to more than")
        return
    text = str(args[0]) if name in ("wordwrap", "indent", "format") else ""
    if name == "wordwrap":
        lines = len(text) // max(_int(arg(1, "width", 79)), 1) + 1
        _need(len(text) + lines * len(str(arg(3, "wrapstring") or "\n")))
    elif name == "indent":
        _need(len(text) + (text.count("\n") + 1) * _int(arg(1, "width", 4)))
    elif name == "replace" and len(args) >= 3:
        _check_replace(args[0], args[1], args[2], arg(3, "count"))
    elif name == "format":
        _check_printf(text, kwargs or tuple(args[1:]))


def _guarded(name: str, func: Callable) -> Callable:
    """Jinja's own filter, behind the size checks."""
    passes = getattr(func, "jinja_pass_arg", None) is not None

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        head, rest = (args[:1], list(args[1:])) if passes else ((), list(args))
        if any(_weight(value) > MAX_SIZE for value in (*rest, *kwargs.values())):
            raise TemplateLimit(f"template passes a value longer than {MAX_SIZE} characters to {name}")
        if name == "join" and rest:
            rest[0] = _check_join(rest[0], rest[1] if len(rest) > 1 else kwargs.get("d", ""))
        elif rest:
            _precheck(name, rest, kwargs)
        return _made(func(*head, *rest, **kwargs))

    return wrapper


# -- the environment ----------------------------------------------------------------------------

class _CappedBuffer(list):
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
        self.size += len(item) if isinstance(item, str) else _weight(item)
        if self.size > MAX_OUTPUT:
            raise TemplateLimit(f"template output is longer than {MAX_OUTPUT} characters")


class _CodeGenerator(CodeGenerator):
    """Routes concatenation, container literals and block buffers through the environment's checks."""

    def buffer(self, frame):  # type: ignore[no-untyped-def]
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.capped_buffer()")

    def visit_Concat(self, node, frame):  # type: ignore[no-untyped-def]
        self.write("environment.checked_concat(context, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def _checked(self, visit, node, frame):  # type: ignore[no-untyped-def]
        if getattr(node, "ctx", "load") != "load":  # an assignment target, not a value
            return visit(node, frame)
        self.write("environment.checked_value(")
        visit(node, frame)
        self.write(")")

    def visit_List(self, node, frame):  # type: ignore[no-untyped-def]
        self._checked(super().visit_List, node, frame)

    def visit_Tuple(self, node, frame):  # type: ignore[no-untyped-def]
        self._checked(super().visit_Tuple, node, frame)

    def visit_Dict(self, node, frame):  # type: ignore[no-untyped-def]
        self._checked(super().visit_Dict, node, frame)


@pass_context
def _finalize(_context: Any, value: Any) -> Any:
    return value  # bound to the context only so that Jinja evaluates no output at compile time


class JourneySandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _CodeGenerator

    def __init__(self) -> None:
        super().__init__(autoescape=True, undefined=jinja2.StrictUndefined, optimized=False, finalize=_finalize)
        self.filters = {name: _guarded(name, JINJA_FILTERS[name]) for name in FILTERS}
        self.globals = {"range": safe_range, "dict": dict}  # no lipsum, namespace, cycler, joiner

    # values built by the template
    capped_buffer = staticmethod(_CappedBuffer)
    checked_value = staticmethod(_made)

    def checked_concat(self, context: Any, parts: tuple) -> str:
        _need(sum(_weight(p) for p in parts))
        return _made((markup_join if context.eval_ctx.autoescape else str_join)(parts))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:  # type: ignore[override]
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_SIZE:
                    raise TemplateLimit("template repeats a value too many times")
            bits = left.bit_length() + right.bit_length() if isinstance(left, int) and isinstance(right, int) else 0
            if bits > MAX_INT_BITS:
                raise TemplateLimit("template computes too large a number")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            if left.bit_length() * right > MAX_INT_BITS:
                raise TemplateLimit("template raises a number to too large a power")
        elif operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            _need(len(left) + len(right))
        elif operator == "%" and isinstance(left, str):
            _check_printf(left, right)
        return _made(super().call_binop(context, operator, left, right))

    def getitem(self, obj: Any, argument: Any) -> Any:
        value = super().getitem(obj, argument)
        return _made(value) if isinstance(argument, slice) else value

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        return any(isinstance(obj, kinds) and attr in names for kinds, names in _SAFE_ATTRIBUTES)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        if attribute.startswith("_"):
            raise TemplateProblem("template reaches Python internals")
        raise TemplateProblem(f"template uses '{attribute}' of a {type(obj).__name__}, which is not allowed; "
                              f"allowed methods: {', '.join(METHODS)}")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if getattr(value, "__name__", None) != "format":
            return None  # format_map is not on the list of methods
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_format(fmt, args, kwargs)
            return _made(wrapped(*args, **kwargs))

        checked.journey_safe = True  # type: ignore[attr-defined]
        return checked

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
        if isinstance(owner, str) and name in _STR_METHODS:
            if name == "join" and args:
                args = (_check_join(args[0], owner), *args[1:])
            else:
                _precheck(name, [owner, *args], kwargs)
        elif not (__obj is safe_range or __obj is dict or isinstance(__obj, Undefined)
                  or getattr(__obj, "journey_safe", False)
                  or any(isinstance(owner, kinds) and name in names for kinds, names in _SAFE_ATTRIBUTES[1:])):
            raise TemplateProblem(f"template calls '{name or type(__obj).__name__}', which is not allowed; "
                                  f"allowed methods: {', '.join(METHODS)}")
        return _made(super().call(__context, __obj, *args, **kwargs))


_ENV = JourneySandbox()


# -- compile time -------------------------------------------------------------------------------

def _reaches_internals(ast: nodes.Template) -> bool:
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        if isinstance(node, nodes.Getattr):
            names = [node.attr]
        elif isinstance(node, nodes.Getitem) or node.name == "attr":
            args = [node.arg] if isinstance(node, nodes.Getitem) else node.args
            names = [a.value for a in args if isinstance(a, nodes.Const) and isinstance(a.value, str)]
        else:
            names = []
        if any(name.startswith("_") for name in names):
            return True
    return False


def _check_rules(ast: nodes.Template) -> None:
    """The rules every journey template follows (validation and run time check the same)."""
    for kinds, message in _FORBIDDEN:
        node = next(ast.find_all(kinds), None)
        if node is not None:
            raise TemplateProblem(message, node.lineno)
    loop = next((f for f in ast.find_all(nodes.For) if f.recursive), None)
    if loop is not None:
        raise TemplateProblem("templates cannot use recursive for loops", loop.lineno)
    if _reaches_internals(ast):
        raise TemplateProblem("template reaches Python internals")
    for node in ast.find_all(nodes.Filter):
        if node.name not in FILTERS:
            raise TemplateProblem(f"filter '{node.name}' is not allowed; allowed filters: {', '.join(FILTERS)}",
                                  node.lineno)
    for node in ast.find_all(nodes.Call):
        if isinstance(node.node, nodes.Getattr) and node.node.attr not in METHODS:
            raise TemplateProblem(f"method '{node.node.attr}' is not allowed; allowed methods: {', '.join(METHODS)}",
                                  node.lineno)


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    try:
        yield
    except jinja2.TemplateSyntaxError as exc:  # also an unknown test, found when compiling
        raise TemplateProblem(f"template syntax error: {exc.message}", exc.lineno) from None
    except (RecursionError, MemoryError):
        raise TemplateProblem("template is nested too deeply") from None
    except TemplateProblem:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. a number literal with too many digits
        raise TemplateProblem(f"template cannot be read: {exc}") from None


def parse(text: str) -> nodes.Template:
    """Parse and check the rules; raises TemplateProblem (its lineno is the template's line, if known)."""
    with _reading():
        ast = _ENV.parse(text)
    _check_rules(ast)
    return ast


def variables(ast: nodes.Template) -> set[str]:
    return jinja2.meta.find_undeclared_variables(ast)


def compile_template(text_or_ast: str | nodes.Template) -> jinja2.Template:
    """What :func:`render` takes: a text (checked by :func:`parse`) or a tree :func:`parse` returned."""
    ast = parse(text_or_ast) if isinstance(text_or_ast, str) else text_or_ast
    with _reading():
        return _ENV.from_string(ast)


def constant_limits(ast: nodes.Template) -> None:
    """Evaluate constant operations (also in branches a sample render does not take) under the
    render's limits: ``{{ 'x' * 10**9 }}`` is refused even inside an ``{% if %}`` that is never true."""
    memo: dict[int, Any] = {}
    missing = object()

    def value(node: nodes.Node) -> Any:
        if id(node) in memo:
            return memo[id(node)]
        result: Any = missing
        if isinstance(node, nodes.Const):
            result = node.value
        elif isinstance(node, (nodes.List, nodes.Tuple)):
            items = [value(i) for i in node.items]
            result = missing if missing in items else _made(list(items))
        elif isinstance(node, nodes.BinExpr) and node.operator in _ENV.intercepted_binops:
            left, right = value(node.left), value(node.right)
            if left is not missing and right is not missing:
                try:
                    result = _ENV.call_binop(None, node.operator, left, right)
                except TemplateLimit:
                    raise
                except Exception:  # noqa: BLE001 - a type error and such: the render reports it
                    result = missing
        elif isinstance(node, nodes.Concat):
            parts = [value(p) for p in node.nodes]
            if missing not in parts:
                _need(sum(_weight(p) for p in parts))
                result = _made("".join(map(str, parts)))
        memo[id(node)] = result
        return result

    for node in ast.find_all((nodes.BinExpr, nodes.Concat)):
        try:
            value(node)
        except TemplateLimit as exc:
            raise TemplateLimit(exc.message, node.lineno) from None
        except RecursionError:
            return


# -- run time -----------------------------------------------------------------------------------

def clip(value: Any, limit: int = MAX_VALUE) -> Any:
    """A text cut to ``limit`` characters, ending in an ellipsis when cut; other values as they are."""
    if isinstance(value, str) and len(value) > limit:
        return value[: max(limit - 1, 0)] + ELLIPSIS
    return value


def render(template: jinja2.Template, variables: dict[str, Any], *, cut: int = MAX_VALUE) -> str:
    """Render under the limits, with every text variable cut to ``cut`` characters."""
    state, previous_state = _State(), getattr(_local, "state", None)

    def watch(frame: Any, event: str, arg: Any) -> Any:
        if time.monotonic() > state.deadline:
            raise _too_slow()
        return watch

    def tracer(frame: Any, event: str, arg: Any) -> Any:  # only the template's own frames are watched
        return watch if frame.f_code.co_filename == "<template>" else None

    out: list[str] = []
    size, previous_tracer = 0, sys.gettrace()
    _local.state = state
    sys.settrace(tracer)
    try:
        chunks = template.generate({k: clip(v, cut) for k, v in variables.items()})
        try:
            for chunk in chunks:
                size += len(chunk)
                if size > MAX_OUTPUT:
                    raise TemplateLimit(f"template output is longer than {MAX_OUTPUT} characters")
                out.append(chunk)
        finally:
            chunks.close()
    finally:
        sys.settrace(previous_tracer)
        _local.state = previous_state
    return "".join(out)
