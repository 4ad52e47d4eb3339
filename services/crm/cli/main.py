"""`crm`: operate the SmartGrowth CRM pipeline. Each module of `crm.cli` owns its `typer.Typer()`;
this one only adds them, with the global options and the one error handler (`crm.cli.errors`)."""

import logging
from importlib.metadata import PackageNotFoundError, version

import typer

from crm.cli.alerts import alerts_app
from crm.cli.commands import db_app, infra_app, projector_app, schemas_app, stack_app
from crm.cli.errors import CrmGroup
from crm.cli.gateway import gateway_app
from crm.cli.imports import import_app
from crm.cli.programmes import programme_app
from crm.cli.projections import dlq_app, projections_app, status_app
from crm.cli.query import query_app
from crm.cli.reports import report_app
from crm.cli.sql import sql_app
from crm.cli.tokens import tokens_app

PACKAGE = "smartgrowth-crm"

app = typer.Typer(
    cls=CrmGroup,
    help="SmartGrowth CRM: events in, per-partner read models out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def package_version() -> str:
    try:
        return version(PACKAGE)
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"crm {package_version()}")
        raise typer.Exit()


@app.callback()
def crm(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="On an error, show the traceback too."),
    show_version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """SmartGrowth CRM: events in, per-partner read models out.

    Kafka and PostgreSQL are the `CRM_*` settings' or, where those are unset, the stack that
    `crm up` runs (its `.crm/stack.json`). Exit codes: 0 done, 1 failed, 2 usage, 3 Kafka or
    PostgreSQL unreachable (docs/cli.md).
    """
    root = logging.getLogger()
    if not verbose and not root.handlers:
        # Libraries' own warnings (aiokafka's "Unable connect to ...") would add lines to the one
        # that `crm.cli.errors` prints; a service's configure_logging replaces this handler.
        root.addHandler(logging.NullHandler())


for sub_app, name in (
    (stack_app, None),
    (status_app, None),
    (import_app, None),
    (tokens_app, "tokens"),
    (programme_app, "programme"),
    (report_app, "report"),
    (alerts_app, "alerts"),
    (dlq_app, "dlq"),
    (projections_app, "projections"),
    (sql_app, "sql"),
    (gateway_app, "gateway"),
    (query_app, "query"),
    (projector_app, "projector"),
    (db_app, "db"),
    (infra_app, "infra"),
    (schemas_app, "schemas"),
):
    app.add_typer(sub_app, name=name)


def main() -> None:
    app(prog_name="crm")


if __name__ == "__main__":
    main()
