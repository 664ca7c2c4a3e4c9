"""Jinja environments for Telegram texts: built-in templates a tenant's directory may override.

HTML parse mode, so every value is autoescaped; undefined names are errors, not empty strings. A
template that fails names itself, its line and the reason in one line.
"""

from __future__ import annotations

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
    except TemplateSyntaxError as exc:
        raise ValidationError(f"Template {exc.filename or name} line {exc.lineno}: {exc.message}") from None
    except TemplateError as exc:
        raise ValidationError(f"Template {name} failed: {exc}") from None
    return "\n".join(line.rstrip() for line in text.strip().splitlines())
