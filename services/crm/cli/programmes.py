"""`crm programme apply FILE | show [ID]`: programme definitions (docs/programmes.md)."""

import getpass
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer

from crm.cli.database import with_engine
from crm.cli.errors import fail
from crm.programmes.store import ProgrammeStore

T = TypeVar("T")

programme_app = typer.Typer(help="Programme definitions: partners, periods, indicators.", no_args_is_help=True)


def _with_store(action: Callable[[ProgrammeStore], Awaitable[T]]) -> T:
    return with_engine(lambda engine: action(ProgrammeStore(engine)), holding="the programmes")


@programme_app.command("apply")
def programme_apply(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The programme definition (TOML)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and show the changes; store nothing."),
    applied_by: str | None = typer.Option(None, "--by", help="Who applies it, as stored (default: the login name)."),
) -> None:
    """Validate FILE, show what changes against the stored version, and store it as the next version."""
    from crm.programmes.changes import changes
    from crm.programmes.loading import ProgrammeFileError, load_programme

    try:
        programme = load_programme(file)
    except ProgrammeFileError as error:
        typer.secho(f"{len(error.problems)} problem(s); nothing was stored:", err=True, fg="red")
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None

    async def apply(store: ProgrammeStore) -> None:
        stored = await store.current(programme.id)
        lines = changes(None if stored is None else stored.programme, programme)
        for line in lines or ["no change"]:
            typer.echo(line)
        if dry_run:
            typer.secho("dry run: nothing stored", err=True)
            return
        applied = await store.apply(programme, applied_by or _login_name())
        verb = "stored as version" if applied.changed else "unchanged: still version"
        typer.secho(f"programme {programme.id} {verb} {applied.version}", err=True)

    _with_store(apply)


def _login_name() -> str | None:
    """The login name (`getpass.getuser`), None when neither the environment nor the password
    database has one (a container's arbitrary uid)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


@programme_app.command("show")
def programme_show(
    programme_id: str | None = typer.Argument(None, help="A programme id; none lists every programme."),
    version: int | None = typer.Option(None, "--version", min=1, help="A past version (default: the current)."),
    as_json: bool = typer.Option(
        False, "--json", help="One JSON document: the stored definition, or without ID an array of the programmes."
    ),
) -> None:
    """List the programmes, or show one: partners, periods and indicators."""
    from rich.console import Console

    from crm.cli.programme_tables import print_programme, print_programmes

    if programme_id is None:
        listed = _with_store(lambda store: store.all_current())
        if as_json:
            rows = [{"id": s.programme.id, "version": s.version, "name": s.programme.name} for s in listed]
            typer.echo(json.dumps(rows, ensure_ascii=False))
            return
        print_programmes(Console(), listed)
        return
    stored = _with_store(lambda store: store.current(programme_id, version))
    if stored is None:
        wanted = f"programme {programme_id}" + (f" version {version}" if version else "")
        raise fail(f"no {wanted} is stored (crm programme apply FILE stores one)")
    if as_json:
        typer.echo(
            json.dumps(stored.programme.model_dump(mode="json") | {"version": stored.version}, ensure_ascii=False)
        )
        return
    print_programme(Console(), stored)
