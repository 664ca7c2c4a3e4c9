"""``promostack journeys simulate`` walks a journey file through the state machine at a terminal."""

from tests.acceptance.conftest import Cli, base_env
from tests.unit.test_journey_engine import WELCOME


def test_simulate_cli_walks_through_a_file(tmp_path):
    path = tmp_path / "welcome.yaml"
    path.write_text(WELCOME)
    cli = Cli(base_env(tmp_path), tmp_path)
    r = cli("journeys", "simulate", str(path), "--var", "username=sam", input="dunno\n#2\n\n")
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "bot › Hi Alex!" in lines and "   … 10m later" in lines
    assert "bot › Please pick a button." in lines
    assert "bot › Reply YES for the VIP link (1-3 years)." in lines
    assert "bot › No worries." in lines and lines[-1] == "── session completed: no reply before the timeout"
    r = cli("journeys", "simulate", str(tmp_path / "missing.yaml"))
    assert r.code == 2
