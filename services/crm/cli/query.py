"""`crm query run`."""

import typer

from crm.cli.main import app, friendly_errors
from crm.settings import Settings

query_app = typer.Typer(help="The query API and dashboard (GET /v1/..., /).", no_args_is_help=True)
app.add_typer(query_app, name="query")


@query_app.command("run")
@friendly_errors
def query_run() -> None:
    """Serve the query API and dashboard on CRM_BIND_HOST:CRM_QUERY_PORT (needs CRM_DATABASE_URL)."""
    from crm.query.bootstrap import run_query

    run_query(Settings())
