"""``promostack secrets``: key rotation for the secrets stored encrypted (tokens, webhook and Stripe secrets).

The old key is never taken from the command line (argv shows in ``ps`` and shell history): it comes
from ``PROMOSTACK_SECRET_KEY_OLD``, from ``--old-key-file FILE`` (``-`` reads stdin), or from a hidden
prompt on a terminal.
"""

from typing import Optional

import typer

from promostack_cli import context as ctx
from promostack_cli.system.domain import DOMAIN

app = typer.Typer(help=DOMAIN.commands[2].help, no_args_is_help=True)


def _read_old_keys(old_key_file: Optional[str]) -> list[str]:
    import sys

    from promostack_cli.core.errors import ValidationError
    from promostack_cli.core.secrets import split_keys

    if old_key_file == "-":
        return split_keys(sys.stdin.read())
    if old_key_file:
        try:
            with open(old_key_file, encoding="utf-8") as fh:
                return split_keys(fh.read())
        except OSError as exc:
            raise ValidationError(f"--old-key-file {old_key_file}: {exc.strerror or exc}.") from None
    if sys.stdin.isatty() and sys.stderr.isatty():
        return split_keys(typer.prompt("Old PROMOSTACK_SECRET_KEY", hide_input=True, err=True))
    return []


@app.command("rotate")
def rotate(
    old_key_file: Optional[str] = typer.Option(None, "--old-key-file", metavar="FILE",
                                               help="File holding the old key ('-': read it from stdin)"),
    old_key: Optional[str] = typer.Option(None, "--old-key", hidden=True),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check that every secret can be read; change nothing"),
    json_: bool = typer.Option(False, "--json", help="JSON output"),
) -> None:
    """Re-encrypt every stored secret (bot tokens, webhook secrets, Stripe keys and secrets) under the
    current PROMOSTACK_SECRET_KEY, in one transaction: all or nothing.

    Without downtime: set the new key in PROMOSTACK_SECRET_KEY and the old one in
    PROMOSTACK_SECRET_KEY_OLD everywhere (receivers and ticks then read both), run this once, then
    drop PROMOSTACK_SECRET_KEY_OLD. The old key comes from PROMOSTACK_SECRET_KEY_OLD, --old-key-file
    FILE ('-' for stdin) or a hidden prompt; never from the command line, where ps would show it.
    Example: promostack secrets rotate --old-key-file - < old.key
    """
    from promostack_cli.core.errors import ValidationError
    from promostack_cli.system.rotation import rotate as do_rotate

    if old_key is not None:
        raise ValidationError("The old key is not taken from the command line (ps and shell history show it): "
                              "use PROMOSTACK_SECRET_KEY_OLD, --old-key-file FILE, --old-key-file - (stdin) or the prompt.")
    db = ctx.open_db()
    box = ctx.secret_box()
    extra = _read_old_keys(old_key_file)
    if extra:
        box = box.with_old_keys(extra)
    if not box.has_old_keys:
        raise ValidationError("No old key given: set PROMOSTACK_SECRET_KEY_OLD, pass --old-key-file FILE "
                              "(or - for stdin), or run on a terminal to be asked.")
    report = do_rotate(db, box, dry_run=dry_run)
    if ctx.want_json(json_):
        ctx.emit_json({**report.as_dict(), "dry_run": dry_run})
    tables = ", ".join(f"{n} {name}" for name, n in report.by_table.items() if n) or "no rows"
    if dry_run:
        ctx.success(f"Dry run: {report.rotated} secret(s) would be re-encrypted ({tables}); "
                    f"{report.current} already under the current key. Nothing was changed.")
        return
    ctx.success(f"Re-encrypted {report.rotated} secret(s) under the current key ({tables}); "
                f"{report.current} were already under it.")
    ctx.info("Next: remove PROMOSTACK_SECRET_KEY_OLD from the environment once every process runs with the new key.")
