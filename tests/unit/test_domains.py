"""Every domain comes in one declared way (``domain.py`` + one line in ``promostack_cli/domains.py``):
the root CLI, the update router, the tick and the receiver all read the declarations, and a new domain
needs nothing else."""

import re
from pathlib import Path

import pytest

from promostack_cli.core.domain import load
from promostack_cli.domains import PACKAGES, domains

ROOT = Path(__file__).resolve().parents[2]


def test_every_declared_way_in_resolves_and_names_itself_as_declared():
    names = set()
    for domain in domains():
        for command in domain.commands:
            app = load(command.app)
            assert app.info.help == command.help, command.name  # the sub-app takes its help from here
            names.add(command.name)
        for step in domain.steps:
            cls = load(step.factory)
            assert cls.name == step.name and step.name.startswith(domain.name + ".")
            assert callable(load(step.due))
        for ref in (domain.models, domain.handlers, domain.routes):
            if ref:
                assert load(ref) is not None
    assert len(names) == sum(len(d.commands) for d in domains()), "two domains declare the same command"


def test_every_package_is_shipped():
    """pyproject lists the packages (migrations/ is mapped into the package): a new one must be listed."""
    listed = set(re.findall(r'^\s*"(promostack_cli[\w.]*|jobs)",', (ROOT / "pyproject.toml").read_text(), re.M))
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "promostack_cli").rglob("__init__.py")}
    found |= {"jobs"}
    assert found - {"promostack_cli.migrations"} <= listed, sorted(found - listed)


@pytest.fixture
def extra(monkeypatch):
    """One more package in the domains' list: the only change a new domain makes outside its folder."""
    import promostack_cli.domains as registry

    monkeypatch.setattr(registry, "PACKAGES", PACKAGES + ("tests.data.extra_domain",))
    registry.domains.cache_clear()
    yield
    registry.domains.cache_clear()


def test_a_new_domain_is_listed_and_run_by_the_root_cli(extra, capsys):
    from typer.testing import CliRunner

    from promostack_cli.main import build_app

    build_app.cache_clear()
    try:
        runner = CliRunner()
        listing = runner.invoke(build_app(), ["--help"])
        assert re.search(r"^\s+extra\s+Extra: a domain the tests add\.$", listing.output, re.M), listing.output
        result = runner.invoke(build_app(), ["extra", "hello", "Ana", "--tenant", "acme"])
        assert result.exit_code == 0 and result.output.strip() == "hello Ana (tenant acme)", result.output
    finally:
        build_app.cache_clear()


def test_a_new_domains_handler_gets_updates_with_its_context(extra):
    from promostack_cli.telegram.routing import UpdateContext
    from promostack_cli.telegram.updates import BotRef, parse
    from promostack_cli.webhooks.handlers import build_router

    update = parse({"update_id": 1, "message": {"message_id": 1, "date": 1, "text": "/ping", "from": {"id": 5},
                                                "chat": {"id": 5, "type": "private"}}}, BotRef(7, 1, "message_bot"))
    from tests.data.extra_domain import parts

    handler = build_router().handlers_for(update)[0]   # /ping: a command, tried before any message handler
    assert handler is parts.on_ping
    handled = handler(UpdateContext(None, update, None, "the settings", "the box"))
    assert handled.result == "pong from extra, tenant 7, settings the settings"


def test_a_new_domains_step_runs_in_its_group_in_stage_order(extra):
    from promostack_cli.domains import steps

    names = [s.name for s in steps("tick")]
    assert names.index("extra.count") < names.index("outbox.delivery"), names   # WORK before DELIVER
    assert "extra.count" not in [s.name for s in steps("forex")]


def test_a_new_domains_route_is_served_by_the_receiver(extra):
    from promostack_cli.settings import Settings
    from promostack_cli.webhooks.app import Receiver

    receiver = Receiver(db=None, box=None, settings=Settings(), dispatcher=None, batcher=None, on_enqueued=None)
    routes = [r.path for d in domains() if d.routes for r in load(d.routes)(receiver)]
    assert "/extra" in routes and "/api/bot-webhook/{secret}" in routes and "/api/stripe/webhook/{tenant}" in routes
