"""Journey templates: one Jinja sandbox, with the same rules and limits at validation and at run time.

Texts render with autoescape (``parse_mode=HTML``) and strict undefined variables. :func:`parse`
refuses what a message never needs (other files, macros, call blocks, blocks, recursive loops,
autoescape off, Python internals, filters and methods outside :data:`FILTERS` / :data:`METHODS`).
:func:`render` keeps a render small and short: nothing is evaluated at compile time; the sizes
operations build are limited as :mod:`.template_limits` describes (this sandbox routes every
operation through its checks); output stops past :data:`~.template_limits.MAX_OUTPUT`; a tracer in
the rendering thread stops it after :data:`RENDER_SECONDS` of its CPU time (a busy machine does not
stop a render that needs little), so nothing runs on afterwards; every
variable is cut to :data:`MAX_VALUE` characters first (stored values are not touched). A limit
raises :class:`TemplateLimit`, a refused template :class:`TemplateProblem`.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Callable, Iterator

import jinja2
import jinja2.meta
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.filters import FILTERS as JINJA_FILTERS
from jinja2.runtime import LoopContext, Undefined, markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment, safe_range
from jinja2.utils import pass_context

from promostack_cli.text import template_limits as limits
from promostack_cli.text.template_limits import TemplateLimit, TemplateProblem
from promostack_cli.telegram import html

__all__ = ["FILTERS", "MAX_VALUE", "METHODS", "RENDER_SECONDS", "JourneySandbox", "TemplateLimit", "TemplateProblem",
           "clip", "compile_template", "constant_limits", "parse", "render", "variables"]

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


# -- the environment ----------------------------------------------------------------------------

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
        self.filters = {name: limits.guarded(name, JINJA_FILTERS[name]) for name in FILTERS}
        self.globals = {"range": safe_range, "dict": dict}  # no lipsum, namespace, cycler, joiner

    # values built by the template
    capped_buffer = staticmethod(limits.CappedBuffer)
    checked_value = staticmethod(limits.made)

    def checked_concat(self, context: Any, parts: tuple) -> str:
        limits.need(sum(limits.weight(p) for p in parts))
        return limits.made((markup_join if context.eval_ctx.autoescape else str_join)(parts))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:  # type: ignore[override]
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > limits.MAX_SIZE:
                    raise TemplateLimit("template repeats a value too many times")
            bits = left.bit_length() + right.bit_length() if isinstance(left, int) and isinstance(right, int) else 0
            if bits > limits.MAX_INT_BITS:
                raise TemplateLimit("template computes too large a number")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            if left.bit_length() * right > limits.MAX_INT_BITS:
                raise TemplateLimit("template raises a number to too large a power")
        elif operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            limits.need(len(left) + len(right))
        elif operator == "%" and isinstance(left, str):
            limits.check_printf(left, right)
        return limits.made(super().call_binop(context, operator, left, right))

    def getitem(self, obj: Any, argument: Any) -> Any:
        value = super().getitem(obj, argument)
        return limits.made(value) if isinstance(argument, slice) else value

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
            limits.check_format(fmt, args, kwargs)
            return limits.made(wrapped(*args, **kwargs))

        checked.journey_safe = True  # type: ignore[attr-defined]
        return checked

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
        if isinstance(owner, str) and name in _STR_METHODS:
            if name == "join" and args:
                args = (limits.check_join(args[0], owner), *args[1:])
            else:
                limits.precheck(name, [owner, *args], kwargs)
        elif not (__obj is safe_range or __obj is dict or isinstance(__obj, Undefined)
                  or getattr(__obj, "journey_safe", False)
                  or any(isinstance(owner, kinds) and name in names for kinds, names in _SAFE_ATTRIBUTES[1:])):
            raise TemplateProblem(f"template calls '{name or type(__obj).__name__}', which is not allowed; "
                                  f"allowed methods: {', '.join(METHODS)}")
        return limits.made(super().call(__context, __obj, *args, **kwargs))


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
            result = missing if missing in items else limits.made(list(items))
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
                limits.need(sum(limits.weight(p) for p in parts))
                result = limits.made("".join(map(str, parts)))
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
    state, previous_state = limits.RenderState(RENDER_SECONDS), getattr(limits.local, "state", None)

    def watch(frame: Any, event: str, arg: Any) -> Any:
        if limits.render_clock() > state.deadline:
            raise state.too_slow()
        return watch

    def tracer(frame: Any, event: str, arg: Any) -> Any:  # only the template's own frames are watched
        return watch if frame.f_code.co_filename == "<template>" else None

    out: list[str] = []
    size, previous_tracer = 0, sys.gettrace()
    limits.local.state = state
    sys.settrace(tracer)
    try:
        chunks = template.generate({k: clip(v, cut) for k, v in variables.items()})
        try:
            for chunk in chunks:
                size += len(chunk)
                if size > limits.MAX_OUTPUT:
                    raise TemplateLimit(f"template output is longer than {limits.MAX_OUTPUT} characters")
                out.append(chunk)
        finally:
            chunks.close()
    finally:
        sys.settrace(previous_tracer)
        limits.local.state = previous_state
    return "".join(out)
