"""`crm`: operate the SmartGrowth CRM pipeline. Each sub-command builds its own Settings."""

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import typer

from crm.infra.errors import InfrastructureError

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(help="SmartGrowth CRM: events in, per-partner read models out.", no_args_is_help=True)
schemas_app = typer.Typer(help="The generated contract files under schemas/.", no_args_is_help=True)
projector_app = typer.Typer(help="The projector service.", no_args_is_help=True)
db_app = typer.Typer(help="The read-model database.", no_args_is_help=True)
infra_app = typer.Typer(help="The embedded Kafka and PostgreSQL.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")
app.add_typer(projector_app, name="projector")
app.add_typer(db_app, name="db")
app.add_typer(infra_app, name="infra")


def friendly_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Show infrastructure problems as one clear message and exit 2, not a traceback."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except InfrastructureError as error:
            typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
            raise typer.Exit(2) from None

    return wrapper


def register_commands() -> None:
    """Import the modules that add sub-commands to `app` (kept out of import time)."""
    from crm.cli import (  # noqa: F401
        alerts,
        commands,
        gateway,
        imports,
        programmes,
        projections,
        query,
        reports,
        sql,
        tokens,
    )


def main() -> None:
    register_commands()
    app(prog_name="crm")


if __name__ == "__main__":
    main()
