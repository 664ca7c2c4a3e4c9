"""docs/cli.md is every command's --help as the code prints it today (regenerate: ./dev docs)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_reference_holds_every_command():
    text = (ROOT / "docs" / "cli.md").read_text()
    for command in ("promostack scheduler tick", "promostack journeys import", "promostack connections set",
                    "promostack forex check", "promostack webhook serve", "promostack outbox retry"):
        assert f"`{command}`" in text, command


def test_every_package_directory_is_installed():
    """pyproject lists packages by name: a new subpackage left out would be missing from a wheel."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "promostack_cli").rglob("__init__.py")
             if "__pycache__" not in p.parts}
    assert found - listed == set()
