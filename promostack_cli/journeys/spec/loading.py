"""From a file or a text to a YAML node tree, within the limits.

A file over MAX_FILE_BYTES, nested deeper than MAX_DEPTH or with more than MAX_STEPS steps is
refused with one problem, found before the YAML is composed: PyYAML's parser is a state machine
(its composer recurses), so :func:`_scan` costs no stack however deep the file is, and the node
tree is then composed from the events already scanned.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from yaml.nodes import Node

from promostack_cli.journeys.spec.model import SpecError
from promostack_cli.journeys.spec.rules import MAX_DEPTH, MAX_FILE_BYTES, MAX_STEPS, TOO_DEEP, TOO_MANY_STEPS


def too_large(size: int) -> str:
    return f"the file is {size:,} bytes; a journey file may be at most 1 MiB ({MAX_FILE_BYTES:,} bytes)"


def read_file(path: str | Path) -> tuple[str | None, SpecError | None]:
    """The file's text (a UTF-8 BOM dropped), or the one problem that stops it being read."""
    try:
        if (size := Path(path).stat().st_size) > MAX_FILE_BYTES:
            return None, SpecError(str(path), 1, too_large(size))
        return Path(path).read_text(encoding="utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return None, SpecError(str(path), 1, f"cannot read the file: not UTF-8 ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        return None, SpecError(str(path), 1, f"cannot read the file: {exc.strerror or exc}")


def compose(text: str, path: str) -> tuple[Node | None, SpecError | None]:
    """The document's root node (None for an empty document), or the one problem that refuses it."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        return None, SpecError(path, 1, too_large(size))
    try:
        return _Replay(_scan(text)).get_single_node(), None
    except _TooBig as exc:
        return None, SpecError(path, *exc.args)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "syntax error"
        context = f"{exc.context}, " if exc.context else ""
        return None, SpecError(path, mark.line + 1 if mark else 1, f"invalid YAML: {context}{problem}",
                               column=mark.column + 1 if mark else None)
    except yaml.YAMLError as exc:
        return None, SpecError(path, 1, f"invalid YAML: {exc}")


class _TooBig(Exception):
    """(line, message): a file refused while it is scanned."""


class _Replay(yaml.composer.Composer, yaml.resolver.Resolver):
    """PyYAML's composer (and SafeLoader's tag resolver) fed from events already scanned."""

    def __init__(self, events: list[yaml.Event]):
        yaml.composer.Composer.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._events, self._next = events, 0

    def check_event(self, *choices: type) -> bool:
        return self._next < len(self._events) and (not choices or isinstance(self._events[self._next], choices))

    def peek_event(self) -> yaml.Event:
        return self._events[self._next]

    def get_event(self) -> yaml.Event:
        self._next += 1
        return self._events[self._next - 1]


def _scan(text: str) -> list[yaml.Event]:
    """The YAML's events, refused past MAX_DEPTH levels or MAX_STEPS steps."""
    loader = yaml.SafeLoader(text)
    events: list[yaml.Event] = []
    frames: list[list] = []  # per open collection: [is_mapping, children seen, last key, is the steps list]
    try:
        while loader.check_event():
            event = loader.get_event()
            events.append(event)
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frames.pop()
                continue
            starts_steps = False
            if isinstance(event, yaml.NodeEvent) and frames:
                frame = frames[-1]
                frame[1] += 1
                if frame[0] and frame[1] % 2 == 1:
                    frame[2] = event.value if isinstance(event, yaml.ScalarEvent) else None
                if frame[3] and frame[1] > MAX_STEPS:
                    raise _TooBig(event.start_mark.line + 1, TOO_MANY_STEPS)
                starts_steps = len(frames) == 1 and frame[0] and frame[1] % 2 == 0 and frame[2] == "steps"
            if isinstance(event, yaml.CollectionStartEvent):
                if len(frames) >= MAX_DEPTH:
                    raise _TooBig(event.start_mark.line + 1, TOO_DEEP)
                frames.append([isinstance(event, yaml.MappingStartEvent), 0, None, starts_steps])
    finally:
        loader.dispose()
    return events
