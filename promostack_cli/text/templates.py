"""Jinja environments for Telegram texts: built-in templates a tenant's directory may override.

HTML parse mode, so every value is autoescaped; undefined names are errors, not empty strings. A
template that fails names itself, its line and the reason in one line; a syntax error also names
its column (Jinja reports only the line: :func:`failing_column` finds the token it stopped at).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from promostack_cli.core.errors import ValidationError


@lru_cache(maxsize=32)
def environment(builtin_dir: str, override_dir: str = ""):
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

    loaders = []
    if override_dir:
        if not Path(override_dir).is_dir():
            raise ValidationError(f"templates_dir {override_dir} is not a directory.")
        loaders.append(FileSystemLoader(override_dir))
    loaders.append(FileSystemLoader(builtin_dir))
    return Environment(loader=ChoiceLoader(loaders), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=False, keep_trailing_newline=False)


def render(builtin_dir: str | Path, name: str, override_dir: str = "", **context) -> str:
    """``name`` rendered with ``context``; trailing spaces and blank edges trimmed."""
    from jinja2 import TemplateError, TemplateSyntaxError

    env = environment(str(builtin_dir), override_dir or "")
    try:
        text = env.get_template(name).render(**context)
    except TemplateSyntaxError as exc:  # compiling: name the file, line and column
        raise ValidationError(syntax_error_message(exc, name, env)) from None
    except TemplateError as exc:
        raise ValidationError(f"Template {name} failed: {exc}") from None
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def check_overrides(builtin_dir: str | Path, directory: Path, names) -> list[str]:
    """The files among ``names`` in ``directory`` that replace built-in ones, each compiled: a
    ValidationError names the first broken one with its line and column."""
    from jinja2 import TemplateSyntaxError

    env = environment(str(builtin_dir), str(directory))
    found = [name for name in names if (directory / name).is_file()]
    for name in found:
        path = directory / name
        try:
            env.parse(path.read_text(encoding="utf-8"), name, str(path))
        except UnicodeDecodeError:
            raise ValidationError(f"Template {path} is not UTF-8 text.") from None
        except TemplateSyntaxError as exc:
            raise ValidationError(syntax_error_message(exc, name, env)) from None
    return found


_QUOTED = re.compile(r"'([^']+)'")
_TAG_OPEN = re.compile(r"\{[{%#]")
_TOKEN_NAMES = {"end of print statement": "}}", "end of statement block": "%}"}


def syntax_error_message(exc, name: str, env=None) -> str:
    """``Template /dir/signal.j2 line 3, column 14: unexpected '}'`` (one line)."""
    message = " ".join(str(exc.message or exc).split())
    line = exc.lineno or 1
    source = exc.source or ""
    column = (failing_column(env, source, name) if env is not None else None) or error_column(source, line, message)
    return f"Template {exc.filename or name} line {line}, column {column}: {message}"


def failing_column(env, source: str, name: str) -> int | None:
    """Jinja reports only the line: parse again, remembering where each token starts, and return the
    1-based column of the token the parser stopped at (None when that cannot be told)."""
    from jinja2 import TemplateSyntaxError
    from jinja2.lexer import TokenStream
    from jinja2.parser import Parser

    text = "\n".join(re.split(r"\r\n|\r|\n", source))

    def column(at: int) -> int:
        return at - (text.rfind("\n", 0, at) + 1) + 1

    try:
        tokens, starts, offset = [], {}, 0
        try:
            for raw in env.lexer.tokeniter(source, name):
                value = raw[2]
                found = text.find(value, offset) if value else offset
                offset = found if found >= 0 else offset
                for token in env.lexer.wrap(iter([raw]), name):
                    tokens.append(token)
                    starts[id(token)] = offset
                offset += len(value)
        except TemplateSyntaxError:  # the lexer stopped: at the first character it could not take
            while offset < len(text) and text[offset] in " \t":
                offset += 1
            return column(offset)
        parser = Parser(env, source, name)
        parser.stream = TokenStream(iter(tokens), name, None)
        try:
            parser.parse()
        except Exception:  # noqa: BLE001 - the error we are locating
            at = starts.get(id(parser.stream.current))
            return None if at is None else column(at)
    except Exception:  # noqa: BLE001 - the lexer itself failed: fall back to the message
        return None
    return None


def error_column(source: str, lineno: int, message: str) -> int:
    """Jinja reports only the line: find the column (1-based) of the token the message names on it.

    ``got 'X'`` / ``unexpected 'X'`` / ``unknown tag 'X'`` / ``No filter named 'X'`` point at X;
    an unclosed block (``The innermost block ... is 'if'``) at its ``{%``; otherwise the line's first tag.
    """
    lines = source.splitlines()
    text = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    first_tag = _TAG_OPEN.search(text)
    start = first_tag.start() + 2 if first_tag else 0
    block = re.search(r"innermost block that needs to be closed is '(\w+)'", message)
    if block:
        m = re.search(r"\{%-?\s*" + re.escape(block[1]) + r"\b", text)
        if m:
            return m.start() + 1
    got = re.search(r"got '([^']+)'", message)
    quoted = [got[1]] if got else _QUOTED.findall(message)[:1]
    for token in quoted:
        token = _TOKEN_NAMES.get(token, token)
        pattern = r"\b" + re.escape(token) + r"\b" if token.isidentifier() else re.escape(token)
        for offset in (start, 0):
            m = re.compile(pattern).search(text, offset)
            if m:
                return m.start() + 1
    return first_tag.start() + 1 if first_tag else 1
