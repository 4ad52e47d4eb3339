"""`crm query run`."""

import typer

from crm.cli.settings import cli_settings, require_database

query_app = typer.Typer(help="The query API and dashboard (GET /v1/..., /).", no_args_is_help=True)


@query_app.command("run")
def query_run() -> None:
    """Serve the query API and dashboard on CRM_BIND_HOST:CRM_QUERY_PORT (on the PostgreSQL of
    the settings, or of `crm up`)."""
    from crm.query.bootstrap import run_query

    settings = cli_settings()
    require_database(settings)
    run_query(settings)
