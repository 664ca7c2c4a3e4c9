"""Writers: a post's facts in, its text out (see the package's docstring for the contract)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Protocol

from promostack_cli.text.facts import Facts
from promostack_cli.text.fit import MESSAGE, require_fit

TEMPLATE = "template"


@dataclass(frozen=True)
class Text:
    """A written text and where it came from: ``source`` names the writer whose words these are
    (``"template"``); ``note`` says why another writer's text was not used, when one was asked first."""

    text: str
    source: str = TEMPLATE
    note: str | None = None


class Writer(Protocol):
    def write(self, kind: str, facts: Facts, *, limit: int = MESSAGE) -> Text:
        """The text of a post of ``kind`` (``"signal"``, ``"teaser"``...) from ``facts``, within
        ``limit`` (:data:`~.fit.MESSAGE`, :data:`~.fit.CAPTION`). Raises ValidationError when no text
        can be written (a broken template, :class:`~.fit.TooLong`). Called outside any database
        transaction: it may take its time (an HTTP call)."""
        ...


@dataclass(frozen=True)
class Catalog:
    """A domain's built-in templates: their directory and the file of each kind of post."""

    builtin_dir: Path
    files: Mapping[str, str]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.files.values())


class TemplateWriter:
    """Writes from Jinja templates: the catalog's built-in ones, each replaced by the file of the same
    name in ``override_dir`` (a tenant's ``templates_dir``) when there is one."""

    def __init__(self, catalog: Catalog, override_dir: str = ""):
        self.catalog, self.override_dir = catalog, override_dir or ""

    def write(self, kind: str, facts: Facts, *, limit: int = MESSAGE) -> Text:
        from promostack_cli.text.templates import render

        text = render(self.catalog.builtin_dir, self.catalog.files[kind], self.override_dir, **facts.context())
        return Text(require_fit(text, limit))


def writer_for(runtime, catalog: Catalog, override_dir: str = "") -> Writer:
    """The writer of ``runtime``'s tenant for the posts of ``catalog``: its templates. This is where a
    tenant's other writer (issue 21: the AI writer, with these templates behind it) is chosen."""
    return TemplateWriter(catalog, override_dir)
