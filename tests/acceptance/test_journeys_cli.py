"""Journeys as YAML in git: validate, import (atomic, planned), export (canonical), link — both databases."""

import shutil
from pathlib import Path

import sqlalchemy as sa

from promostack_cli.db import Database

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "journeys"


def _setup(cli):
    assert cli("tenants", "add", "entrylab").code == 0
    r = cli("-t", "entrylab", "connections", "set", "message_bot", "--no-validate", "--username", "entrylab_helper_bot",
            "--token", "7000000002:AAFmessagemessagemessagemessage0002")
    assert r.code == 0, r.stderr


def _count(db_url: str, table: str) -> int:
    with Database(db_url).engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()


def test_examples_validate(cli):
    r = cli("journeys", "validate", str(EXAMPLES))
    assert r.code == 0, r.stderr
    assert "2 journey file(s) valid" in r.stderr


def test_import_plan_dry_run_then_apply(cli, db_url):
    _setup(cli)
    r = cli("-t", "entrylab", "journeys", "import", str(EXAMPLES), "--dry-run", "--json")
    assert r.code == 0, r.stderr
    assert {c["journey"]: c["action"] for c in r.json()} == {"welcome": "add", "vip-welcome": "add"}
    assert _count(db_url, "journeys") == 0
    r = cli("-t", "entrylab", "journeys", "import", str(EXAMPLES))
    assert r.code == 0 and "Imported: 2 add" in r.stderr
    listed = cli("-t", "entrylab", "journeys", "list", "--json").json()
    assert [j["journey"] for j in listed] == ["vip-welcome", "welcome"]
    assert _count(db_url, "journey_triggers") == 3
    r = cli("-t", "entrylab", "journeys", "import", str(EXAMPLES), "--json")
    assert {c["action"] for c in r.json()} == {"unchanged"}


def test_invalid_file_aborts_the_whole_import(cli, db_url, tmp_path):
    _setup(cli)
    src = tmp_path / "journeys"
    shutil.copytree(EXAMPLES, src)
    (src / "broken.yaml").write_text("journey: broken\nname: Broken\ntriggers:\n  - deep_link: broken\nsteps:\n"
                                     "  - id: a\n    type: shout\n    text: hi\n")
    r = cli("-t", "entrylab", "journeys", "import", str(src))
    assert r.code == 2
    assert f"{src / 'broken.yaml'}:7:" in r.stderr and "Nothing was imported" in r.stderr
    assert _count(db_url, "journeys") == 0


def test_changes_are_planned_per_step_and_prune_removes(cli, tmp_path):
    _setup(cli)
    src = tmp_path / "journeys"
    shutil.copytree(EXAMPLES, src)
    assert cli("-t", "entrylab", "journeys", "import", str(src)).code == 0
    welcome = src / "welcome.yaml"
    welcome.write_text(welcome.read_text().replace("duration: 10m", "duration: 15m"))
    (src / "vip-welcome.yaml").unlink()
    r = cli("-t", "entrylab", "journeys", "import", str(src), "--prune", "--json")
    assert r.code == 0, r.stderr
    plan = {c["journey"]: c for c in r.json()}
    assert plan["welcome"]["action"] == "change" and plan["welcome"]["steps"]["changed"] == ["pause"]
    assert plan["vip-welcome"]["action"] == "remove"
    assert [j["journey"] for j in cli("-t", "entrylab", "journeys", "list", "--json").json()] == ["welcome"]


def test_export_import_export_is_byte_identical(cli, tmp_path):
    _setup(cli)
    assert cli("-t", "entrylab", "journeys", "import", str(EXAMPLES)).code == 0
    first, second = tmp_path / "first", tmp_path / "second"
    assert cli("-t", "entrylab", "journeys", "export", "--out", str(first)).code == 0
    assert cli("tenants", "add", "other").code == 0
    assert cli("-t", "other", "journeys", "import", str(first)).code == 0
    assert cli("-t", "other", "journeys", "export", "--out", str(second)).code == 0
    names = sorted(p.name for p in first.iterdir())
    assert names == ["vip-welcome.yaml", "welcome.yaml"]
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes()
    r = cli("-t", "entrylab", "journeys", "export", "welcome")
    assert r.code == 0 and r.stdout == (first / "welcome.yaml").read_text()


def test_deep_link_codes_stay_unique_among_active_journeys(cli, db_url, tmp_path):
    _setup(cli)
    assert cli("-t", "entrylab", "journeys", "import", str(EXAMPLES / "welcome.yaml")).code == 0
    clash = tmp_path / "promo.yaml"
    clash.write_text("journey: promo\nname: Promo\nstatus: active\ntriggers:\n  - deep_link: welcome\n"
                     "steps:\n  - id: a\n    type: message\n    text: hi\n")
    r = cli("-t", "entrylab", "journeys", "import", str(clash))
    assert r.code == 2 and "deep link 'welcome' already starts active journey 'welcome'" in r.stderr
    assert _count(db_url, "journeys") == 1
    # a draft may share the code; moving the code between journeys in one import works
    clash.write_text(clash.read_text().replace("status: active", "status: draft"))
    assert cli("-t", "entrylab", "journeys", "import", str(clash)).code == 0
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "welcome.yaml").write_text((EXAMPLES / "welcome.yaml").read_text().replace("deep_link: welcome", "deep_link: hello"))
    (moved / "promo.yaml").write_text(clash.read_text().replace("status: draft", "status: active"))
    r = cli("-t", "entrylab", "journeys", "import", str(moved))
    assert r.code == 0, r.stderr


def test_link_show_delete_schema(cli):
    _setup(cli)
    assert cli("-t", "entrylab", "journeys", "import", str(EXAMPLES)).code == 0
    r = cli("-t", "entrylab", "journeys", "link", "welcome")
    assert r.code == 0 and r.stdout.strip() == "https://t.me/entrylab_helper_bot?start=welcome"
    r = cli("-t", "entrylab", "journeys", "link", "vip-welcome")
    assert r.code == 2 and "no deep_link trigger" in r.stderr
    shown = cli("-t", "entrylab", "journeys", "show", "welcome", "--json").json()
    assert [s["id"] for s in shown["steps"]] == ["hello", "pause", "experience", "offer", "maybe-later", "no-thanks", "vip"]
    stats = cli("-t", "entrylab", "journeys", "stats", "welcome", "--json").json()
    assert stats["started"] == 0 and [x["step"] for x in stats["steps"]][0] == "hello"
    assert cli("-t", "entrylab", "journeys", "sessions", "welcome", "--json").json() == []
    assert cli("-t", "entrylab", "journeys", "stats", "welcome").code == 0
    assert cli("-t", "entrylab", "journeys", "delete", "welcome", "--yes").code == 0
    r = cli("-t", "entrylab", "journeys", "show", "welcome")
    assert r.code == 2 and "No journey 'welcome'" in r.stderr
    schema = cli("journeys", "schema").json()
    assert "$schema" in schema


def test_link_needs_the_bots_username(cli):
    assert cli("tenants", "add", "entrylab").code == 0
    assert cli("-t", "entrylab", "connections", "set", "message_bot", "--no-validate",
               "--token", "7000000002:AAFmessagemessagemessagemessage0002").code == 0
    assert cli("-t", "entrylab", "journeys", "import", str(EXAMPLES)).code == 0
    r = cli("-t", "entrylab", "journeys", "link", "welcome")
    assert r.code == 2 and "username is unknown" in r.stderr
