"""The CLI reference (docs/cli.md) from the commands' own ``--help``, written by cog.

``./dev docs`` regenerates docs/cli.md; ``tests/test_docs.py`` runs ``cog --check`` so the
reference cannot go stale. Help is rendered at a fixed width without colour, so the text is the
same on every machine.
"""

from __future__ import annotations

import os
from typing import Iterator

WIDTH = "100"


def _walk(command, path: list[str]) -> Iterator[tuple[list[str], object]]:
    """Every command under ``command``; the root's sub-apps are loaded on the way (they are lazy)."""
    yield path, command
    if not hasattr(command, "list_commands"):
        return
    for name in sorted(command.list_commands(None)):
        sub = command.get_command(None, name)
        if sub is not None and not getattr(sub, "hidden", False):
            yield from _walk(sub, path + [name])


def help_texts() -> Iterator[tuple[str, str]]:
    """(``promostack journeys import``, its --help) for every command, root first, then sorted."""
    os.environ.update({"TERMINAL_WIDTH": WIDTH, "COLUMNS": WIDTH, "NO_COLOR": "1", "_TYPER_FORCE_DISABLE_TERMINAL": "1"})
    import typer
    from typer.testing import CliRunner

    from promostack_cli.main import app

    runner = CliRunner()
    root = typer.main.get_command(app)
    for path, _ in _walk(root, []):
        result = runner.invoke(app, [*path, "--help"], prog_name="promostack", terminal_width=int(WIDTH),
                               env={"TERMINAL_WIDTH": WIDTH, "COLUMNS": WIDTH, "NO_COLOR": "1"})
        if result.exit_code != 0:
            raise RuntimeError(f"promostack {' '.join(path)} --help failed: {result.output}")
        text = "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())
        yield " ".join(["promostack", *path]), text


def markdown() -> str:
    parts = []
    for name, text in help_texts():
        depth = min(name.count(" ") + 1, 4)
        parts.append(f"{'#' * (depth + 1)} `{name}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)
