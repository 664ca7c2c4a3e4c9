"""Telegram texts of the forex domain, rendered from Jinja templates (HTML parse mode, autoescaped).

Built-in templates live in ``forex/templates``; a tenant's ``templates_dir`` config key names a
directory whose files of the same name (signal.j2, update.j2, briefing.j2, daily_recap.j2,
weekly_recap.j2) replace them.
"""

from __future__ import annotations

import re
from pathlib import Path

from promostack_cli.core.errors import ValidationError
from promostack_cli.forex.lifecycle import price_decimals

BUILTIN_DIR = Path(__file__).parent / "templates"
TEMPLATES = ("signal.j2", "update.j2", "briefing.j2", "daily_recap.j2", "weekly_recap.j2")
RESULT_LABELS = {"tp3": "TP3", "stop": "stopped out", "breakeven": "closed at entry after TP1",
                 "locked": "closed at TP1 after TP2", "expired": "closed at market"}


def helpers(pip_size: float, entry: float | None = None, direction: str | None = None) -> dict:
    decimals = price_decimals(pip_size)
    sign = 1 if direction != "SELL" else -1

    def pips(price: float) -> float:
        return round(sign * (price - entry) / pip_size, 1)

    return {
        "price": lambda v: f"{v:,.{decimals}f}" if v is not None else "—",
        "pips": pips,
        "signed": lambda v: "—" if v is None else f"{v:+,.1f}".replace("+0.0", "0.0").replace("-0.0", "0.0"),
        "pct": lambda v: f"{v:g}",
        "result_label": lambda s: RESULT_LABELS.get(s.result or "", "open"),
    }


def render(name: str, templates_dir: str = "", **context) -> str:
    from jinja2 import TemplateSyntaxError

    from promostack_cli.core.templates import environment, render as render_template

    try:  # compiled (and cached) here so that a syntax error names its file, line and column
        environment(str(BUILTIN_DIR), templates_dir or "").get_template(name)
    except TemplateSyntaxError as exc:
        raise ValidationError(syntax_error_message(exc, name, environment(str(BUILTIN_DIR), templates_dir or ""))) from None
    return render_template(BUILTIN_DIR, name, templates_dir, **context)


def check_templates(directory: Path) -> list[str]:
    """The template files in ``directory`` that replace built-in ones, each compiled: a
    ValidationError names the first broken one with its line and column."""
    from jinja2 import TemplateSyntaxError

    from promostack_cli.core.templates import environment

    env = environment(str(BUILTIN_DIR), str(directory))
    found = [name for name in TEMPLATES if (directory / name).is_file()]
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


def signal_text(signal, templates_dir: str = "") -> str:
    return render("signal.j2", templates_dir, s=signal, **helpers(signal.pip_size, signal.entry, signal.direction))


def update_text(signal, event, templates_dir: str = "") -> str:
    hours = round((event.at - signal.opened_at).total_seconds() / 3600, 1)
    return render("update.j2", templates_dir, s=signal, e=event, hours=f"{hours:g}",
                  **helpers(signal.pip_size, signal.entry, signal.direction))
