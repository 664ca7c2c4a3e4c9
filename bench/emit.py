"""What the benchmarks share at their end: the revision they measured, and the figures printed as a
table or as JSON (``--json``) and written to a file (``--save``; ``bench/results/`` is gitignored)."""

import json
import subprocess
from pathlib import Path

from bench.delivery import ROOT


def revision() -> str:
    """The measured product: the last commit outside bench/ (``-dirty`` if it has changes there), so
    before/after runs say what they ran whatever the benchmarks' own commits."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args, "--", ".", ":(exclude)bench"],
                              capture_output=True, text=True).stdout.strip()

    commit = git("log", "-1", "--format=%h")
    return (commit + ("-dirty" if git("status", "--porcelain") else "")) if commit else "unknown"


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
