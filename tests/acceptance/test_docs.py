"""docs/cli.md is every command's --help as the code prints it today (regenerate: ./dev docs); cog runs the
commands to check it."""

import subprocess
import sys

from tests.conftest import ROOT


def test_the_cli_reference_is_not_stale():
    r = subprocess.run([sys.executable, "-m", "cogapp", "--check", "--diff", "docs/cli.md"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, "docs/cli.md is stale: run ./dev docs\n" + r.stdout[-3000:] + r.stderr[-2000:]
