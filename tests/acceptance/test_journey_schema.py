"""``promostack journeys schema`` prints the generated JSON Schema."""

from __future__ import annotations

import json

from promostack_cli.journeys.spec.schema import json_schema
from tests.acceptance.conftest import Cli, base_env


def test_the_schema_command_prints_the_generated_schema(tmp_path):
    result = Cli(base_env(tmp_path), tmp_path)("journeys", "schema")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == json_schema()
