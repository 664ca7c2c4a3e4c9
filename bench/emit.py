"""What the benchmarks share at their end: the revision they measured, and the figures printed as a
table or as JSON (``--json``) and written to a file (``--save``; ``bench/results/`` is gitignored)."""

import json
import subprocess
from pathlib import Path

from bench.delivery import ROOT


def revision() -> str:
    """The measured checkout, ``git describe --always --dirty``: before/after runs say what they ran."""
    done = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def emit(res: dict, report, as_json: bool = False, save: str | None = None) -> dict:
    """Write ``res`` to ``save`` if given; print it as JSON, or through ``report`` (a table)."""
    if save:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        Path(save).write_text(json.dumps(res, indent=2) + "\n")
    if as_json:
        print(json.dumps(res, indent=2))
    else:
        report(res)
    return res
